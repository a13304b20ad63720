// Browser tests of the console in headless Chromium (Debian's, driven by playwright-core)
// against a real Pharos on port 0 fed by `pharos demo`: every page loads without console
// errors (a screenshot of each is saved), the explorer draws as many series as the API
// returns, the logs page shows the lines LogQL returns, an alert is silenced from the UI and the silence is in the API, an incident is
// acknowledged from the UI and its timeline shows it, and the language switch changes the
// labels.
//
//   PHAROS_BINARY=build/release/pharos node --test web/tests/console.test.mjs
// Screenshots go to $PHAROS_SCREENSHOTS (default build/console-screenshots).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const root = resolve(new URL("../..", import.meta.url).pathname);
const binary = process.env.PHAROS_BINARY || join(root, "build/release/pharos");
const shots = process.env.PHAROS_SCREENSHOTS || join(root, "build/console-screenshots");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

let server;
let browser;
let base;
let dir;

const RULES = `groups:
- name: demo
  interval: 1s
  rules:
  - alert: DemoPaymentErrors
    expr: sum by (job) (rate(http_requests_total{job="payment",status="500"}[5m])) > 0
    labels: {severity: critical}
    annotations: {summary: "payment fails {{ $value | humanize }} requests/s"}
  - alert: DemoCartBusy
    expr: sum by (job) (rate(http_requests_total{job="cart"}[5m])) > 0
    labels: {severity: warning}
  - record: job:http_requests:rate5m
    expr: sum by (job) (rate(http_requests_total[5m]))
`;

async function waitFor(fn, what, ms = 20000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}

async function api(path, init) {
  const res = await fetch(base + path, init);
  const body = await res.json();
  return body && body.status === "success" ? body.data : body;
}

before(async () => {
  if (!existsSync(binary)) throw new Error(`${binary} not found (set PHAROS_BINARY)`);
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} not found (scripts/install-deps installs chromium)`);
  mkdirSync(shots, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), "pharos-console-"));
  writeFileSync(join(dir, "rules.yaml"), RULES);
  writeFileSync(join(dir, "pharos.yaml"), `global:
  evaluation_interval: 1s
  scrape_self: true
  self_scrape_interval: 1s
rule_files: [rules.yaml]
alerting:
  route: {receiver: team, group_by: [alertname], group_wait: 1s, group_interval: 1s}
  receivers: [{name: team}]
`);
  server = spawn(binary, ["serve", "--config", join(dir, "pharos.yaml"), "--listen", "127.0.0.1:0",
    "--port-file", join(dir, "port"), "--data", join(dir, "data"), "--set", "otlp.listen=127.0.0.1:0", "--set", "otlp.grpc_listen=127.0.0.1:0",
    "--log-level", "warn"], { stdio: ["ignore", "inherit", "inherit"] });
  const port = await waitFor(() => existsSync(join(dir, "port")) && readFileSync(join(dir, "port"), "utf8").trim(), "the port file");
  base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, "readiness");
  const demo = spawnSync(binary, ["demo", "--once", "--backfill", "30m", "--interval", "15s",
    "--url", `${base}/v1/metrics`], { encoding: "utf8" });
  assert.equal(demo.status, 0, demo.stderr);
  await waitFor(async () => (await api("/api/v1/incidents")).length > 0, "an incident from the demo's alerts");
  // Log lines over the last half hour for the logs page.
  const nowNs = BigInt(Date.now()) * 1000000n;
  const values = [];
  for (let i = 0; i < 60; i++) {
    const level = i % 10 === 0 ? "error" : "info";
    values.push([String(nowNs - BigInt(i) * 30000000000n),
      `level=${level} msg="checkout done" order=o-${i} took=${i % 7}ms`]);
  }
  const push = await fetch(`${base}/loki/api/v1/push`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ streams: [{ stream: { service_name: "shop", env: "demo" }, values }] }),
  });
  assert.equal(push.status, 204, await push.text());
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open(path, { lang = "en" } = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  await context.addInitScript((l) => {
    if (!localStorage.getItem("pharos.lang")) localStorage.setItem("pharos.lang", l);
    if (!localStorage.getItem("pharos.user")) localStorage.setItem("pharos.user", "console-test");
  }, lang);
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/#${path}`);
  return { page, errors, context };
}

test("every page loads without console errors", async () => {
  const incidents = await api("/api/v1/incidents");
  const pages = [
    ["explore", "/explore?q=%5B%22sum%20by%20(job)%20(rate(http_requests_total%5B5m%5D))%22%5D&range=1h&tab=graph", ".chart canvas"],
    ["explore-table", "/explore?q=%5B%22up%22%5D&tab=table", "table.data"],
    ["alerts", "/alerts", ".alert-row"],
    ["rules", "/alerts?tab=rules", "table.data"],
    ["silences", "/alerts?tab=silences", "button.primary"],
    ["history", "/alerts?tab=history", "table.data tbody tr"],
    ["incidents", "/incidents", "tr.incident"],
    ["incident", `/incidents/${incidents[0].id}`, ".timeline li"],
    ["status", "/status", "table.kv"],
    ["logs", "/logs?q=%7Bservice_name%3D%22shop%22%7D&range=1h", ".log-lines li"],
    ["traces", "/traces?service=payment&lookback=1h", "tr.trace-row"],
    ["service-map", "/traces?tab=map", "svg.service-map .node"],
  ];
  for (const [name, path, selector] of pages) {
    const { page, errors, context } = await open(path);
    await page.waitForSelector(selector, { timeout: 15000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
    assert.deepEqual(errors, [], `console errors on ${name}`);
    await context.close();
  }
  // Dark theme and Chinese, once, for the record.
  const { page, context } = await open("/incidents", { lang: "zh" });
  await page.evaluate(() => localStorage.setItem("pharos.theme", "dark"));
  await page.reload();
  await page.waitForSelector("tr.incident");
  await page.screenshot({ path: join(shots, "incidents-zh-dark.png"), fullPage: true });
  await context.close();
});

test("the explorer draws as many series as the API returns", async () => {
  const q = "sum by (job, route) (rate(http_requests_total[5m]))";
  const now = Date.now() / 1000;
  const data = await api(`/api/v1/query_range?query=${encodeURIComponent(q)}&start=${now - 3600}&end=${now}&step=15`);
  assert.ok(data.result.length > 5, `the demo sends several routes (got ${data.result.length})`);
  const { page, context } = await open(`/explore?q=${encodeURIComponent(JSON.stringify([q]))}&range=1h&step=15&tab=graph`);
  const drawn = await page.waitForSelector(".chart[data-series]");
  assert.equal(Number(await drawn.getAttribute("data-series")), data.result.length);
  // uPlot's legend: one row per series plus the time column.
  assert.equal(await page.locator(".u-legend .u-series").count(), data.result.length + 1);
  // Toggling a series off from the legend.
  await page.locator(".u-legend .u-series").nth(1).click();
  assert.equal(await page.locator(".u-legend .u-series.u-off").count(), 1);
  await context.close();

  // An absolute range from the URL (start and end), kept in the URL as it runs.
  const start = Math.round(now - 1800);
  const end = Math.round(now - 600);
  const abs = await api(`/api/v1/query_range?query=${encodeURIComponent(q)}&start=${start}&end=${end}&step=15`);
  const second = await open(`/explore?q=${encodeURIComponent(JSON.stringify([q]))}&start=${start}&end=${end}&step=15&tab=graph`);
  const chart = await second.page.waitForSelector(".chart[data-series]");
  assert.equal(Number(await chart.getAttribute("data-series")), abs.result.length);
  assert.ok(second.page.url().includes(`start=${start}`), second.page.url());
  await second.context.close();
});

test("the logs page shows the lines and the volume LogQL returns", async () => {
  const q = '{service_name="shop"} | logfmt | level="error"';
  const now = Date.now() / 1000;
  const data = await api(`/loki/api/v1/query_range?query=${encodeURIComponent(q)}&start=${now - 3600}&end=${now}&limit=100`);
  const expected = data.result.reduce((n, s) => n + s.values.length, 0);
  assert.equal(expected, 6, "every tenth of the 60 pushed lines is an error");
  const { page, errors, context } = await open(`/logs?q=${encodeURIComponent(q)}&range=1h`);
  const list = await page.waitForSelector(".log-lines[data-lines]");
  assert.equal(Number(await list.getAttribute("data-lines")), expected);
  assert.equal(await page.locator(".log-lines li").count(), expected);
  await page.waitForSelector(".chart canvas");  // the volume over the range, by level
  assert.equal(await page.locator(".chart").getAttribute("data-series"), "1");
  assert.match(await page.locator(".chart .u-legend").innerText(), /error/);
  // Newest first, and a line opens to show its labels (stream and parsed).
  const first = page.locator(".log-lines li").first();
  assert.match(await first.locator("code").innerText(), /order=o-0 /);
  assert.equal(await first.getAttribute("data-level"), "error");
  await first.click();
  assert.equal(await first.locator("dt", { hasText: "service_name" }).count(), 1);
  // logfmt's labels are shown as parsed, apart from the stream's.
  assert.equal(await first.locator("dt", { hasText: /^order$/ }).count(), 1);
  // Its context: the lines before and after it in its stream, itself marked.
  await first.getByRole("button", { name: "Show context" }).click();
  const around = first.locator(".log-context li");
  await around.first().waitFor();
  assert.equal(await around.count(), 11, "o-0 is the newest line: ten before it, none after");
  assert.match(await first.locator(".log-context li.self").innerText(), /order=o-0 /);
  assert.match(await around.nth(9).innerText(), /order=o-1 /);
  // A query typed in and run with Enter goes to the URL.
  const box = page.getByLabel("LogQL query");
  await box.fill('{service_name="shop"} |= "order=o-1"');
  await box.press("Enter");
  await page.waitForFunction(() => document.querySelector(".log-lines")?.getAttribute("data-lines") === "11");
  const kept = new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("q");
  assert.equal(kept, '{service_name="shop"} |= "order=o-1"');
  // Completion of label values from Loki's API, of pipeline stages after a pipe, and the
  // server's parse error with a caret under its column.
  await box.fill('{service_name="sh');
  await page.getByRole("option", { name: /shop/ }).waitFor();
  await box.fill('{service_name="shop"} | log');
  await page.getByRole("option", { name: /logfmt/ }).waitFor();
  await box.press("Tab");
  assert.equal(await box.inputValue(), '{service_name="shop"} | logfmt');
  await box.fill('{service_name="shop"} |= ');
  const problem = page.locator(".query-error");
  await problem.waitFor();
  assert.match(await problem.innerText(), /parse error/);
  assert.equal(await problem.locator(".caret").count(), 1);
  await box.fill('{service_name="shop"}');
  await problem.waitFor({ state: "detached" });
  // The broken query's check answered 400 on purpose; nothing else failed.
  assert.deepEqual(errors.filter((e) => !e.includes("status of 400")), []);
  await context.close();
});

test("live tail shows the query's recent lines, then new ones on top as they are pushed", async () => {
  const q = '{service_name="shop"} |= "checkout"';
  const { page, errors, context } = await open(`/logs?q=${encodeURIComponent(q)}&range=1h`);
  await page.waitForSelector(".log-lines[data-lines]");
  // Without a parser the levels are those detected at ingest: error and info bars.
  await page.waitForSelector('.chart[data-series="2"]');
  const legend = await page.locator(".chart .u-legend").innerText();
  assert.ok(legend.indexOf("error") >= 0 && legend.indexOf("error") < legend.indexOf("info"), legend);
  await page.getByRole("button", { name: "Live" }).click();
  // The history first: the 60 pushed lines, newest on top.
  await page.waitForFunction(() => document.querySelector(".live .log-lines")?.getAttribute("data-lines") === "60");
  assert.match(await page.locator(".live .log-lines li code").first().innerText(), /order=o-0 /);
  const pushed = await fetch(`${base}/loki/api/v1/push`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ streams: [{ stream: { service_name: "shop", env: "demo" },
      values: [[String(BigInt(Date.now()) * 1000000n), 'level=info msg="checkout done" order=o-live']] }] }),
  });
  assert.equal(pushed.status, 204);
  await page.waitForFunction(() => document.querySelector(".live .log-lines")?.getAttribute("data-lines") === "61");
  assert.match(await page.locator(".live .log-lines li code").first().innerText(), /order=o-live/);
  assert.match(await page.getByRole("status").innerText(), /61 lines/);
  await page.getByRole("button", { name: "Stop" }).click();
  await page.waitForSelector(".live", { state: "detached" });
  assert.deepEqual(errors, []);
  await context.close();
});

test("a line's trace id links to the lines of that trace in every stream", async () => {
  const trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const ns = (ago) => String(BigInt(Date.now() - ago * 1000) * 1000000n);
  const pushed = await fetch(`${base}/loki/api/v1/push`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ streams: [
      { stream: { service_name: "gateway" }, values: [[ns(5), "POST /pay 502", { trace_id: trace }]] },
      { stream: { service_name: "payments" }, values: [[ns(4), "card declined", { trace_id: trace }],
        [ns(3), "unrelated", { trace_id: "00000000000000000000000000000001" }]] },
    ] }),
  });
  assert.equal(pushed.status, 204);
  const { page, errors, context } = await open(`/logs?q=${encodeURIComponent('{service_name="gateway"}')}&range=1h`);
  const line = page.locator(".log-lines li").first();
  await line.click();
  await line.getByRole("link", { name: `Lines of trace ${trace}` }).click();
  await page.waitForFunction(() => document.querySelector(".log-lines")?.getAttribute("data-lines") === "2");
  const texts = await page.locator(".log-lines li code").allInnerTexts();
  assert.deepEqual(texts, ["card declined", "POST /pay 502"]);
  assert.equal(await page.getByLabel("LogQL query").inputValue(), `{service_name=~".+"} | trace_id="${trace}"`);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the traces page finds a service's traces and opens one as a waterfall", async () => {
  const nowUs = Date.now() * 1000;
  const found = await api(`/api/traces?service=checkout&limit=20&start=${nowUs - 3.6e9}&end=${nowUs}`);
  assert.ok(found.data.length > 0, "the demo sends checkout traces");
  const { page, errors, context } = await open("/traces");
  await page.getByTestId("service").selectOption("checkout");
  await page.getByTestId("find").click();
  await page.waitForSelector("tr.trace-row");
  assert.equal(await page.locator("tr.trace-row").count(), found.data.length);
  assert.ok(page.url().includes("service=checkout"), page.url());
  // The first result as a waterfall: a row per span, a span's details on a click.
  await page.locator("tr.trace-row a").first().click();
  const waterfall = await page.waitForSelector(".waterfall[data-spans]");
  const id = page.url().split("/traces/")[1];
  const trace = (await api(`/api/traces/${id}`)).data[0];
  assert.equal(Number(await waterfall.getAttribute("data-spans")), trace.spans.length);
  await page.locator(".span-row").last().click();
  const details = page.getByTestId("span-details");
  await details.waitFor();
  assert.match(await details.innerText(), /db\.system|http\.route/);
  await page.screenshot({ path: join(shots, "trace.png"), fullPage: true });
  // Collapsing the root hides every other row.
  await page.locator(".span-row").first().locator("button.toggle").click();
  await page.waitForFunction(() => document.querySelector(".waterfall")?.getAttribute("data-spans") === "1");
  assert.match(await page.getByTestId("trace-logs").getAttribute("href"), new RegExp(`trace_id%3D%22${id}`));
  // TraceQL instead of the fields.
  await page.goto(`${base}/#/traces`);
  await page.getByTestId("traceql").fill('{ resource.service.name = "inventory" && kind = server }');
  await page.getByTestId("find").click();
  await page.waitForSelector("tr.trace-row");
  assert.match(await page.locator("tr.trace-row").first().innerText(), /inventory/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the service map draws the service graph's calls", async () => {
  const deps = (await api(`/api/dependencies?endTs=${Date.now()}&lookback=3600000`)).data;
  const services = new Set(deps.flatMap((d) => [d.parent, d.child]));
  assert.ok(services.has("payment"), JSON.stringify(deps));
  const { page, errors, context } = await open("/traces?tab=map");
  await page.waitForSelector("svg.service-map .node");
  assert.equal(await page.locator("svg.service-map .node").count(), services.size);
  assert.equal(await page.locator("svg.service-map .edge").count(), deps.length);
  assert.equal(await page.locator("table.edges tbody tr").count(), deps.length);
  assert.deepEqual(errors, []);
  await context.close();
});

test("an alert is silenced from the UI and the silence is in the API", async () => {
  const { page, context } = await open("/alerts");
  const row = page.locator(".alert-row", { hasText: "DemoCartBusy" }).first();
  await row.waitFor();
  // Escape closes the form without creating anything; then create one for real.
  await row.getByRole("button", { name: "Silence" }).click();
  await page.keyboard.press("Escape");
  await page.waitForSelector("form.modal", { state: "detached" });
  await row.getByRole("button", { name: "Silence" }).click();
  await page.fill("textarea[name=comment]", "silenced by the console test");
  await page.getByRole("button", { name: "Create silence" }).click();
  await page.waitForSelector("form.modal", { state: "detached" });
  const silences = await api("/api/v2/silences");
  const mine = silences.find((s) => s.comment === "silenced by the console test");
  assert.ok(mine, JSON.stringify(silences));
  assert.equal(mine.status.state, "active");
  assert.equal(mine.createdBy, "console-test");
  assert.ok(mine.matchers.some((m) => m.name === "alertname" && m.value === "DemoCartBusy"));
  await waitFor(async () => {
    const alerts = await api("/api/v2/alerts?filter=alertname%3D%22DemoCartBusy%22");
    return alerts.length && alerts[0].status.silencedBy.includes(mine.id);
  }, "the alert to be silenced");
  await context.close();
});

test("an incident is acknowledged from the UI and its timeline shows it", async () => {
  const [incident] = await api("/api/v1/incidents?state=triggered");
  assert.ok(incident, "a triggered incident");
  const { page, context } = await open(`/incidents/${incident.id}`);
  await page.getByRole("button", { name: "Acknowledge" }).click();
  await page.waitForSelector(".page.incident[data-state=acknowledged]");
  await page.waitForSelector(".timeline li.ev-state");
  const after = await api(`/api/v1/incidents/${incident.id}`);
  assert.equal(after.state, "acknowledged");
  assert.equal(after.acknowledgedBy, "console-test");
  assert.ok(after.timeline.some((e) => e.kind === "state" && e.text.includes("acknowledged")));
  await page.screenshot({ path: join(shots, "incident-acknowledged.png"), fullPage: true });
  await context.close();
});

test("the language switch changes the labels", async () => {
  const { page, context } = await open("/incidents");
  await page.waitForSelector("tr.incident");
  assert.equal(await page.locator("nav a.active").textContent(), "Incidents");
  await page.getByTestId("lang").click();
  assert.equal(await page.locator("nav a.active").textContent(), "事件");
  assert.ok(await page.getByRole("button", { name: "创建事件" }).isVisible());
  await page.screenshot({ path: join(shots, "incidents-zh.png"), fullPage: true });
  await page.getByTestId("lang").click();
  assert.equal(await page.locator("nav a.active").textContent(), "Incidents");
  await context.close();
});

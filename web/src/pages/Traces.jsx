// Traces: search by service, operation, tags, duration and time (Jaeger's API) or with
// TraceQL (Tempo's); a trace as a waterfall (span bars on the trace's time axis, a
// collapsible tree, each span's attributes, events, links and status, and the trace's log
// lines); the service map from the service graph with each edge's request rate, error
// ratio and p95 latency. Search state is kept in the URL.
import { useEffect, useState } from "preact/hooks";
import { api, prom } from "../api.js";
import { t } from "../i18n.js";
import { replaceParams, useLoad } from "../state.js";

const LOOKBACKS = ["15m", "1h", "6h", "24h", "7d"];
const LOOKBACK_US = { "15m": 9e8, "1h": 3.6e9, "6h": 2.16e10, "24h": 8.64e10, "7d": 6.048e11 };
const COLORS = ["#3b82f6", "#10b981", "#f59e0b", "#a855f7", "#ef4444", "#14b8a6", "#eab308", "#6366f1"];

function readState(params) {
  return {
    service: params.get("service") || "",
    operation: params.get("operation") || "",
    tags: params.get("tags") || "",
    minDuration: params.get("minDuration") || "",
    lookback: LOOKBACKS.includes(params.get("lookback")) ? params.get("lookback") : "1h",
    traceql: params.get("traceql") || "",
    tab: params.get("tab") === "map" ? "map" : "search",
  };
}

function writeState(s) {
  const p = new URLSearchParams();
  for (const k of ["service", "operation", "tags", "minDuration", "lookback", "traceql", "tab"])
    if (s[k]) p.set(k, s[k]);
  replaceParams("/traces", p);
}

// Jaeger's tags parameter from "key=value key2=value2" (values may be quoted).
function tagsJson(text) {
  const out = {};
  for (const m of text.matchAll(/([^\s=]+)=("([^"]*)"|\S+)/g)) out[m[1]] = m[3] !== undefined ? m[3] : m[2];
  return Object.keys(out).length ? JSON.stringify(out) : undefined;
}

export function formatDuration(us) {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

function colorOf(service, services) {
  return COLORS[Math.max(0, services.indexOf(service)) % COLORS.length];
}

// A Jaeger trace's summary: root, services, span and error counts, start and duration.
function summarize(trace) {
  const ids = new Set(trace.spans.map((s) => s.spanID));
  const roots = trace.spans.filter((s) => !s.references.some((r) => r.refType === "CHILD_OF" && ids.has(r.spanID)));
  const root = roots.sort((a, b) => a.startTime - b.startTime)[0] || trace.spans[0];
  const start = Math.min(...trace.spans.map((s) => s.startTime));
  const end = Math.max(...trace.spans.map((s) => s.startTime + s.duration));
  const errors = trace.spans.filter((s) => s.tags.some((tg) => tg.key === "error" && tg.value === true)).length;
  const services = [...new Set(trace.spans.map((s) => trace.processes[s.processID]?.serviceName))];
  return { root, rootService: trace.processes[root.processID]?.serviceName, start, duration: end - start, errors, services };
}

function SearchForm({ state, setState, onSearch }) {
  const [services, setServices] = useState([]);
  const [operations, setOperations] = useState([]);
  useEffect(() => { api("/api/services").then((r) => setServices(r.data || [])).catch(() => {}); }, []);
  useEffect(() => {
    if (!state.service) return setOperations([]);
    api(`/api/services/${encodeURIComponent(state.service)}/operations`)
      .then((r) => setOperations(r.data || [])).catch(() => setOperations([]));
  }, [state.service]);
  const set = (k) => (e) => setState({ ...state, [k]: e.target.value });
  return (
    <form class="trace-search card" onSubmit={(e) => { e.preventDefault(); onSearch(); }}>
      <label>{t("traces.service")}
        <select value={state.service} onChange={(e) => setState({ ...state, service: e.target.value, operation: "" })} data-testid="service">
          <option value="">{t("traces.choose")}</option>
          {services.map((s) => <option value={s}>{s}</option>)}
        </select>
      </label>
      <label>{t("traces.operation")}
        <select value={state.operation} onChange={set("operation")} data-testid="operation">
          <option value="">{t("traces.all")}</option>
          {operations.map((o) => <option value={o}>{o}</option>)}
        </select>
      </label>
      <label>{t("traces.tags")}
        <input value={state.tags} onInput={set("tags")} placeholder="http.response.status_code=500" />
      </label>
      <label>{t("traces.min_duration")}
        <input value={state.minDuration} onInput={set("minDuration")} placeholder="100ms" class="step" />
      </label>
      <label>{t("traces.lookback")}
        <select value={state.lookback} onChange={set("lookback")}>
          {LOOKBACKS.map((l) => <option value={l}>{l}</option>)}
        </select>
      </label>
      <label class="grow">{t("traces.traceql")}
        <input value={state.traceql} onInput={set("traceql")} placeholder='{ status = error && resource.service.name = "payment" }'
          data-testid="traceql" class="mono" />
      </label>
      <button type="submit" class="primary" data-testid="find">{t("traces.find")}</button>
    </form>
  );
}

function Results({ traces }) {
  if (!traces.length) return <p class="empty">{t("traces.none")}</p>;
  return (
    <table class="data trace-results">
      <thead><tr><th>{t("traces.trace")}</th><th>{t("traces.services")}</th><th>{t("traces.spans")}</th>
        <th>{t("traces.errors")}</th><th>{t("traces.duration")}</th><th>{t("traces.start")}</th></tr></thead>
      <tbody>
        {traces.map((tr) => {
          const s = summarize(tr);
          return (
            <tr class="trace-row">
              <td><a href={`#/traces/${tr.traceID}`}><b>{s.rootService}</b>: {s.root.operationName}</a>
                <div class="muted small mono">{tr.traceID}</div></td>
              <td>{s.services.join(", ")}</td>
              <td>{tr.spans.length}</td>
              <td class={s.errors ? "error" : ""}>{s.errors || ""}</td>
              <td>{formatDuration(s.duration)}</td>
              <td>{new Date(s.start / 1000).toLocaleString()}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

// The service map: services around a circle, an arrow per edge of the service graph with
// its calls; the table beside it has each edge's rate, error ratio and p95 from PromQL.
function ServiceMap() {
  const { result, error, loading, load } = useLoad();
  useEffect(() => {
    load(async () => {
      const deps = (await api("/api/dependencies", { params: { endTs: Date.now(), lookback: 3600000 } })).data || [];
      const red = {};
      const q = async (expr, key) => {
        for (const s of (await prom.query(expr)).result || []) {
          const id = `${s.metric.client}→${s.metric.server}`;
          red[id] = { ...(red[id] || {}), [key]: Number(s.value[1]) };
        }
      };
      await Promise.all([
        q("sum by (client, server) (rate(traces_service_graph_request_total[5m]))", "rate"),
        q("sum by (client, server) (rate(traces_service_graph_request_failed_total[5m])) / sum by (client, server) (rate(traces_service_graph_request_total[5m]))", "errors"),
        q("histogram_quantile(0.95, sum by (client, server, le) (rate(traces_service_graph_request_server_seconds_bucket[5m])))", "p95"),
      ]).catch(() => {});
      return { deps, red };
    });
  }, []);
  if (loading && !result) return <p class="loading">{t("common.loading")}</p>;
  if (error) return <p class="error">{error}</p>;
  if (!result || !result.deps.length) return <p class="empty">{t("traces.no_map")}</p>;
  const names = [...new Set(result.deps.flatMap((d) => [d.parent, d.child]))].sort();
  const size = 420, r = 160, c = size / 2;
  const pos = Object.fromEntries(names.map((n, i) => {
    const a = (2 * Math.PI * i) / names.length - Math.PI / 2;
    return [n, [c + r * Math.cos(a), c + r * Math.sin(a)]];
  }));
  return (
    <div class="columns">
      <svg class="service-map" width={size} height={size} viewBox={`0 0 ${size} ${size}`} role="img" aria-label={t("traces.map")}>
        <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="currentColor" /></marker></defs>
        {result.deps.map((d) => {
          const [x1, y1] = pos[d.parent], [x2, y2] = pos[d.child];
          const len = Math.hypot(x2 - x1, y2 - y1) || 1, k = 28 / len;
          const red = result.red[`${d.parent}→${d.child}`] || {};
          return (
            <g class="edge">
              <line x1={x1 + (x2 - x1) * k} y1={y1 + (y2 - y1) * k} x2={x2 - (x2 - x1) * k} y2={y2 - (y2 - y1) * k}
                stroke={red.errors > 0.05 ? "#ef4444" : "currentColor"} marker-end="url(#arrow)" />
              <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 4} class="small">{d.callCount}</text>
            </g>
          );
        })}
        {names.map((n) => (
          <g class="node" data-service={n}>
            <circle cx={pos[n][0]} cy={pos[n][1]} r="26" fill={colorOf(n, names)} />
            <text x={pos[n][0]} y={pos[n][1] + 42} text-anchor="middle">{n}</text>
          </g>
        ))}
      </svg>
      <table class="data grow edges">
        <thead><tr><th>{t("traces.client")}</th><th>{t("traces.server")}</th><th>{t("traces.calls")}</th>
          <th>{t("traces.rate")}</th><th>{t("traces.error_ratio")}</th><th>p95</th></tr></thead>
        <tbody>
          {result.deps.map((d) => {
            const red = result.red[`${d.parent}→${d.child}`] || {};
            return (
              <tr><td>{d.parent}</td><td>{d.child}</td><td>{d.callCount}</td>
                <td>{red.rate !== undefined ? `${red.rate.toFixed(2)}/s` : ""}</td>
                <td class={red.errors > 0.05 ? "error" : ""}>{red.errors !== undefined && !isNaN(red.errors) ? `${(red.errors * 100).toFixed(1)}%` : ""}</td>
                <td>{red.p95 !== undefined && !isNaN(red.p95) ? formatDuration(red.p95 * 1e6) : ""}</td></tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function Traces({ params }) {
  const [state, setState] = useState(() => readState(params));
  const { result, error, loading, load } = useLoad();
  const search = (s = state) => {
    writeState(s);
    if (!s.service && !s.traceql) return;
    load(async () => {
      const end = Date.now() * 1000;
      const start = end - LOOKBACK_US[s.lookback];
      if (s.traceql) {
        const found = await api("/api/search", { params: { q: s.traceql, start: Math.floor(start / 1e6), end: Math.ceil(end / 1e6), limit: 20 } });
        const traces = await Promise.all((found.traces || []).map((tr) => api(`/api/traces/${tr.traceID}`).then((r) => r.data[0])));
        return traces.filter(Boolean);
      }
      const r = await api("/api/traces", { params: { service: s.service, operation: s.operation || undefined, tags: tagsJson(s.tags),
        minDuration: s.minDuration || undefined, start: Math.floor(start), end: Math.ceil(end), limit: 20 } });
      return r.data || [];
    });
  };
  useEffect(() => { if (state.tab === "search") search(); }, []);
  const tab = (name) => () => { const s = { ...state, tab: name }; setState(s); writeState(s); };
  return (
    <section>
      <div class="tabs">
        <button class={state.tab === "search" ? "active" : ""} onClick={tab("search")}>{t("traces.search")}</button>
        <button class={state.tab === "map" ? "active" : ""} onClick={tab("map")} data-testid="map-tab">{t("traces.map")}</button>
      </div>
      {state.tab === "map" ? <ServiceMap /> : (
        <>
          <SearchForm state={state} setState={setState} onSearch={() => search()} />
          {error && <p class="error">{error}</p>}
          {loading && <p class="loading">{t("common.loading")}</p>}
          {result && <Results traces={result} />}
          {!result && !loading && !error && <p class="empty">{t("traces.hint")}</p>}
        </>
      )}
    </section>
  );
}

// Spans in tree order (each after its parent, siblings by start) with their depth.
function treeOrder(spans) {
  const ids = new Set(spans.map((s) => s.spanID));
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    const parent = s.references.find((r) => r.refType === "CHILD_OF" && ids.has(r.spanID));
    if (parent) {
      if (!children.has(parent.spanID)) children.set(parent.spanID, []);
      children.get(parent.spanID).push(s);
    } else {
      roots.push(s);
    }
  }
  const out = [];
  const walk = (s, depth) => {
    out.push({ span: s, depth, children: (children.get(s.spanID) || []).length });
    for (const c of (children.get(s.spanID) || []).sort((a, b) => a.startTime - b.startTime)) walk(c, depth + 1);
  };
  for (const r of roots.sort((a, b) => a.startTime - b.startTime)) walk(r, 0);
  return out;
}

function SpanDetails({ span, trace }) {
  const process = trace.processes[span.processID] || { tags: [] };
  const value = (tg) => (typeof tg.value === "object" ? JSON.stringify(tg.value) : String(tg.value));
  return (
    <div class="span-details card" data-testid="span-details">
      <h3>{process.serviceName}: {span.operationName}</h3>
      <p class="muted small mono">{t("traces.span_id")} {span.spanID} · {formatDuration(span.duration)}</p>
      <table class="data kv"><caption>{t("traces.attributes")}</caption>
        <tbody>{span.tags.map((tg) => <tr><th>{tg.key}</th><td class="mono">{value(tg)}</td></tr>)}</tbody></table>
      {span.logs.length > 0 && (
        <table class="data kv"><caption>{t("traces.events")}</caption>
          <tbody>{span.logs.map((l) => (
            <tr><th>{formatDuration(l.timestamp - span.startTime)}</th>
              <td class="mono">{l.fields.map((f) => `${f.key}=${value(f)}`).join(" ")}</td></tr>
          ))}</tbody></table>
      )}
      {span.references.some((r) => r.refType === "FOLLOWS_FROM") && (
        <table class="data kv"><caption>{t("traces.links")}</caption>
          <tbody>{span.references.filter((r) => r.refType === "FOLLOWS_FROM").map((r) => (
            <tr><th><a href={`#/traces/${r.traceID}`}>{r.traceID}</a></th><td class="mono">{r.spanID}</td></tr>
          ))}</tbody></table>
      )}
      <table class="data kv"><caption>{t("traces.process")}</caption>
        <tbody>{process.tags.map((tg) => <tr><th>{tg.key}</th><td class="mono">{value(tg)}</td></tr>)}</tbody></table>
    </div>
  );
}

export function TraceView({ id }) {
  const { result, error, loading, load } = useLoad();
  const [collapsed, setCollapsed] = useState(new Set());
  const [selected, setSelected] = useState(null);
  useEffect(() => { load(async () => (await api(`/api/traces/${id}`)).data[0]); }, [id]);
  if (loading && !result) return <p class="loading">{t("common.loading")}</p>;
  if (error) return <p class="error">{error}</p>;
  if (!result) return null;
  const trace = result;
  const s = summarize(trace);
  const services = s.services;
  const rows = treeOrder(trace.spans);
  // Rows under a collapsed span are hidden.
  const visible = [];
  let hideDeeper = Infinity;
  for (const row of rows) {
    if (row.depth > hideDeeper) continue;
    hideDeeper = collapsed.has(row.span.spanID) ? row.depth : Infinity;
    visible.push(row);
  }
  const toggle = (spanID) => {
    const next = new Set(collapsed);
    next.has(spanID) ? next.delete(spanID) : next.add(spanID);
    setCollapsed(next);
  };
  const logs = new URLSearchParams({ q: `{service_name=~".+"} | trace_id="${trace.traceID}"`, range: "24h", limit: "1000" });
  return (
    <section class="trace-view">
      <div class="incident-head">
        <h2>{s.rootService}: {s.root.operationName}</h2>
        <span class="muted mono small">{trace.traceID}</span>
        <span>{formatDuration(s.duration)} · {t("traces.span_count", { n: trace.spans.length })}
          {s.errors ? ` · ${t("traces.error_count", { n: s.errors })}` : ""}</span>
        <a href={`#/logs?${logs}`} data-testid="trace-logs">{t("traces.logs")}</a>
      </div>
      <div class="waterfall" data-spans={visible.length}>
        {visible.map(({ span, depth, children }) => {
          const service = trace.processes[span.processID]?.serviceName;
          const left = ((span.startTime - s.start) / (s.duration || 1)) * 100;
          const width = Math.max(0.3, (span.duration / (s.duration || 1)) * 100);
          const failed = span.tags.some((tg) => tg.key === "error" && tg.value === true);
          return (
            <div class={`span-row ${selected === span.spanID ? "selected" : ""}`} onClick={() => setSelected(span.spanID)} data-span={span.spanID}>
              <div class="span-name" style={{ paddingLeft: `${depth * 14}px` }}>
                {children > 0 ? (
                  <button class="toggle" onClick={(e) => { e.stopPropagation(); toggle(span.spanID); }}
                    aria-label={t("traces.toggle")}>{collapsed.has(span.spanID) ? "▸" : "▾"}</button>
                ) : <span class="toggle" />}
                <span class="service-dot" style={{ background: colorOf(service, services) }} />
                <b>{service}</b> {span.operationName}
                {failed && <span class="badge critical">{t("traces.error")}</span>}
              </div>
              <div class="span-bar-track">
                <div class={`span-bar ${failed ? "failed" : ""}`}
                  style={{ left: `${left}%`, width: `${width}%`, background: colorOf(service, services) }} />
                <span class="span-duration small" style={{ left: `${Math.min(left + width, 88)}%` }}>{formatDuration(span.duration)}</span>
              </div>
            </div>
          );
        })}
      </div>
      {selected && trace.spans.find((sp) => sp.spanID === selected) && (
        <SpanDetails span={trace.spans.find((sp) => sp.spanID === selected)} trace={trace} />
      )}
    </section>
  );
}

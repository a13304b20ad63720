// Build-time check: both languages have the same keys, and every key the code uses
// (t("literal") and the known dynamic families) exists.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

globalThis.localStorage = { getItem: () => null };
globalThis.navigator = { language: "en" };
globalThis.window = {};
const { TABLES } = await import("./src/i18n.js");

const problems = [];
const en = Object.keys(TABLES.en);
const zh = Object.keys(TABLES.zh);
for (const k of en) if (!(k in TABLES.zh)) problems.push(`zh lacks ${k}`);
for (const k of zh) if (!(k in TABLES.en)) problems.push(`en lacks ${k}`);

function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : /\.(jsx?|mjs)$/.test(f) ? [p] : [];
  });
}
const used = new Set();
for (const f of files("src")) {
  const text = readFileSync(f, "utf8");
  for (const m of text.matchAll(/\bt\("([a-z_.]+)"/g)) used.add(m[1]);
}
const dynamic = {
  "explore.": ["graph", "table"],
  "complete.": ["fn", "stage", "metric", "label", "value"],
  "state.": ["inactive", "pending", "firing", "resolved"],
  "health.": ["ok", "err", "unknown"],
  "alerts.tab.": ["alerts", "rules", "silences", "history"],
  "silence.state.": ["active", "pending", "expired"],
  "incident.": ["triggered", "acknowledged", "mitigated", "resolved", "closed"],
  "action.": ["ack", "mitigate", "resolve", "close"],
  "event.": ["opened", "state", "level", "role", "note", "alert", "notification", "breach", "escalation", "postmortem"],
  "role.": ["commander", "tech_lead", "communications_lead"],
  "nav.": ["explore", "alerts", "incidents", "status"],
  "status.": ["version", "uptime", "ingest", "rejected", "series", "blocks", "storage", "wal_segments",
    "wal_errors", "compactions", "queries", "memory", "rules", "slowest_group"],
};
for (const [prefix, names] of Object.entries(dynamic)) for (const n of names) used.add(prefix + n);
for (const k of used) if (!(k in TABLES.en)) problems.push(`missing key ${k}`);
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`i18n: ${en.length} keys in en and zh, ${used.size} used`);

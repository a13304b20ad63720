// Status: build, uptime, ingestion, series, storage, WAL and compaction, rule health and
// the configuration in effect (secrets hidden by the server).
import { useEffect, useState } from "preact/hooks";
import { api, prom } from "../api.js";
import { t } from "../i18n.js";
import { formatDuration } from "../time.js";

const QUERIES = {
  uptime: "time() - max(process_start_time_seconds{job=\"pharos\"})",
  ingest: "sum(rate(pharos_ingest_samples_received_total[5m]))",
  rejected: "sum(rate(pharos_ingest_samples_rejected_total[5m]))",
  series: "sum(pharos_tsdb_head_series)",
  blocks: "sum(pharos_tsdb_blocks)",
  storage: "sum(pharos_tsdb_blocks_bytes)",
  wal_segments: "sum(pharos_wal_segments)",
  wal_errors: "sum(increase(pharos_wal_errors_total[1h]))",
  compactions: "sum(increase(pharos_tsdb_blocks_merged_total[24h]))",
  queries: "sum(rate(pharos_queries_total[5m]))",
  rss: "max(process_resident_memory_bytes{job=\"pharos\"})",
};

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${units[i]}`;
}

export function Status() {
  const [build, setBuild] = useState(null);
  const [values, setValues] = useState({});
  const [rules, setRules] = useState(null);
  const [config, setConfig] = useState(null);
  const [configError, setConfigError] = useState(null);
  useEffect(() => {
    api("/api/v1/status/buildinfo").then(setBuild, () => {});
    Promise.all(Object.entries(QUERIES).map(([k, q]) => prom.query(q).then(
      (r) => [k, r.result.length ? Number(r.result[0].value[1]) : null], () => [k, null])))
      .then((pairs) => setValues(Object.fromEntries(pairs)));
    api("/api/v1/rules").then((r) => {
      const all = r.groups.flatMap((g) => g.rules);
      setRules({ groups: r.groups.length, rules: all.length, errors: all.filter((x) => x.health === "err").length,
        slowest: Math.max(0, ...r.groups.map((g) => g.evaluationTime)) });
    }, () => {});
    api("/api/v1/status/config").then((c) => setConfig(c.yaml), (e) => setConfigError(e.message));
  }, []);
  const v = (k, fmt) => (values[k] === null || values[k] === undefined ? "–" : fmt(values[k]));
  const num = (x) => (Number.isInteger(x) || x >= 100 ? Math.round(x).toLocaleString() : x.toFixed(2));
  const rows = [
    ["status.version", build ? `${build.version} (${build.revision})` : "–"],
    ["status.uptime", v("uptime", formatDuration)],
    ["status.ingest", v("ingest", (x) => t("status.per_second", { n: num(x) }))],
    ["status.rejected", v("rejected", (x) => t("status.per_second", { n: num(x) }))],
    ["status.series", v("series", num)],
    ["status.blocks", v("blocks", num)],
    ["status.storage", v("storage", bytes)],
    ["status.wal_segments", v("wal_segments", num)],
    ["status.wal_errors", v("wal_errors", num)],
    ["status.compactions", v("compactions", num)],
    ["status.queries", v("queries", (x) => t("status.per_second", { n: num(x) }))],
    ["status.memory", v("rss", bytes)],
    ["status.rules", rules ? t("status.rules_value", rules) : "–"],
    ["status.slowest_group", rules ? `${(rules.slowest * 1000).toFixed(1)} ms` : "–"],
  ];
  return (
    <section class="page status">
      <table class="data kv">
        <tbody>{rows.map(([k, val]) => <tr data-key={k}><th>{t(k)}</th><td>{val}</td></tr>)}</tbody>
      </table>
      <div class="card">
        <h3>{t("status.config")}</h3>
        {configError ? <div class="muted">{t("status.config_denied", { error: configError })}</div>
          : <pre class="config">{config || t("common.loading")}</pre>}
      </div>
    </section>
  );
}

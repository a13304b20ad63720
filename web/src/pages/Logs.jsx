// The logs explorer: a LogQL query over a time range. A log query shows its volume over
// the range by level (count_over_time per step) and its newest lines, each opening to its stream's
// labels, structured metadata and parsed labels and to the lines around it in its stream;
// a metric query is drawn as a chart. Live follows the query through Loki's tail
// WebSocket, newest lines on top. Everything but live mode is kept in the URL.
import { useEffect, useRef, useState } from "preact/hooks";
import { loki } from "../api.js";
import { Chart, seriesName } from "../components/Chart.jsx";
import { QueryEditor } from "../components/QueryEditor.jsx";
import { t } from "../i18n.js";
import { replaceParams, settings, useLoad } from "../state.js";
import { RELATIVE_RANGES, autoStep, resolveRange } from "../time.js";

const LIMITS = [100, 500, 1000, 5000];

function readState(params) {
  const limit = Number(params.get("limit"));
  return {
    query: params.get("q") || "",
    range: params.get("range") || "1h",
    limit: LIMITS.includes(limit) ? limit : 100,
  };
}

function writeState(s) {
  const p = new URLSearchParams();
  p.set("q", s.query);
  p.set("range", s.range);
  p.set("limit", String(s.limit));
  replaceParams("/logs", p);
}

// Loki's nanosecond timestamps as local time with milliseconds.
function formatNs(ns) {
  const ms = Number(BigInt(ns) / 1000000n);
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// Lines around an entry in its stream: up to ten before and ten after (by time, over the
// hour on each side), the entry marked.
const CONTEXT_LINES = 10;

function selectorOf(stream) {
  const esc = (v) => String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  return `{${Object.entries(stream).map(([k, v]) => `${k}="${esc(v)}"`).join(", ")}}`;
}

// The volume by level, as Grafana draws it: one series per level (the line's level label,
// else the detected_level Pharos gives it at ingest, else "unknown"), most severe first.
const LEVELS = [["critical", "#a855f7"], ["fatal", "#7c3aed"], ["error", "#ef4444"], ["warn", "#f59e0b"],
  ["info", "#10b981"], ["debug", "#3b82f6"], ["trace", "#94a3b8"], ["unknown", "#64748b"]];

// One name per level ("warning" is "warn", "err" "error"), "unknown" for none.
function normalizeLevel(raw) {
  const level = String(raw || "unknown").toLowerCase();
  return level === "warning" ? "warn" : level === "err" ? "error" : level;
}

function volumeByLevel(result) {
  const sums = new Map();
  for (const r of result) {
    const level = normalizeLevel(r.metric.level || r.metric.detected_level);
    const values = sums.get(level) || new Map();
    for (const [ts, v] of r.values) values.set(ts, (values.get(ts) || 0) + Number(v));
    sums.set(level, values);
  }
  const rank = (name) => {
    const i = LEVELS.findIndex(([l]) => l === name);
    return i < 0 ? LEVELS.length : i;
  };
  return [...sums.entries()].sort((a, b) => rank(a[0]) - rank(b[0])).map(([level, values]) => ({
    name: level,
    color: (LEVELS.find(([l]) => l === level) || [])[1],
    values: [...values.entries()].sort((a, b) => a[0] - b[0]).map(([ts, v]) => [ts, String(v)]),
  }));
}

const byNewest = (a, b) => (BigInt(b.ts) > BigInt(a.ts) ? 1 : BigInt(b.ts) < BigInt(a.ts) ? -1 : 0);

// The lines of Loki's streams (a query's answer or a tail frame), newest first, each with
// its stream and, when the answer is categorized, its metadata and parsed labels.
function streamLines(streams) {
  const lines = [];
  for (const st of streams || []) {
    for (const v of st.values) lines.push({ ts: v[0], line: v[1], stream: st.stream, meta: v[2] || null });
  }
  return lines.sort(byNewest);
}

function Context({ entry }) {
  const [lines, setLines] = useState(null);
  const [error, setError] = useState(null);
  const show = async (e) => {
    e.stopPropagation();
    try {
      const q = selectorOf(entry.stream);
      const ns = BigInt(entry.ts);
      const hour = 3600n * 1000000000n;
      // Loki's ranges take nanoseconds; start is inclusive and end exclusive.
      const [before, after] = await Promise.all([
        loki.range(q, ns - hour, ns, { limit: CONTEXT_LINES, direction: "backward" }),
        loki.range(q, ns + 1n, ns + hour, { limit: CONTEXT_LINES, direction: "forward" }),
      ]);
      const oldestFirst = (answer) => streamLines(answer.result).reverse();
      setLines([...oldestFirst(before), { ...entry, self: true }, ...oldestFirst(after)]);
    } catch (err) {
      setError(err.message);
    }
  };
  if (error) return <div class="error" role="alert">{error}</div>;
  if (!lines) {
    return <button class="context-button" onClick={show}>{t("logs.context")}</button>;
  }
  return (
    <ol class="log-context" onClick={(e) => e.stopPropagation()}>
      {lines.map((l) => (
        <li class={l.self ? "self" : ""}><time>{formatNs(l.ts)}</time> <code>{l.line}</code></li>
      ))}
    </ol>
  );
}

// Every label of a line: its stream's, its parsed ones and its structured metadata (in a
// tail's frames these are all stream labels).
function fieldsOf(l) {
  return { ...l.stream, ...(l.meta?.parsed || {}), ...(l.meta?.structuredMetadata || {}) };
}

// A line's level: a level label, else its detected_level.
function levelOf(l) {
  const fields = fieldsOf(l);
  return normalizeLevel(fields.level || fields.detected_level);
}

// A line's trace id: its trace_id metadata or parsed label, else a trace id field in its
// text (trace_id=..., traceId, "traceID":"..."), 16 or 32 hex digits.
const TRACE_IN_TEXT = /\btrace_?id["']?\s*[=:]\s*["']?([0-9a-f]{32}|[0-9a-f]{16})\b/i;

function traceOf(l) {
  const fields = fieldsOf(l);
  for (const name of ["trace_id", "traceId", "traceID", "trace"]) {
    if (/^[0-9a-f]{16,32}$/i.test(fields[name] || "")) return { id: fields[name], field: name };
  }
  const m = TRACE_IN_TEXT.exec(l.line);
  return m ? { id: m[1], field: null } : null;
}

// The lines of the trace, across every stream (the traces page will take this link).
function traceQuery(l, trace) {
  const label = "service_name" in l.stream ? "service_name" : Object.keys(l.stream)[0];
  const selector = `{${label}=~".+"}`;
  return trace.field ? `${selector} | ${trace.field}="${trace.id}"` : `${selector} |= "${trace.id}"`;
}

function TraceLink({ line }) {
  const trace = traceOf(line);
  if (!trace) return null;
  const params = new URLSearchParams({ q: traceQuery(line, trace), range: "24h", limit: "1000" });
  return (
    <span class="trace-links">
      <a class="trace-link" onClick={(e) => e.stopPropagation()} href={`#/traces/${trace.id}`}>
        {t("logs.open_trace", { id: trace.id })}
      </a>
      <a class="trace-link" onClick={(e) => e.stopPropagation()} href={`#/logs?${params}`}>
        {t("logs.trace", { id: trace.id })}
      </a>
    </span>
  );
}

// Lines newest first, each marked by its level's colour; a click opens a line's labels by where they came from and its context.
function LogLines({ lines, open, setOpen }) {
  return (
    <ol class="log-lines" data-lines={lines.length}>
      {lines.map((l, i) => (
        <li class={open === i ? "log-line open" : "log-line"} data-level={levelOf(l)}
          onClick={() => setOpen(open === i ? null : i)}>
          <time>{formatNs(l.ts)}</time>
          <code>{l.line}</code>
          {open === i && (
            <dl class="log-labels">
              {[["logs.stream_labels", l.stream], ["logs.metadata", l.meta?.structuredMetadata],
                ["logs.parsed", l.meta?.parsed]].map(([title, labels]) =>
                labels && Object.keys(labels).length > 0 && [
                  <dt class="group">{t(title)}</dt>, <dd class="group" />,
                  ...Object.entries(labels).map(([k, v]) => [<dt>{k}</dt>, <dd>{v}</dd>]),
                ])}
            </dl>
          )}
          {open === i && <TraceLink line={l} />}
          {open === i && <Context entry={l} />}
        </li>
      ))}
    </ol>
  );
}

export function Logs({ params }) {
  const [state, setState] = useState(() => readState(params));
  const [draft, setDraft] = useState(state.query);
  const { result, setResult, error, setError, loading, load } = useLoad();
  const [open, setOpen] = useState(null);
  const [live, setLive] = useState(null);  // {lines, dropped} while tailing
  // A link to this page with another query (a trace's lines) takes effect here.
  const linked = params.toString();
  useEffect(() => {
    const next = readState(params);
    if (next.query !== state.query || next.range !== state.range || next.limit !== state.limit) {
      setState(next);
      setDraft(next.query);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [linked]);
  const stopLive = useRef(null);

  const startLive = () => {
    const q = draft.trim();
    if (!q) return;
    setError(null);
    setOpen(null);
    setResult(null);
    setLive({ lines: [], dropped: 0 });
    stopLive.current = loki.tail(q, state.limit, (frame) => {
      setLive((cur) => {
        if (!cur) return cur;
        const dropped = cur.dropped + (frame.dropped_entries ? frame.dropped_entries.length : 0);
        // Newest on top; at most `limit` lines kept.
        const lines = [...streamLines(frame.streams), ...cur.lines].slice(0, state.limit);
        return { lines, dropped };
      });
    }, (code, reason) => {
      stopLive.current = null;
      if (code !== 1000 && code !== 1001) setError(t("logs.live_closed", { reason: reason || `code ${code}` }));
    });
  };
  const endLive = () => {
    if (stopLive.current) stopLive.current();
    stopLive.current = null;
    setLive(null);
  };
  useEffect(() => () => stopLive.current && stopLive.current(), []);

  const run = async (s = state) => {
    writeState(s);
    const q = s.query.trim();
    if (!q) {
      setResult(null);
      return;
    }
    setOpen(null);
    const started = performance.now();
    await load(async () => {
      const { start, end, span } = resolveRange(s.range);
      const step = autoStep(span);
      const answer = await loki.range(q, start, end, { limit: s.limit, step });
      if (answer.resultType === "streams") {
        // About 60 bars of volume: a coarser step than a metric chart's.
        const bar = autoStep(span * 4);
        const volume = await loki.range(
          `sum by (level, detected_level) (count_over_time(${q} | drop __error__ [${bar}s]))`,
          start, end, { step: bar });
        const lines = streamLines(answer.result);
        const series = volumeByLevel(volume.result);
        return { kind: "logs", lines, series, ms: performance.now() - started, step };
      }
      const series = answer.result.map((r) => ({ name: seriesName(r.metric), values: r.values }));
      return { kind: "metric", series, ms: performance.now() - started, step };
    });
  };

  useEffect(() => {
    run();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state.query, state.range, state.limit]);

  const submit = () => setState((s) => ({ ...s, query: draft }));

  return (
    <section class="page logs">
      <div class="toolbar">
        <label>
          {t("explore.range")}{" "}
          <select value={state.range} onChange={(e) => setState((s) => ({ ...s, range: e.target.value }))}>
            {RELATIVE_RANGES.map((r) => <option value={r}>{t("explore.last", { range: r })}</option>)}
          </select>
        </label>
        <label>
          {t("logs.limit")}{" "}
          <select value={state.limit} onChange={(e) => setState((s) => ({ ...s, limit: Number(e.target.value) }))}>
            {LIMITS.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <button class="primary" onClick={() => (draft === state.query ? run() : submit())}
          disabled={loading || live !== null}>
          {loading ? t("common.loading") : t("explore.run")}
        </button>
        {live === null
          ? <button class="live-button" onClick={startLive}>{t("logs.live")}</button>
          : <button class="live-button active" onClick={endLive}>{t("logs.stop")}</button>}
      </div>
      <div class="query-row logql">
        <QueryEditor language="logql" value={draft} index={0} label={t("logs.query")}
          placeholder={t("logs.placeholder")} onChange={setDraft}
          onRun={() => (draft === state.query ? run() : submit())} />
      </div>
      {error && <div class="error" role="alert">{error}</div>}
      {result && result.kind === "metric" && (
        <div class="result">
          <div class="meta">{t("explore.stats", { series: result.series.length, ms: Math.round(result.ms), step: result.step })}</div>
          {result.series.length ? <Chart series={result.series} dark={settings.theme === "dark"} />
            : <div class="empty">{t("explore.no_data")}</div>}
        </div>
      )}
      {live && (
        <div class="result live">
          <div class="meta" role="status">{t("logs.live_status", { lines: live.lines.length })}</div>
          {live.dropped > 0 && <div class="warning">{t("logs.live_dropped", { count: live.dropped })}</div>}
          {live.lines.length > 0 && <LogLines lines={live.lines} open={open} setOpen={setOpen} />}
        </div>
      )}
      {result && result.kind === "logs" && (
        <div class="result">
          <div class="meta">{t("logs.stats", { lines: result.lines.length, ms: Math.round(result.ms) })}</div>
          {result.series.length > 0 && <Chart series={result.series} bars dark={settings.theme === "dark"} />}
          {result.lines.length === 0 ? <div class="empty">{t("explore.no_data")}</div> : (
            <LogLines lines={result.lines} open={open} setOpen={setOpen} />
          )}
        </div>
      )}
    </section>
  );
}

// The metrics explorer: several PromQL queries on one chart (range) or as a table
// (instant), a time range picker and step, everything kept in the URL.
import { useEffect, useState } from "preact/hooks";
import { prom } from "../api.js";
import { Chart, seriesName } from "../components/Chart.jsx";
import { QueryEditor } from "../components/QueryEditor.jsx";
import { t } from "../i18n.js";
import { replaceParams, settings, useLoad } from "../state.js";
import { RELATIVE_RANGES, autoStep, fromLocalInput, resolveRange, toLocalInput } from "../time.js";

function readState(params) {
  let queries = [""];
  try {
    const q = JSON.parse(params.get("q") || "null");
    if (Array.isArray(q) && q.length) queries = q.map(String);
  } catch {
    queries = [params.get("q") || ""];
  }
  return {
    queries,
    range: params.get("range") || "1h",
    start: params.get("start") || "",
    end: params.get("end") || "",
    step: params.get("step") || "",
    tab: params.get("tab") === "table" ? "table" : "graph",
  };
}

function writeState(s) {
  const p = new URLSearchParams();
  p.set("q", JSON.stringify(s.queries));
  p.set("range", s.range);
  if (s.start) p.set("start", s.start);
  if (s.end) p.set("end", s.end);
  if (s.step) p.set("step", s.step);
  p.set("tab", s.tab);
  replaceParams("/explore", p);
}

export function Explore({ params }) {
  const [state, setState] = useState(() => readState(params));
  const { result, setResult, error, loading, load } = useLoad();
  const change = (patch) => setState((s) => ({ ...s, ...patch }));

  const run = async (s = state) => {
    writeState(s);
    const queries = s.queries.map((q) => q.trim()).filter(Boolean);
    if (!queries.length) {
      setResult(null);
      return;
    }
    const started = performance.now();
    await load(async () => {
      if (s.tab === "graph") {
        const { start, end, span } = resolveRange(s.range, s.end, s.start);
        const step = Number(s.step) || autoStep(span);
        const answers = await Promise.all(queries.map((q) => prom.range(q, start, end, step)));
        const series = [];
        answers.forEach((a, i) => {
          for (const r of a.result) {
            const name = seriesName(r.metric);
            series.push({ name: queries.length > 1 ? `#${i + 1} ${name}` : name, values: r.values });
          }
        });
        return { kind: "graph", series, ms: performance.now() - started, step };
      }
      const time = s.end ? Number(s.end) : undefined;
      const answers = await Promise.all(queries.map((q) => prom.query(q, time)));
      return { kind: "table", answers, queries, ms: performance.now() - started };
    });
  };

  useEffect(() => {
    run();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state.tab, state.range, state.start, state.end, state.step]);

  const setQuery = (i, v) => change({ queries: state.queries.map((q, j) => (j === i ? v : q)) });

  return (
    <section class="page explore">
      <div class="toolbar">
        <div class="tabs" role="tablist">
          {["graph", "table"].map((tab) => (
            <button role="tab" aria-selected={state.tab === tab} class={state.tab === tab ? "active" : ""}
              onClick={() => change({ tab })}>{t(`explore.${tab}`)}</button>
          ))}
        </div>
        <label>
          {t("explore.range")}{" "}
          <select value={state.range} disabled={!!state.start} onChange={(e) => change({ range: e.target.value })}>
            {RELATIVE_RANGES.map((r) => <option value={r}>{t("explore.last", { range: r })}</option>)}
          </select>
        </label>
        <label>
          {t("explore.start")}{" "}
          <input type="datetime-local" value={state.start ? toLocalInput(Number(state.start)) : ""}
            onChange={(e) => change({ start: e.target.value ? String(Math.round(fromLocalInput(e.target.value))) : "" })} />
        </label>
        <label>
          {t("explore.end")}{" "}
          <input type="datetime-local" value={state.end ? toLocalInput(Number(state.end)) : ""}
            onChange={(e) => change({ end: e.target.value ? String(Math.round(fromLocalInput(e.target.value))) : "" })} />
        </label>
        {(state.end || state.start) && (
          <button onClick={() => change({ end: "", start: "" })}>{t("explore.now")}</button>
        )}
        <label>
          {t("explore.step")}{" "}
          <input class="step" type="number" min="1" placeholder={t("explore.auto")} value={state.step}
            onChange={(e) => change({ step: e.target.value })} />
        </label>
        <button class="primary" onClick={() => run()} disabled={loading}>
          {loading ? t("common.loading") : t("explore.run")}
        </button>
      </div>
      {state.queries.map((q, i) => (
        <div class="query-row">
          <QueryEditor value={q} index={i} onChange={(v) => setQuery(i, v)} onRun={() => run()} />
          {state.queries.length > 1 && (
            <button class="icon" title={t("explore.remove")} aria-label={t("explore.remove")}
              onClick={() => change({ queries: state.queries.filter((_, j) => j !== i) })}>×</button>
          )}
        </div>
      ))}
      <button onClick={() => change({ queries: [...state.queries, ""] })}>{t("explore.add")}</button>
      {error && <div class="error" role="alert">{error}</div>}
      {result && result.kind === "graph" && (
        <div class="result">
          <div class="meta">{t("explore.stats", { series: result.series.length, ms: Math.round(result.ms), step: result.step })}</div>
          {result.series.length ? <Chart series={result.series} dark={settings.theme === "dark"} />
            : <div class="empty">{t("explore.no_data")}</div>}
        </div>
      )}
      {result && result.kind === "table" && <ResultTable result={result} />}
    </section>
  );
}

function ResultTable({ result }) {
  return (
    <div class="result">
      {result.answers.map((a, i) => (
        <table class="data">
          <caption>{result.queries[i]}</caption>
          <thead><tr><th>{t("explore.series")}</th><th>{t("explore.value")}</th></tr></thead>
          <tbody>
            {a.resultType === "vector" && a.result.map((r) => (
              <tr><td class="mono">{seriesName(r.metric)}</td><td class="mono">{r.value[1]}</td></tr>
            ))}
            {a.resultType === "matrix" && a.result.map((r) => (
              <tr><td class="mono">{seriesName(r.metric)}</td>
                <td class="mono">{r.values.map((v) => `${v[1]} @${v[0]}`).join("\n")}</td></tr>
            ))}
            {(a.resultType === "scalar" || a.resultType === "string") && (
              <tr><td class="mono">{a.resultType}</td><td class="mono">{a.result[1]}</td></tr>
            )}
            {(a.resultType === "vector" || a.resultType === "matrix") && a.result.length === 0 && (
              <tr><td colSpan={2} class="empty">{t("explore.no_data")}</td></tr>
            )}
          </tbody>
        </table>
      ))}
    </div>
  );
}

// A PromQL or LogQL input with completion of metric names (PromQL), label names, label
// values and functions (LogQL: its range and vector functions and pipeline stages), and
// the server's parse error shown under the column it points at.
import { useEffect, useRef, useState } from "preact/hooks";
import { loki, prom } from "../api.js";
import { t } from "../i18n.js";

export const FUNCTIONS = [
  "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max",
  "clamp_min", "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month",
  "delta", "deriv", "double_exponential_smoothing", "exp", "floor", "histogram_avg",
  "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_sum", "hour", "idelta",
  "increase", "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
  "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "predict_linear",
  "present_over_time", "quantile_over_time", "rate", "resets", "round", "scalar", "sgn", "sort",
  "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt", "stddev_over_time",
  "stdvar_over_time", "sum_over_time", "time", "timestamp", "vector", "year",
  "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk",
  "quantile", "count_values", "limitk", "limit_ratio",
];

export const LOGQL_FUNCTIONS = [
  "count_over_time", "rate", "rate_counter", "bytes_over_time", "bytes_rate", "avg_over_time",
  "sum_over_time", "min_over_time", "max_over_time", "stddev_over_time", "stdvar_over_time",
  "quantile_over_time", "first_over_time", "last_over_time", "absent_over_time",
  "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "sort",
  "sort_desc", "label_replace", "vector",
];
export const LOGQL_STAGES = [
  "json", "logfmt", "regexp", "pattern", "unpack", "line_format", "label_format", "drop",
  "keep", "decolorize", "unwrap",
];

let metricNames = null;

async function metrics() {
  if (!metricNames) {
    try {
      metricNames = await prom.values("__name__");
    } catch {
      metricNames = [];
    }
  }
  return metricNames;
}

// What the cursor is completing: {kind: "metric"|"label"|"value", prefix, label, metric}.
export function completionContext(text, pos) {
  const before = text.slice(0, pos);
  const open = before.lastIndexOf("{");
  const close = before.lastIndexOf("}");
  if (open > close) {
    const inside = before.slice(open + 1);
    const metric = (/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$/.exec(before.slice(0, open)) || [])[1] || "";
    const value = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)$/.exec(inside);
    if (value) return { kind: "value", label: value[1], prefix: value[3], metric };
    const label = /(?:^|,)\s*([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(inside);
    if (label) return { kind: "label", prefix: label[1] || "", metric };
    return null;
  }
  const word = /([a-zA-Z_:][a-zA-Z0-9_:]*)$/.exec(before);
  if (!word) return null;
  return { kind: "metric", prefix: word[1] };
}

async function logqlSuggestions(ctx, text) {
  let items = [];
  if (ctx.kind === "metric") {
    // After a pipe: the stages; elsewhere: the functions.
    const afterPipe = /\|\s*[a-z_]*$/.test(text);
    items = afterPipe ? LOGQL_STAGES.map((f) => ({ text: f, kind: "stage" }))
      : LOGQL_FUNCTIONS.map((f) => ({ text: f, kind: "fn" }));
  } else if (ctx.kind === "label") {
    items = (await loki.labels().catch(() => [])).map((n) => ({ text: n, kind: "label" }));
  } else {
    items = (await loki.values(ctx.label).catch(() => [])).map((n) => ({ text: n, kind: "value" }));
  }
  return items;
}

async function suggestions(ctx, language, text) {
  if (!ctx) return [];
  const p = ctx.prefix.toLowerCase();
  const keep = (items) =>
    items.filter((i) => i.text.toLowerCase().startsWith(p) && i.text !== ctx.prefix).slice(0, 50);
  if (language === "logql") return keep(await logqlSuggestions(ctx, text));
  const match = ctx.metric ? [ctx.metric] : undefined;
  let items = [];
  if (ctx.kind === "metric") {
    const names = await metrics();
    items = [...FUNCTIONS.map((f) => ({ text: f, kind: "fn" })), ...names.map((n) => ({ text: n, kind: "metric" }))];
  } else if (ctx.kind === "label") {
    items = (await prom.labels(match).catch(() => [])).filter((n) => n !== "__name__")
      .map((n) => ({ text: n, kind: "label" }));
  } else {
    items = (await prom.values(ctx.label, match).catch(() => [])).map((n) => ({ text: n, kind: "value" }));
  }
  return keep(items);
}

// Checks a query with the server's parser: PromQL's parse_query; for LogQL, the query at
// one second after the epoch, where no data is (Loki has no parse-only endpoint).
function check(language, value) {
  return language === "logql" ? loki.query(value, 1) : prom.parse(value);
}

// The error's position as [line, column]: PromQL's "1:13: ..." or LogQL's "parse error at
// line 1, col 13: ...".
function errorPosition(error) {
  const m = /^(\d+):(\d+):/.exec(error) || /at line (\d+), col (\d+)/.exec(error);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function QueryEditor({ value, onChange, onRun, index, language = "promql", label, placeholder }) {
  const input = useRef(null);
  const [items, setItems] = useState([]);
  const [selected, setSelected] = useState(0);
  const [error, setError] = useState(null);
  const ctxRef = useRef(null);

  // Syntax check as you type (the server's parser, so errors match queries exactly).
  useEffect(() => {
    if (!value.trim()) {
      setError(null);
      return undefined;
    }
    const id = setTimeout(() => {
      check(language, value).then(() => setError(null), (e) => setError(e.message));
    }, 300);
    return () => clearTimeout(id);
  }, [value]);

  const refresh = async (text, pos) => {
    const ctx = completionContext(text, pos);
    ctxRef.current = ctx;
    const list = await suggestions(ctx, language, text.slice(0, pos));
    if (ctxRef.current === ctx) {
      setItems(list);
      setSelected(0);
    }
  };

  const accept = (item) => {
    const el = input.current;
    const pos = el.selectionStart;
    const ctx = ctxRef.current;
    const start = pos - (ctx ? ctx.prefix.length : 0);
    let insert = item.text;
    if (item.kind === "fn") insert += "(";
    if (item.kind === "label") insert += '="';
    if (item.kind === "value") insert += '"';
    const next = value.slice(0, start) + insert + value.slice(pos);
    onChange(next);
    setItems([]);
    requestAnimationFrame(() => {
      el.focus();
      el.selectionStart = el.selectionEnd = start + insert.length;
    });
  };

  const onKey = (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      setItems([]);
      onRun();
      return;
    }
    if (!items.length) {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        onRun();
      }
      return;
    }
    if (e.key === "ArrowDown") {
      e.preventDefault();
      setSelected((selected + 1) % items.length);
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      setSelected((selected - 1 + items.length) % items.length);
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      accept(items[selected]);
    } else if (e.key === "Escape") {
      setItems([]);
    }
  };

  // "1:13: parse error: ..." -> a caret under column 13 of line 1.
  const position = error && errorPosition(error);
  const caret = position && value.split("\n")[position[0] - 1] !== undefined
    ? `${" ".repeat(Math.max(0, position[1] - 1))}^` : null;

  return (
    <div class="query-editor">
      <textarea
        ref={input}
        class={error ? "invalid" : ""}
        rows={Math.min(6, value.split("\n").length)}
        value={value}
        spellcheck={false}
        aria-label={label || t("explore.query_label", { n: index + 1 })}
        placeholder={placeholder || t("explore.placeholder")}
        onInput={(e) => {
          onChange(e.target.value);
          refresh(e.target.value, e.target.selectionStart);
        }}
        onKeyDown={onKey}
        onBlur={() => setTimeout(() => setItems([]), 150)}
      />
      {items.length > 0 && (
        <ul class="completions" role="listbox">
          {items.map((item, i) => (
            <li
              key={item.text}
              role="option"
              aria-selected={i === selected}
              class={i === selected ? "selected" : ""}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(item);
              }}
            >
              <span class={`kind kind-${item.kind}`}>{t(`complete.${item.kind}`)}</span> {item.text}
            </li>
          ))}
        </ul>
      )}
      {error && (
        <div class="query-error" role="alert">
          {caret && <pre class="caret">{value.split("\n")[position[0] - 1]}{"\n"}{caret}</pre>}
          <span>{error}</span>
        </div>
      )}
    </div>
  );
}

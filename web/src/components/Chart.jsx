// A uPlot line chart of range-query results: one line per series, a legend that shows the
// hovered values and toggles series on click, local time on the x axis.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const PALETTE = ["#3b82f6", "#ef4444", "#10b981", "#f59e0b", "#8b5cf6", "#ec4899", "#14b8a6",
  "#f97316", "#6366f1", "#84cc16", "#06b6d4", "#e11d48", "#a855f7", "#22c55e", "#eab308"];

export function seriesName(metric) {
  const entries = Object.entries(metric || {});
  const name = metric && metric.__name__ ? metric.__name__ : "";
  const rest = entries.filter(([k]) => k !== "__name__").map(([k, v]) => `${k}="${v}"`);
  return `${name}{${rest.join(", ")}}`;
}

// series: [{name, values: [[t, "v"], ...], color?}] -> uPlot's aligned columns.
export function align(series) {
  const times = new Set();
  for (const s of series) for (const [t] of s.values) times.add(t);
  const xs = [...times].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const columns = series.map((s) => {
    const col = new Array(xs.length).fill(null);
    for (const [t, v] of s.values) col[index.get(t)] = Number(v);
    return col;
  });
  return [xs, ...columns];
}

// Stacked bars (a log volume): series i's bar reaches the sum of series i..n at each time, and
// each is drawn over the taller ones before it, so the first series sits on top; the legend
// shows each series' own value.
function stack(columns) {
  const out = columns.map((c) => c.slice());
  for (let i = out.length - 2; i >= 0; i--) {
    for (let k = 0; k < out[i].length; k++) {
      const own = columns[i][k] || 0;
      const below = out[i + 1][k] || 0;
      out[i][k] = own + below || null;
    }
  }
  return out;
}

export function Chart({ series, height = 320, dark, bars = false }) {
  const el = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    if (!el.current) return undefined;
    const raw = align(series);
    const axisColor = dark ? "#cbd5e1" : "#334155";
    const gridColor = dark ? "#334155" : "#e2e8f0";
    const opts = {
      width: el.current.clientWidth || 800,
      height,
      series: [{}, ...series.map((s, i) => {
        const color = s.color || PALETTE[i % PALETTE.length];
        return {
          label: s.name,
          stroke: color,
          width: bars ? 0 : 1.5,
          points: { show: false },
          spanGaps: false,
          ...(bars ? {
            fill: color,
            paths: uPlot.paths.bars({ size: [0.8, 40] }),
            value: (u, v, si, di) => (di == null || raw[si][di] == null ? "--" : String(raw[si][di])),
          } : {}),
        };
      })],
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor } },
        { stroke: axisColor, grid: { stroke: gridColor }, size: 70 },
      ],
      legend: { live: true },
      // Bars stand on zero.
      ...(bars ? { scales: { y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } } } : {}),
      cursor: { drag: { x: true, y: false } },
    };
    plot.current = new uPlot(opts, bars ? [raw[0], ...stack(raw.slice(1))] : raw, el.current);
    const resize = () => plot.current && plot.current.setSize({ width: el.current.clientWidth, height });
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      plot.current.destroy();
      plot.current = null;
    };
  }, [series, height, dark, bars]);
  return <div class="chart" ref={el} data-series={series.length} />;
}

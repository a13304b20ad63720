// Time ranges and durations as the console shows and parses them.
const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export const RELATIVE_RANGES = ["5m", "15m", "1h", "3h", "6h", "12h", "24h", "2d", "7d"];

export function parseDuration(text) {
  const m = /^(\d+)([smhdw])$/.exec(String(text || "").trim());
  return m ? Number(m[1]) * UNITS[m[2]] : null;
}

// A range from the URL: relative ({range: "1h"}, ending now or at `end`) or absolute
// (`start` and `end`, or `start` to now), in Unix seconds -> {start, end, span}.
export function resolveRange(range, end, start) {
  const endS = end ? Number(end) : Date.now() / 1000;
  if (start && Number(start) < endS) return { start: Number(start), end: endS, span: endS - Number(start) };
  const span = parseDuration(range) || 3600;
  return { start: endS - span, end: endS, span };
}

// About 250 points per series, in round steps.
export function autoStep(span) {
  const raw = span / 250;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
  return steps.find((s) => s >= raw) || 86400;
}

export function formatDuration(seconds) {
  const s = Math.abs(Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${sec}s`;
  return `${sec}s`;
}

export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1970) return "";
  return d.toLocaleString();
}

// For <input type="datetime-local">: local time without seconds.
export function toLocalInput(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(text) {
  const t = new Date(text).getTime();
  return Number.isNaN(t) ? null : t / 1000;
}

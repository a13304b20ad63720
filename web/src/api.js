// The console's HTTP client: every call carries the API token kept in this browser and
// turns Prometheus's error envelope into an Error whose message is the server's.
const TOKEN_KEY = "pharos.token";

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) {
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(one)}`);
    }
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

export class ApiError extends Error {
  constructor(message, status, type) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

// Returns the `data` of Prometheus-style envelopes, the body of others (Alertmanager's
// API answers bare JSON), or text when asked.
export async function api(path, { method = "GET", params, body, text = false, contentType, headers: extra } = {}) {
  const headers = { ...(extra || {}) };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  // Who acts, for incident timelines when the server has no tokens (the token's name wins).
  const user = localStorage.getItem("pharos.user");
  if (user) headers["X-Pharos-User"] = user;
  let payload = body;
  if (body !== undefined && typeof body !== "string") {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  const res = await fetch(path + query(params), { method, headers, body: payload });
  const raw = await res.text();
  if (text && res.ok) return raw;
  let json = null;
  try {
    json = raw ? JSON.parse(raw) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const message = (json && (json.error || (typeof json === "string" ? json : null))) || raw || res.statusText;
    throw new ApiError(message, res.status, json && json.errorType);
  }
  if (json && typeof json === "object" && !Array.isArray(json) && json.status === "success") {
    return json.data;
  }
  return json;
}

export const prom = {
  query: (q, time) => api("/api/v1/query", { params: { query: q, time } }),
  range: (q, start, end, step) =>
    api("/api/v1/query_range", { params: { query: q, start, end, step } }),
  labels: (match) => api("/api/v1/labels", { params: { "match[]": match } }),
  values: (name, match) =>
    api(`/api/v1/label/${encodeURIComponent(name)}/values`, { params: { "match[]": match } }),
  parse: (q) => api("/api/v1/parse_query", { params: { query: q } }),
};

// Loki's query API (LogQL); times in Unix seconds, step in seconds.
// Grafana's encoding: streams carry their own labels only; each entry its structured
// metadata and parsed labels.
const CATEGORIZE = { "X-Loki-Response-Encoding-Flags": "categorize-labels" };

export const loki = {
  query: (q, time) => api("/loki/api/v1/query", { params: { query: q, time } }),
  labels: () => api("/loki/api/v1/labels"),
  values: (name) => api(`/loki/api/v1/label/${encodeURIComponent(name)}/values`),
  // Start and end in Unix seconds, or nanoseconds as BigInts (exact, for a line's
  // neighbours: Loki reads 19 digits as nanoseconds).
  range: (q, start, end, { limit, step, direction = "backward" } = {}) =>
    api("/loki/api/v1/query_range", { params: { query: q, start, end, limit, step, direction }, headers: CATEGORIZE }),
  // Loki's live tail over a WebSocket: onFrame gets each {streams, dropped_entries} frame,
  // onClose(code, reason) the end. A browser cannot set Authorization on a WebSocket, so
  // the token goes as the subprotocol "pharos.bearer.<base64url>" beside "pharos.v1".
  tail: (q, limit, onFrame, onClose) => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/loki/api/v1/tail${query({ query: q, limit })}`;
    const protocols = ["pharos.v1"];
    const token = getToken();
    if (token) {
      const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(token)))
        .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      protocols.push(`pharos.bearer.${b64}`);
    }
    const socket = new WebSocket(url, protocols);
    socket.onmessage = (e) => {
      try {
        onFrame(JSON.parse(e.data));
      } catch {
        // A frame that is not JSON is not Loki's: ignore it.
      }
    };
    socket.onclose = (e) => onClose(e.code, e.reason);
    return () => socket.close(1000);
  },
};

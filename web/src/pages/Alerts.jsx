// Alerts: firing and pending alerts grouped as Alertmanager groups them, rules with their
// health, silences (create from an alert, list, expire) and the stored alert history.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { t } from "../i18n.js";
import { navigate, useEscape } from "../state.js";
import { formatTime } from "../time.js";

function Labels({ labels }) {
  return (
    <span class="labels">
      {Object.entries(labels || {}).map(([k, v]) => <span class="label"><b>{k}</b>={v}</span>)}
    </span>
  );
}

function useLoad(loader, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const reload = () => loader().then((data) => setState({ data, error: null }),
    (e) => setState({ data: null, error: e.message }));
  useEffect(() => {
    reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return [state, reload];
}

export function SilenceForm({ labels, onDone, onCancel }) {
  useEscape(onCancel);
  const [matchers, setMatchers] = useState(
    Object.entries(labels || {}).filter(([k]) => k === "alertname" || k === "instance" || k === "job")
      .map(([name, value]) => ({ name, value, isRegex: false, isEqual: true })),
  );
  const [hours, setHours] = useState(2);
  const [createdBy, setCreatedBy] = useState(localStorage.getItem("pharos.user") || "");
  const [comment, setComment] = useState("");
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    localStorage.setItem("pharos.user", createdBy);
    try {
      const now = new Date();
      const res = await api("/api/v2/silences", {
        method: "POST",
        body: {
          matchers, createdBy, comment,
          startsAt: now.toISOString(),
          endsAt: new Date(now.getTime() + hours * 3600e3).toISOString(),
        },
      });
      onDone(res.silenceID);
    } catch (err) {
      setError(err.message);
    }
  };
  return (
    <form class="modal" onSubmit={submit} aria-label={t("silence.new")}>
      <h3>{t("silence.new")}</h3>
      {matchers.map((m, i) => (
        <div class="matcher-row">
          <input aria-label={t("silence.label")} value={m.name}
            onInput={(e) => setMatchers(matchers.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)))} />
          <select value={`${m.isEqual ? "" : "!"}${m.isRegex ? "~" : "="}`} aria-label={t("silence.operator")}
            onChange={(e) => setMatchers(matchers.map((x, j) => (j === i ? { ...x, isEqual: !e.target.value.startsWith("!"), isRegex: e.target.value.endsWith("~") } : x)))}>
            <option value="=">=</option><option value="!=">!=</option>
            <option value="~">=~</option><option value="!~">!~</option>
          </select>
          <input aria-label={t("silence.value")} value={m.value}
            onInput={(e) => setMatchers(matchers.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))} />
          <button type="button" class="icon" aria-label={t("silence.remove_matcher")}
            onClick={() => setMatchers(matchers.filter((_, j) => j !== i))}>×</button>
        </div>
      ))}
      <button type="button" onClick={() => setMatchers([...matchers, { name: "", value: "", isRegex: false, isEqual: true }])}>
        {t("silence.add_matcher")}
      </button>
      <label>{t("silence.duration_hours")} <input type="number" min="0.1" step="0.1" value={hours}
        onInput={(e) => setHours(Number(e.target.value))} /></label>
      <label>{t("silence.created_by")} <input name="createdBy" value={createdBy} required
        onInput={(e) => setCreatedBy(e.target.value)} /></label>
      <label>{t("silence.comment")} <textarea name="comment" value={comment} required
        onInput={(e) => setComment(e.target.value)} /></label>
      {error && <div class="error" role="alert">{error}</div>}
      <div class="actions">
        <button type="button" onClick={onCancel}>{t("common.cancel")}</button>
        <button type="submit" class="primary">{t("silence.create")}</button>
      </div>
    </form>
  );
}

function Groups() {
  const [state, reload] = useLoad(() => api("/api/v2/alerts/groups"), []);
  const [pending, reloadPending] = useLoad(
    () => api("/api/v1/alerts").then((d) => d.alerts.filter((a) => a.state === "pending")), []);
  const [silencing, setSilencing] = useState(null);
  useEffect(() => {
    const id = setInterval(() => { reload(); reloadPending(); }, 10000);
    return () => clearInterval(id);
  }, []);
  if (state.error) return <div class="error">{state.error}</div>;
  if (!state.data) return <div class="loading">{t("common.loading")}</div>;
  return (
    <div>
      {silencing && (
        <SilenceForm labels={silencing} onCancel={() => setSilencing(null)}
          onDone={() => { setSilencing(null); reload(); }} />
      )}
      {state.data.length === 0 && <div class="empty">{t("alerts.none")}</div>}
      {pending.data && pending.data.length > 0 && (
        <div class="card group pending">
          <div class="group-head"><span class="state pending">{t("state.pending")}</span></div>
          {pending.data.map((a) => (
            <div class="alert-row">
              <span class={`badge ${a.labels.severity || ""}`}>{a.labels.severity || "-"}</span>
              <div class="grow"><Labels labels={a.labels} />
                <div class="muted">{t("alerts.active_since", { time: formatTime(a.activeAt) })}</div></div>
            </div>
          ))}
        </div>
      )}
      {state.data.map((g) => (
        <div class="card group">
          <div class="group-head"><Labels labels={g.labels} /> <span class="muted">→ {g.receiver.name}</span></div>
          {g.alerts.map((a) => (
            <div class={`alert-row state-${a.status.state}`} data-fingerprint={a.fingerprint}>
              <span class={`badge ${a.labels.severity || ""}`}>{a.labels.severity || "-"}</span>
              <div class="grow">
                <div><Labels labels={a.labels} /></div>
                {a.annotations.summary && <div class="summary">{a.annotations.summary}</div>}
                <div class="muted">{t("alerts.since", { time: formatTime(a.startsAt) })}
                  {a.status.state === "suppressed" && ` · ${t("alerts.suppressed")}`}
                  {a.status.silencedBy.length > 0 && ` · ${t("alerts.silenced")}`}
                  {a.status.inhibitedBy.length > 0 && ` · ${t("alerts.inhibited")}`}</div>
              </div>
              <button onClick={() => setSilencing(a.labels)}>{t("alerts.silence")}</button>
              {a.generatorURL && (
                <button onClick={() => {
                  const u = new URL(a.generatorURL, location.href);
                  const q = u.searchParams.get("g0.expr");
                  navigate("/explore", new URLSearchParams({ q: JSON.stringify([q || ""]), range: "1h" }));
                }}>{t("alerts.graph")}</button>
              )}
            </div>
          ))}
        </div>
      ))}
    </div>
  );
}

function Rules() {
  const [state] = useLoad(() => api("/api/v1/rules"), []);
  if (state.error) return <div class="error">{state.error}</div>;
  if (!state.data) return <div class="loading">{t("common.loading")}</div>;
  if (!state.data.groups.length) return <div class="empty">{t("rules.none")}</div>;
  return (
    <div>
      {state.data.groups.map((g) => (
        <div class="card">
          <h3>{g.name} <span class="muted">{g.file} · {t("rules.every", { s: g.interval })} · {t("rules.took", { ms: (g.evaluationTime * 1000).toFixed(1) })}</span></h3>
          <table class="data">
            <thead><tr><th>{t("rules.rule")}</th><th>{t("rules.state")}</th><th>{t("rules.health")}</th><th>{t("rules.last")}</th></tr></thead>
            <tbody>
              {g.rules.map((r) => (
                <tr class={r.health === "err" ? "row-error" : ""}>
                  <td><b>{r.name}</b><div class="mono small">{r.query}</div>
                    {r.lastError && <div class="error small">{r.lastError}</div>}</td>
                  <td>{r.type === "alerting" ? <span class={`state ${r.state}`}>{t(`state.${r.state}`)}</span> : t("rules.recording")}</td>
                  <td><span class={`health ${r.health}`}>{t(`health.${r.health}`)}</span></td>
                  <td class="small">{formatTime(r.lastEvaluation)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </div>
  );
}

function Silences() {
  const [state, reload] = useLoad(() => api("/api/v2/silences"), []);
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState(null);
  const expire = async (id) => {
    try {
      await api(`/api/v2/silence/${id}`, { method: "DELETE" });
      reload();
    } catch (e) {
      setError(e.message);
    }
  };
  if (state.error) return <div class="error">{state.error}</div>;
  if (!state.data) return <div class="loading">{t("common.loading")}</div>;
  return (
    <div>
      <button class="primary" onClick={() => setCreating(true)}>{t("silence.new")}</button>
      {creating && <SilenceForm labels={{}} onCancel={() => setCreating(false)} onDone={() => { setCreating(false); reload(); }} />}
      {error && <div class="error">{error}</div>}
      {state.data.length === 0 && <div class="empty">{t("silence.none")}</div>}
      <table class="data">
        <tbody>
          {state.data.map((s) => (
            <tr class={`silence ${s.status.state}`} data-id={s.id}>
              <td><span class={`state ${s.status.state}`}>{t(`silence.state.${s.status.state}`)}</span></td>
              <td class="mono">{s.matchers.map((m) => `${m.name}${m.isEqual ? "" : "!"}${m.isRegex ? "~" : "="}"${m.value}"`).join(", ")}</td>
              <td>{s.comment}<div class="muted small">{s.createdBy} · {t("silence.until", { time: formatTime(s.endsAt) })}</div></td>
              <td>{s.status.state !== "expired" && <button onClick={() => expire(s.id)}>{t("silence.expire")}</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function History() {
  const [alertname, setAlertname] = useState("");
  const [state, setStateFilter] = useState("");
  const [rows, reload] = useLoad(() => api("/api/v1/alerts/history", { params: { alertname, state, limit: 500 } }), [alertname, state]);
  return (
    <div>
      <div class="toolbar">
        <label>{t("history.alertname")} <input value={alertname} onChange={(e) => setAlertname(e.target.value)} /></label>
        <label>{t("history.state")} <select value={state} onChange={(e) => setStateFilter(e.target.value)}>
          <option value="">{t("history.any")}</option>
          {["pending", "firing", "resolved"].map((s) => <option value={s}>{t(`state.${s}`)}</option>)}
        </select></label>
        <button onClick={reload}>{t("common.refresh")}</button>
      </div>
      {rows.error && <div class="error">{rows.error}</div>}
      <table class="data">
        <thead><tr><th>{t("history.time")}</th><th>{t("history.state")}</th><th>{t("history.alert")}</th><th>{t("explore.value")}</th></tr></thead>
        <tbody>
          {(rows.data || []).map((r) => (
            <tr><td class="small">{formatTime(r.time)}</td><td><span class={`state ${r.state}`}>{t(`state.${r.state}`)}</span></td>
              <td><Labels labels={r.labels} /></td><td class="mono">{r.value}</td></tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Alerts({ params }) {
  const tab = params.get("tab") || "alerts";
  const tabs = ["alerts", "rules", "silences", "history"];
  return (
    <section class="page alerts">
      <div class="tabs" role="tablist">
        {tabs.map((x) => (
          <button role="tab" aria-selected={x === tab} class={x === tab ? "active" : ""}
            onClick={() => navigate("/alerts", new URLSearchParams({ tab: x }))}>{t(`alerts.tab.${x}`)}</button>
        ))}
      </div>
      {tab === "alerts" && <Groups />}
      {tab === "rules" && <Rules />}
      {tab === "silences" && <Silences />}
      {tab === "history" && <History />}
    </section>
  );
}

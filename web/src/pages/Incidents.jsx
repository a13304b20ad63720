// Incidents: the list with level and state filters and live clocks, an incident's page
// with its timeline, linked alerts, a chart of the alert's expression around the
// incident, roles, notes, state buttons and the postmortem editor.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { Chart, seriesName } from "../components/Chart.jsx";
import { t } from "../i18n.js";
import { navigate, settings, useEscape, useTick } from "../state.js";
import { formatDuration, formatTime } from "../time.js";

const LEVELS = ["P0", "P1", "P2", "P3"];
const STATES = ["triggered", "acknowledged", "mitigated", "resolved", "closed"];

// A clock's text and class from its due time, as of `now`.
export function clock(c, now) {
  if (!c || !c.dueAt) return { text: "", cls: "" };
  if (c.stopped) return { text: c.breached ? t("clock.met_late") : t("clock.met"), cls: c.breached ? "late" : "met" };
  const left = (new Date(c.dueAt).getTime() - now) / 1000;
  if (left < 0 || c.breached) return { text: t("clock.breached", { d: formatDuration(left) }), cls: "breached" };
  return { text: t("clock.left", { d: formatDuration(left) }), cls: left < 300 ? "soon" : "running" };
}

export function Incidents({ params }) {
  const level = params.get("level") || "";
  const state = params.get("state") || "";
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [opening, setOpening] = useState(false);
  const now = useTick(1000);
  const load = () => api("/api/v1/incidents", { params: { level, state } }).then(setData, (e) => setError(e.message));
  useEffect(() => {
    load();
    const id = setInterval(load, 10000);
    return () => clearInterval(id);
  }, [level, state]);
  const filter = (k, v) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v); else p.delete(k);
    navigate("/incidents", p);
  };
  return (
    <section class="page incidents">
      <div class="toolbar">
        <label>{t("incidents.level")} <select value={level} onChange={(e) => filter("level", e.target.value)}>
          <option value="">{t("history.any")}</option>{LEVELS.map((l) => <option value={l}>{l}</option>)}
        </select></label>
        <label>{t("incidents.state")} <select value={state} onChange={(e) => filter("state", e.target.value)}>
          <option value="">{t("history.any")}</option>{STATES.map((s) => <option value={s}>{t(`incident.${s}`)}</option>)}
        </select></label>
        <button class="primary" onClick={() => setOpening(true)}>{t("incidents.open")}</button>
      </div>
      {opening && <OpenForm onCancel={() => setOpening(false)} onDone={(id) => navigate(`/incidents/${id}`)} />}
      {error && <div class="error">{error}</div>}
      {data && data.length === 0 && <div class="empty">{t("incidents.none")}</div>}
      {data && data.length > 0 && (
        <table class="data incidents-table">
          <thead><tr><th>ID</th><th>{t("incidents.level")}</th><th>{t("incidents.state")}</th><th>{t("incidents.title")}</th>
            <th>{t("incidents.response")}</th><th>{t("incidents.resolution")}</th><th>{t("incidents.opened")}</th></tr></thead>
          <tbody>
            {data.map((i) => {
              const r = clock(i.responseClock, now);
              const s = clock(i.resolutionClock, now);
              return (
                <tr class={`incident level-${i.level}`} data-id={i.id} tabIndex={0}
                  onClick={() => navigate(`/incidents/${i.id}`)}
                  onKeyDown={(e) => e.key === "Enter" && navigate(`/incidents/${i.id}`)}>
                  <td>INC-{i.id}</td><td><span class={`level ${i.level}`}>{i.level}</span></td>
                  <td><span class={`istate ${i.state}`}>{t(`incident.${i.state}`)}</span></td>
                  <td>{i.title}</td>
                  <td class={`clock ${r.cls}`}>{r.text}</td><td class={`clock ${s.cls}`}>{s.text}</td>
                  <td class="small">{formatTime(i.createdAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function OpenForm({ onCancel, onDone }) {
  useEscape(onCancel);
  const [title, setTitle] = useState("");
  const [level, setLevel] = useState("P2");
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    try {
      const inc = await api("/api/v1/incidents", { method: "POST", body: { title, level } });
      onDone(inc.id);
    } catch (err) {
      setError(err.message);
    }
  };
  return (
    <form class="modal" onSubmit={submit}>
      <h3>{t("incidents.open")}</h3>
      <label>{t("incidents.title")} <input value={title} required onInput={(e) => setTitle(e.target.value)} /></label>
      <label>{t("incidents.level")} <select value={level} onChange={(e) => setLevel(e.target.value)}>
        {LEVELS.map((l) => <option value={l}>{l}</option>)}</select></label>
      {error && <div class="error">{error}</div>}
      <div class="actions"><button type="button" onClick={onCancel}>{t("common.cancel")}</button>
        <button type="submit" class="primary">{t("incidents.open")}</button></div>
    </form>
  );
}

const ACTIONS = [
  ["ack", "acknowledged"], ["mitigate", "mitigated"], ["resolve", "resolved"], ["close", "closed"],
];

export function Incident({ id }) {
  const [inc, setInc] = useState(null);
  const [error, setError] = useState(null);
  const [note, setNote] = useState("");
  const [postmortem, setPostmortem] = useState(null);
  const [chart, setChart] = useState(null);
  const now = useTick(1000);
  const load = () => api(`/api/v1/incidents/${id}`).then(setInc, (e) => setError(e.message));
  useEffect(() => {
    load();
    const timer = setInterval(load, 10000);
    return () => clearInterval(timer);
  }, [id]);

  // The chart: the expression of the first linked alert's rule, from an hour before.
  useEffect(() => {
    if (!inc || !inc.alerts || !inc.alerts.length) return;
    const name = inc.alerts[0].labels.alertname;
    api("/api/v1/rules", { params: { type: "alert", "rule_name[]": name } }).then(async (rules) => {
      const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.name === name);
      if (!rule) return;
      const start = new Date(inc.createdAt).getTime() / 1000 - 3600;
      const end = inc.resolvedAt ? new Date(inc.resolvedAt).getTime() / 1000 + 900 : Date.now() / 1000;
      const step = Math.max(15, Math.round((end - start) / 250));
      const data = await api("/api/v1/query_range", { params: { query: rule.query, start, end, step } });
      setChart({ query: rule.query, series: data.result.map((r) => ({ name: seriesName(r.metric), values: r.values })) });
    }).catch(() => setChart(null));
  }, [inc && inc.alerts && inc.alerts.length, inc && inc.resolvedAt]);

  const act = async (action) => {
    setError(null);
    try {
      setInc(await api(`/api/v1/incidents/${id}/${action}`, { method: "POST", body: note ? { note } : {} }));
      setNote("");
    } catch (e) {
      setError(e.message);
    }
  };
  const addNote = async () => {
    try {
      setInc(await api(`/api/v1/incidents/${id}/notes`, { method: "POST", body: { text: note } }));
      setNote("");
    } catch (e) {
      setError(e.message);
    }
  };
  const setRole = async (role, person) => {
    try {
      setInc(await api(`/api/v1/incidents/${id}/roles`, { method: "PUT", body: { role, person } }));
    } catch (e) {
      setError(e.message);
    }
  };
  const editPostmortem = async () => {
    try {
      setPostmortem(await api(`/api/v1/incidents/${id}/postmortem`, { text: true }));
    } catch (e) {
      setError(e.message);
    }
  };
  const savePostmortem = async () => {
    try {
      await api(`/api/v1/incidents/${id}/postmortem`, { method: "PUT", body: postmortem, contentType: "text/markdown" });
      setPostmortem(null);
      load();
    } catch (e) {
      setError(e.message);
    }
  };

  if (error && !inc) return <section class="page"><div class="error">{error}</div></section>;
  if (!inc) return <section class="page"><div class="loading">{t("common.loading")}</div></section>;
  const r = clock(inc.responseClock, now);
  const s = clock(inc.resolutionClock, now);
  const stateIndex = STATES.indexOf(inc.state);
  return (
    <section class="page incident" data-state={inc.state}>
      <a href="#/incidents">← {t("nav.incidents")}</a>
      <h2><span class={`level ${inc.level}`}>{inc.level}</span> INC-{inc.id} {inc.title}</h2>
      <div class="incident-head">
        <span class={`istate ${inc.state}`}>{t(`incident.${inc.state}`)}</span>
        <span class={`clock ${r.cls}`}>{t("incidents.response")}: {r.text}</span>
        <span class={`clock ${s.cls}`}>{t("incidents.resolution")}: {s.text}</span>
        <span class="muted">{t("incidents.opened_by", { who: inc.createdBy, time: formatTime(inc.createdAt) })}</span>
      </div>
      <div class="actions">
        {ACTIONS.map(([action, target]) => (
          <button class="primary" disabled={STATES.indexOf(target) <= stateIndex} onClick={() => act(action)}>
            {t(`action.${action}`)}
          </button>
        ))}
        <button onClick={editPostmortem}>{t("incident.postmortem")}</button>
      </div>
      {error && <div class="error" role="alert">{error}</div>}
      {postmortem !== null && (
        <div class="card postmortem">
          <h3>{t("incident.postmortem")}</h3>
          <textarea class="mono" rows={24} value={postmortem} onInput={(e) => setPostmortem(e.target.value)} />
          <div class="actions"><button onClick={() => setPostmortem(null)}>{t("common.cancel")}</button>
            <button class="primary" onClick={savePostmortem}>{t("common.save")}</button></div>
        </div>
      )}
      <div class="columns">
        <div class="card grow">
          <h3>{t("incident.timeline")}</h3>
          <ol class="timeline">
            {inc.timeline.map((e) => (
              <li class={`event ev-${e.kind}`}><span class="small muted">{formatTime(e.time)}</span>{" "}
                <b>{t(`event.${e.kind}`)}</b> <span class="muted">{e.actor}</span><div>{e.text}</div></li>
            ))}
          </ol>
          <div class="note-box">
            <textarea aria-label={t("incident.note")} placeholder={t("incident.note")} value={note}
              onInput={(e) => setNote(e.target.value)} />
            <button disabled={!note.trim()} onClick={addNote}>{t("incident.add_note")}</button>
          </div>
        </div>
        <div class="card side">
          <h3>{t("incident.roles")}</h3>
          {[["commander", "commander"], ["tech_lead", "techLead"], ["communications_lead", "communicationsLead"]].map(([role, key]) => (
            <label class="role">{t(`role.${role}`)}
              <input value={inc.roles[key]} onChange={(e) => setRole(role, e.target.value)} /></label>
          ))}
          <h3>{t("incident.alerts")}</h3>
          {inc.alerts.length === 0 && <div class="muted">{t("incident.no_alerts")}</div>}
          {inc.alerts.map((a) => (
            <div class="linked-alert"><span class={`state ${a.status}`}>{t(`state.${a.status}`)}</span>{" "}
              <span class="mono small">{seriesName(a.labels)}</span></div>
          ))}
        </div>
      </div>
      {chart && (
        <div class="card">
          <h3>{t("incident.chart")} <span class="mono small">{chart.query}</span></h3>
          <Chart series={chart.series} height={240} dark={settings.theme === "dark"} />
        </div>
      )}
    </section>
  );
}

// The console's shell: navigation, language, theme and API token, and the hash router.
import { render } from "preact";
import { useState } from "preact/hooks";
import { getToken, setToken } from "./api.js";
import { t } from "./i18n.js";
import { Alerts } from "./pages/Alerts.jsx";
import { Explore } from "./pages/Explore.jsx";
import { Incident, Incidents } from "./pages/Incidents.jsx";
import { Logs } from "./pages/Logs.jsx";
import { Status } from "./pages/Status.jsx";
import { TraceView, Traces } from "./pages/Traces.jsx";
import { update, useEscape, useRoute, useSettings } from "./state.js";
import "./style.css";

const NAV = [["/explore", "nav.explore"], ["/logs", "nav.logs"], ["/traces", "nav.traces"], ["/alerts", "nav.alerts"], ["/incidents", "nav.incidents"], ["/status", "nav.status"]];

function TokenDialog({ onClose }) {
  useEscape(onClose);
  const [value, setValue] = useState(getToken());
  return (
    <form class="modal" onSubmit={(e) => { e.preventDefault(); setToken(value.trim()); onClose(); location.reload(); }}>
      <h3>{t("token.title")}</h3>
      <p class="muted">{t("token.help")}</p>
      <input type="password" aria-label={t("token.title")} value={value} autocomplete="off"
        onInput={(e) => setValue(e.target.value)} />
      <div class="actions">
        <button type="button" onClick={onClose}>{t("common.cancel")}</button>
        <button type="submit" class="primary">{t("common.save")}</button>
      </div>
    </form>
  );
}

function App() {
  const s = useSettings();
  const route = useRoute();
  const [tokenOpen, setTokenOpen] = useState(false);
  document.documentElement.dataset.theme = s.theme;
  document.documentElement.lang = s.lang === "zh" ? "zh-CN" : "en";
  document.title = `Pharos · ${t(NAV.find(([p]) => route.path.startsWith(p))?.[1] || "nav.explore")}`;
  let page;
  const incident = /^\/incidents\/(\d+)$/.exec(route.path);
  const trace = /^\/traces\/([0-9a-fA-F]{1,32})$/.exec(route.path);
  if (incident) page = <Incident id={incident[1]} />;
  else if (trace) page = <TraceView id={trace[1]} key={trace[1]} />;
  else if (route.path.startsWith("/traces")) page = <Traces params={route.params} />;
  else if (route.path.startsWith("/alerts")) page = <Alerts params={route.params} />;
  else if (route.path.startsWith("/incidents")) page = <Incidents params={route.params} />;
  else if (route.path.startsWith("/status")) page = <Status />;
  else if (route.path.startsWith("/logs")) page = <Logs params={route.params} />;
  else page = <Explore params={route.params} key={route.path} />;
  return (
    <div class="shell">
      <header>
        <a class="brand" href="#/explore">Pharos</a>
        <nav>
          {NAV.map(([path, key]) => (
            <a href={`#${path}`} class={route.path.startsWith(path) ? "active" : ""}
              aria-current={route.path.startsWith(path) ? "page" : undefined}>{t(key)}</a>
          ))}
        </nav>
        <div class="settings">
          <button onClick={() => update({ lang: s.lang === "zh" ? "en" : "zh" })} aria-label={t("settings.language")}
            data-testid="lang">{t("settings.other_language")}</button>
          <button onClick={() => update({ theme: s.theme === "dark" ? "light" : "dark" })} aria-label={t("settings.theme")}>
            {s.theme === "dark" ? t("settings.light") : t("settings.dark")}
          </button>
          <button onClick={() => setTokenOpen(true)}>{getToken() ? t("token.set") : t("token.title")}</button>
        </div>
      </header>
      {tokenOpen && <TokenDialog onClose={() => setTokenOpen(false)} />}
      <main>{page}</main>
    </div>
  );
}

render(<App />, document.getElementById("app"));

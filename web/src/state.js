// Small shared state: language, theme and the hash route, with subscribers, so that any
// component can re-render when they change.
import { useEffect, useState } from "preact/hooks";

const listeners = new Set();

export const settings = {
  lang: localStorage.getItem("pharos.lang") || (navigator.language.startsWith("zh") ? "zh" : "en"),
  theme:
    localStorage.getItem("pharos.theme") ||
    (window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"),
};

export function update(changes) {
  Object.assign(settings, changes);
  if (changes.lang) localStorage.setItem("pharos.lang", changes.lang);
  if (changes.theme) localStorage.setItem("pharos.theme", changes.theme);
  for (const l of listeners) l();
}

export function useSettings() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((n) => n + 1);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return settings;
}

// "#/explore?q=..." -> {path: "/explore", params: URLSearchParams}
export function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/explore";
  const [path, search] = raw.split("?");
  return { path, params: new URLSearchParams(search || "") };
}

export function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

export function navigate(path, params) {
  const qs = params ? params.toString() : "";
  location.hash = qs ? `${path}?${qs}` : path;
}

// Replaces the hash without a history entry (for state kept in the URL as it changes).
export function replaceParams(path, params) {
  const qs = params.toString();
  history.replaceState(null, "", `#${path}${qs ? `?${qs}` : ""}`);
}

// Re-renders every `ms` (clocks counting down).
export function useTick(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

// Calls `onEscape` when Escape is pressed (modal dialogs close on it).
export function useEscape(onEscape) {
  useEffect(() => {
    const on = (e) => e.key === "Escape" && onEscape();
    window.addEventListener("keydown", on);
    return () => window.removeEventListener("keydown", on);
  }, [onEscape]);
}

// A page's query: its result, error and loading flag. load(fn) runs fn and keeps what it
// returns, or its error's message (and no result).
export function useLoad() {
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const load = async (fn) => {
    setLoading(true);
    setError(null);
    try {
      setResult(await fn());
    } catch (e) {
      setError(e.message);
      setResult(null);
    } finally {
      setLoading(false);
    }
  };
  return { result, setResult, error, setError, loading, load };
}

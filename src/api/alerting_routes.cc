// Prometheus's /api/v1/rules and /api/v1/alerts, Alertmanager's /api/v2 alerts and
// silences, and Pharos's alert and notification history.
#include <cmath>

#include <fmt/format.h>

#include "alerting/alerting.h"
#include "api/api.h"
#include "api/json_body.h"
#include "common/strings.h"
#include "common/units.h"
#include "meta/meta.h"
#include "rules/rules.h"

namespace pharos::api {
namespace {

using server::Method;
using server::Request;
using server::Response;

Response Unavailable503() { return server::NotReady("alerting is starting up or not available"); }

// Prometheus prints alert values with strconv.FormatFloat(v, 'e', -1, 64).
std::string GoExp(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  for (int precision = 0; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*e", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void AppendSeconds(std::string& out, int64_t ms) { out += fmt::format("{}", ms / 1000.0); }

void AppendPairs(std::string& out, const rules::LabelPairs& pairs) {
  out += '{';
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, pairs[i].first);
    out += ':';
    AppendJsonString(out, pairs[i].second);
  }
  out += '}';
}

// One alert as /api/v1/alerts and /api/v1/rules show it.
void AppendRuleAlert(std::string& out, const rules::Alert& a) {
  out += "{\"labels\":";
  model::AppendLabelsJson(out, a.labels);
  out += ",\"annotations\":";
  model::AppendLabelsJson(out, a.annotations);
  out += ",\"state\":\"" + std::string(rules::AlertStateName(a.state)) + "\"";
  out += ",\"activeAt\":\"" + alerting::FormatTime(a.active_at_ms) + "\"";
  out += ",\"value\":\"" + GoExp(a.value) + "\"}";
}

void AppendRule(std::string& out, const rules::RuleStatus& r) {
  bool alerting = !r.spec.alert.empty();
  out += "{";
  if (alerting) {
    out += "\"state\":\"" + std::string(rules::AlertStateName(r.state)) + "\",";
  }
  out += "\"name\":";
  AppendJsonString(out, r.spec.name());
  out += ",\"query\":";
  AppendJsonString(out, r.spec.expr);
  if (alerting) {
    out += ",\"duration\":";
    AppendSeconds(out, r.spec.for_ms);
    out += ",\"keepFiringFor\":";
    AppendSeconds(out, r.spec.keep_firing_for_ms);
  }
  out += ",\"labels\":";
  AppendPairs(out, r.spec.labels);
  if (alerting) {
    out += ",\"annotations\":";
    AppendPairs(out, r.spec.annotations);
    out += ",\"alerts\":[";
    for (size_t i = 0; i < r.alerts.size(); ++i) {
      if (i) out += ',';
      AppendRuleAlert(out, r.alerts[i]);
    }
    out += "]";
  }
  out += ",\"health\":\"";
  out += r.health == rules::RuleHealth::kOk      ? "ok"
         : r.health == rules::RuleHealth::kError ? "err"
                                                 : "unknown";
  out += "\"";
  if (!r.last_error.empty()) {
    out += ",\"lastError\":";
    AppendJsonString(out, r.last_error);
  }
  out += fmt::format(",\"evaluationTime\":{}", r.evaluation_seconds);
  out += ",\"lastEvaluation\":\"" + alerting::FormatTime(r.last_evaluation_ms) + "\"";
  out += alerting ? ",\"type\":\"alerting\"}" : ",\"type\":\"recording\"}";
}

bool Wanted(const std::vector<std::string>& filter, const std::string& value) {
  return filter.empty() || std::find(filter.begin(), filter.end(), value) != filter.end();
}

void Rules(const Request& req, Response& res, rules::Manager& m) {
  std::optional<std::string> type = req.FormValue("type");
  if (type && *type != "alert" && *type != "record") {
    res = Response::Error(400, "bad_data", "type: expected alert or record");
    return;
  }
  std::vector<std::string> names = req.FormValues("rule_name[]");
  std::vector<std::string> groups = req.FormValues("rule_group[]");
  std::vector<std::string> files = req.FormValues("file[]");
  std::string out = "{\"groups\":[";
  bool first_group = true;
  for (const rules::GroupStatus& g : m.Groups()) {
    if (!Wanted(groups, g.name) || !Wanted(files, g.file)) continue;
    std::string rules_json;
    bool first = true;
    for (const rules::RuleStatus& r : g.rules) {
      bool alerting = !r.spec.alert.empty();
      if (type && (*type == "alert") != alerting) continue;
      if (!Wanted(names, r.spec.name())) continue;
      if (!first) rules_json += ',';
      first = false;
      AppendRule(rules_json, r);
    }
    if (first && (type || !names.empty())) continue;  // filtered to nothing
    if (!first_group) out += ',';
    first_group = false;
    out += "{\"name\":";
    AppendJsonString(out, g.name);
    out += ",\"file\":";
    AppendJsonString(out, g.file);
    out += ",\"rules\":[" + rules_json + "]";
    out += ",\"interval\":";
    AppendSeconds(out, g.interval_ms);
    out += fmt::format(",\"limit\":{},\"evaluationTime\":{}", g.limit, g.evaluation_seconds);
    out += ",\"lastEvaluation\":\"" + alerting::FormatTime(g.last_evaluation_ms) + "\"}";
  }
  out += "]}";
  res = Response::JsonSuccess(out);
}

void PrometheusAlerts(Response& res, rules::Manager& m) {
  std::string out = "{\"alerts\":[";
  bool first = true;
  for (const rules::Alert& a : m.ActiveAlerts()) {
    if (!first) out += ',';
    first = false;
    AppendRuleAlert(out, a);
  }
  out += "]}";
  res = Response::JsonSuccess(out);
}

void AppendAmAlert(std::string& out, const alerting::AlertView& v) {
  const alerting::Alert& a = v.alert;
  out += "{\"annotations\":";
  model::AppendLabelsJson(out, a.annotations);
  out += ",\"endsAt\":\"" + alerting::FormatTime(a.ends_at_ms) + "\"";
  out += ",\"fingerprint\":\"" + a.fingerprint + "\"";
  out += ",\"receivers\":[";
  for (size_t i = 0; i < v.receivers.size(); ++i) {
    out += i ? "," : "";
    out += "{\"name\":" + JsonString(v.receivers[i]) + "}";
  }
  out += "],\"startsAt\":\"" + alerting::FormatTime(a.starts_at_ms) + "\"";
  out += ",\"status\":{\"inhibitedBy\":[";
  for (size_t i = 0; i < v.inhibited_by.size(); ++i) {
    out += (i ? "," : "") + JsonString(v.inhibited_by[i]);
  }
  out += "],\"silencedBy\":[";
  for (size_t i = 0; i < v.silenced_by.size(); ++i) {
    out += (i ? "," : "") + JsonString(v.silenced_by[i]);
  }
  out += "],\"state\":\"" + v.state() + "\"}";
  out += ",\"updatedAt\":\"" + alerting::FormatTime(a.updated_at_ms) + "\"";
  out += ",\"generatorURL\":" + JsonString(a.generator_url);
  out += ",\"labels\":";
  model::AppendLabelsJson(out, a.labels);
  out += "}";
}

// Alertmanager's boolean query parameters default to true.
bool Flag(const Request& req, std::string_view name) {
  std::optional<std::string> v = req.QueryParam(name);
  return !v || *v != "false";
}

Result<std::vector<model::Matcher>> Filters(const Request& req) {
  std::vector<model::Matcher> out;
  for (const std::string& f : req.FormValues("filter")) {
    Result<std::vector<model::Matcher>> m = alerting::ParseMatchers(f);
    if (!m.ok()) return InvalidArgument("filter: " + m.status().message());
    for (auto& x : *m) out.push_back(std::move(x));
  }
  return out;
}

bool Keep(const alerting::AlertView& v, const Request& req,
          const std::vector<model::Matcher>& filters) {
  if (!model::MatchesAll(filters, v.alert.labels)) return false;
  bool silenced = !v.silenced_by.empty(), inhibited = !v.inhibited_by.empty();
  if (silenced && !Flag(req, "silenced")) return false;
  if (inhibited && !Flag(req, "inhibited")) return false;
  if (!silenced && !inhibited && !Flag(req, "active")) return false;
  if (std::optional<std::string> r = req.QueryParam("receiver")) {
    bool any = false;
    for (const std::string& name : v.receivers) any = any || name == *r;
    if (!any) return false;
  }
  return true;
}

// Alertmanager answers errors as a JSON string or plain text; use text with a code.
void AmError(Response& res, const Status& s) {
  int code = s.code() == StatusCode::kNotFound             ? 404
             : s.code() == StatusCode::kInvalidArgument    ? 400
             : s.code() == StatusCode::kFailedPrecondition ? 400
                                                           : 500;
  res = Response::Text(code, JsonString(s.message()) + "\n", "application/json");
}

// Writes the alerts that pass the request's filters as a JSON array; false when none did.
bool AppendKept(std::string& out, const std::vector<alerting::AlertView>& alerts,
                const Request& req, const std::vector<model::Matcher>& filters) {
  out += '[';
  bool any = false;
  for (const alerting::AlertView& v : alerts) {
    if (!Keep(v, req, filters)) continue;
    if (any) out += ',';
    any = true;
    AppendAmAlert(out, v);
  }
  out += ']';
  return any;
}

void AmAlerts(const Request& req, Response& res, alerting::Dispatcher& d) {
  Result<std::vector<model::Matcher>> filters = Filters(req);
  if (!filters.ok()) return AmError(res, filters.status());
  std::string out;
  AppendKept(out, d.Alerts(), req, *filters);
  res = Response::Text(200, std::move(out), "application/json");
}

void AmGroups(const Request& req, Response& res, alerting::Dispatcher& d) {
  Result<std::vector<model::Matcher>> filters = Filters(req);
  if (!filters.ok()) return AmError(res, filters.status());
  std::string out = "[";
  bool first = true;
  for (const alerting::GroupView& g : d.Groups()) {
    std::string alerts;
    if (!AppendKept(alerts, g.alerts, req, *filters)) continue;
    if (!first) out += ',';
    first = false;
    out += "{\"alerts\":" + alerts + ",\"labels\":";
    model::AppendLabelsJson(out, g.group_labels);
    out += ",\"receiver\":{\"name\":" + JsonString(g.receiver) + "}}";
  }
  out += "]";
  res = Response::Text(200, std::move(out), "application/json");
}

Result<std::vector<alerting::Alert>> ParsePostableAlerts(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) {
    return InvalidArgument("the body is not valid JSON");
  }
  simdjson::dom::array arr;
  if (doc.get(arr) != simdjson::SUCCESS) return InvalidArgument("expected a JSON array of alerts");
  std::vector<alerting::Alert> out;
  size_t i = 0;
  for (simdjson::dom::element e : arr) {
    std::string at = fmt::format("alerts[{}]", i++);
    if (out.size() >= 10'000) return InvalidArgument("more than 10000 alerts in one request");
    simdjson::dom::object obj;
    if (e.get(obj) != simdjson::SUCCESS) return InvalidArgument(at + ": expected an object");
    alerting::Alert a;
    for (std::string_view field : {"labels", "annotations"}) {
      simdjson::dom::element m;
      if (obj.at_key(field).get(m) != simdjson::SUCCESS) continue;
      simdjson::dom::object mo;
      if (m.get(mo) != simdjson::SUCCESS) {
        return InvalidArgument(fmt::format("{}.{}: expected an object", at, field));
      }
      for (auto [k, v] : mo) {
        std::string_view sv;
        if (v.get(sv) != simdjson::SUCCESS) {
          return InvalidArgument(fmt::format("{}.{}.{}: expected a string", at, field, k));
        }
        if (field == "labels" && !IsValidLabelName(k)) {
          return InvalidArgument(fmt::format("{}.labels: invalid label name \"{}\"", at, k));
        }
        (field == "labels" ? a.labels : a.annotations).push_back({std::string(k), std::string(sv)});
      }
    }
    if (a.labels.empty()) return InvalidArgument(at + ".labels: at least one label is required");
    for (std::string_view field : {"startsAt", "endsAt"}) {
      Result<std::optional<std::string>> t = StringField(obj, field);
      if (!t.ok()) return InvalidArgument(at + "." + t.status().message());
      if (!*t || (*t)->empty()) continue;
      Result<int64_t> ms = ParseTimestampMs(**t);
      if (!ms.ok())
        return InvalidArgument(fmt::format("{}.{}: {}", at, field, ms.status().message()));
      (field == "startsAt" ? a.starts_at_ms : a.ends_at_ms) = *ms;
    }
    Result<std::optional<std::string>> gen = StringField(obj, "generatorURL");
    if (!gen.ok()) return InvalidArgument(at + "." + gen.status().message());
    if (*gen) a.generator_url = **gen;
    out.push_back(std::move(a));
  }
  return out;
}

void AppendSilence(std::string& out, const alerting::Silence& s, int64_t now) {
  out += "{\"id\":" + JsonString(s.id);
  out += ",\"status\":{\"state\":\"" + std::string(s.State(now)) + "\"}";
  out += ",\"updatedAt\":\"" + alerting::FormatTime(s.updated_at_ms) + "\"";
  out += ",\"comment\":" + JsonString(s.comment);
  out += ",\"createdBy\":" + JsonString(s.created_by);
  out += ",\"endsAt\":\"" + alerting::FormatTime(s.ends_at_ms) + "\"";
  out += ",\"matchers\":[";
  for (size_t i = 0; i < s.matchers.size(); ++i) {
    const model::Matcher& m = s.matchers[i];
    bool regex =
        m.type() == model::MatchType::kRegexMatch || m.type() == model::MatchType::kRegexNoMatch;
    bool equal = m.type() == model::MatchType::kEqual || m.type() == model::MatchType::kRegexMatch;
    out += fmt::format("{}{{\"isEqual\":{},\"isRegex\":{},\"name\":{},\"value\":{}}}", i ? "," : "",
                       equal, regex, JsonString(m.name()), JsonString(m.value()));
  }
  out += "],\"startsAt\":\"" + alerting::FormatTime(s.starts_at_ms) + "\"}";
}

Result<alerting::Silence> ParseSilence(const std::string& body, int64_t now_ms) {
  simdjson::dom::parser parser;
  Result<simdjson::dom::object> obj = ParseJsonObject(parser, body);
  if (!obj.ok()) return obj.status();
  alerting::Silence s;
  for (std::string_view field : {"id", "createdBy", "comment", "startsAt", "endsAt"}) {
    Result<std::optional<std::string>> v = StringField(*obj, field);
    if (!v.ok()) return v.status();
    if (!*v) continue;
    if (field == "id") s.id = **v;
    if (field == "createdBy") s.created_by = **v;
    if (field == "comment") s.comment = **v;
    if (field == "startsAt" || field == "endsAt") {
      Result<int64_t> ms = ParseTimestampMs(**v);
      if (!ms.ok()) return InvalidArgument(fmt::format("{}: {}", field, ms.status().message()));
      (field == "startsAt" ? s.starts_at_ms : s.ends_at_ms) = *ms;
    }
  }
  if (s.ends_at_ms == 0) return InvalidArgument("endsAt: required");
  if (s.starts_at_ms == 0) s.starts_at_ms = now_ms;
  if (s.created_by.size() > 1000 || s.comment.size() > 64 * 1024) {
    return InvalidArgument("createdBy or comment: too long");
  }
  simdjson::dom::array matchers;
  if ((*obj).at_key("matchers").get(matchers) != simdjson::SUCCESS) {
    return InvalidArgument("matchers: expected a list of {name, value, isRegex, isEqual}");
  }
  size_t i = 0;
  for (simdjson::dom::element m : matchers) {
    std::string at = fmt::format("matchers[{}]", i++);
    simdjson::dom::object mo;
    if (m.get(mo) != simdjson::SUCCESS) return InvalidArgument(at + ": expected an object");
    std::string_view name, value;
    if (mo.at_key("name").get(name) != simdjson::SUCCESS) {
      return InvalidArgument(at + ".name: required string");
    }
    if (mo.at_key("value").get(value) != simdjson::SUCCESS) {
      return InvalidArgument(at + ".value: required string");
    }
    bool regex = false, equal = true;
    if (mo.at_key("isRegex").get(regex) != simdjson::SUCCESS) regex = false;
    if (mo.at_key("isEqual").get(equal) != simdjson::SUCCESS) equal = true;
    model::MatchType op =
        regex ? (equal ? model::MatchType::kRegexMatch : model::MatchType::kRegexNoMatch)
              : (equal ? model::MatchType::kEqual : model::MatchType::kNotEqual);
    Result<model::Matcher> lm = alerting::MakeMatcher(op, std::string(name), std::string(value));
    if (!lm.ok()) return InvalidArgument(at + ": " + lm.status().message());
    s.matchers.push_back(std::move(*lm));
  }
  return s;
}

void History(const Request& req, Response& res, meta::Store& store, bool notifications) {
  std::string sql = notifications
                        ? "SELECT ts_ms, receiver, integration, group_key, status, outcome, "
                          "attempts, alerts, error FROM notifications WHERE ts_ms >= ?1 AND "
                          "ts_ms <= ?2"
                        : "SELECT ts_ms, fingerprint, alertname, state, labels, annotations, "
                          "value, rule_group FROM alert_events WHERE ts_ms >= ?1 AND ts_ms <= ?2";
  int64_t start = 0, end = std::numeric_limits<int64_t>::max();
  for (const char* name : {"start", "end"}) {
    if (std::optional<std::string> v = req.FormValue(name)) {
      Result<int64_t> ms = ParseTimestampMs(*v);
      if (!ms.ok()) {
        res = Response::Error(400, "bad_data", fmt::format("{}: {}", name, ms.status().message()));
        return;
      }
      (std::string_view(name) == "start" ? start : end) = *ms;
    }
  }
  std::vector<meta::Value> params = {start, end};
  auto filter = [&](const char* param, const char* column) {
    if (std::optional<std::string> v = req.FormValue(param)) {
      params.emplace_back(*v);
      sql += fmt::format(" AND {} = ?{}", column, params.size());
    }
  };
  if (notifications) {
    filter("receiver", "receiver");
    filter("outcome", "outcome");
    if (std::optional<std::string> v = req.FormValue("alertname")) {
      params.emplace_back("%\"alertname\":" + JsonString(*v) + "%");
      sql += fmt::format(" AND alerts LIKE ?{}", params.size());
    }
  } else {
    filter("alertname", "alertname");
    filter("state", "state");
    filter("fingerprint", "fingerprint");
  }
  int64_t limit = 1000;
  if (std::optional<std::string> v = req.FormValue("limit")) {
    limit = std::strtoll(v->c_str(), nullptr, 10);
    if (limit <= 0 || limit > 100'000) {
      res = Response::Error(400, "bad_data", "limit: expected 1..100000");
      return;
    }
  }
  sql += fmt::format(" ORDER BY ts_ms DESC, id DESC LIMIT {}", limit);
  Result<std::vector<meta::Row>> rows = store.Query(sql, params);
  if (!rows.ok()) {
    res = Response::FromStatus(rows.status());
    return;
  }
  std::string out = "[";
  for (size_t i = 0; i < rows->size(); ++i) {
    const meta::Row& r = (*rows)[i];
    if (i) out += ',';
    if (notifications) {
      out += fmt::format(
          "{{\"time\":\"{}\",\"receiver\":{},\"integration\":{},\"groupKey\":{},\"status\":{},"
          "\"outcome\":{},\"attempts\":{},\"alerts\":{},\"error\":{}}}",
          alerting::FormatTime(r.Int(0)), JsonString(r.Text(1)), JsonString(r.Text(2)),
          JsonString(r.Text(3)), JsonString(r.Text(4)), JsonString(r.Text(5)), r.Int(6), r.Text(7),
          JsonString(r.Text(8)));
    } else {
      out += fmt::format(
          "{{\"time\":\"{}\",\"fingerprint\":{},\"alertname\":{},\"state\":{},\"labels\":{},"
          "\"annotations\":{},\"value\":\"{}\",\"group\":{}}}",
          alerting::FormatTime(r.Int(0)), JsonString(r.Text(1)), JsonString(r.Text(2)),
          JsonString(r.Text(3)), r.Text(4), r.Text(5), GoExp(r.Double(6)), JsonString(r.Text(7)));
    }
  }
  out += "]";
  res = Response::JsonSuccess(out);
}

}  // namespace

void RegisterAlertingRoutes(server::Router& router, const Services& services) {
  // Every route runs on the handler pool: the dispatcher and the rule manager hold their
  // locks while they write meta.db (silences, the notification log), so even a read may
  // wait on the disk, and an I/O thread must never wait.
  using config::kScopeRead;
  using config::kScopeWrite;
  const Services* s = &services;
  router.HandleControl(Method::kGet, "/api/v1/rules", kScopeRead,
                       [s](const Request& req, Response& res) {
                         rules::Manager* m = s->Get<rules::Manager>();
                         if (!m) return void(res = Unavailable503());
                         Rules(req, res, *m);
                       });
  router.HandleControl(Method::kGet, "/api/v1/alerts", kScopeRead,
                       [s](const Request&, Response& res) {
                         rules::Manager* m = s->Get<rules::Manager>();
                         if (!m) return void(res = Unavailable503());
                         PrometheusAlerts(res, *m);
                       });
  router.HandleControl(Method::kGet, "/api/v2/alerts", kScopeRead,
                       [s](const Request& req, Response& res) {
                         alerting::Dispatcher* d = s->Get<alerting::Dispatcher>();
                         if (!d) return void(res = Unavailable503());
                         AmAlerts(req, res, *d);
                       });
  router.HandleControl(
      Method::kPost, "/api/v2/alerts", kScopeWrite, [s](const Request& req, Response& res) {
        alerting::Dispatcher* d = s->Get<alerting::Dispatcher>();
        if (!d) return void(res = Unavailable503());
        Result<std::vector<alerting::Alert>> alerts = ParsePostableAlerts(req.body());
        if (!alerts.ok()) return AmError(res, alerts.status());
        d->Insert(std::move(*alerts));
        res = Response::Text(200, "", "application/json");
      });
  router.HandleControl(Method::kGet, "/api/v2/alerts/groups", kScopeRead,
                       [s](const Request& req, Response& res) {
                         alerting::Dispatcher* d = s->Get<alerting::Dispatcher>();
                         if (!d) return void(res = Unavailable503());
                         AmGroups(req, res, *d);
                       });
  router.HandleControl(
      Method::kGet, "/api/v2/silences", kScopeRead, [s](const Request& req, Response& res) {
        alerting::Dispatcher* d = s->Get<alerting::Dispatcher>();
        if (!d) return void(res = Unavailable503());
        Result<std::vector<model::Matcher>> filters = Filters(req);
        if (!filters.ok()) return AmError(res, filters.status());
        int64_t now = d->NowMs();
        std::vector<alerting::Silence> all = d->Silences();
        // Active first, then pending, then expired, as Alertmanager sorts them.
        auto rank = [now](const alerting::Silence& x) {
          std::string_view st = x.State(now);
          return st == "active" ? 0 : st == "pending" ? 1 : 2;
        };
        std::stable_sort(all.begin(), all.end(),
                         [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
        std::string out = "[";
        bool first = true;
        for (const alerting::Silence& x : all) {
          bool keep = true;
          for (const model::Matcher& f : *filters) {
            bool any = false;
            for (const model::Matcher& m : x.matchers) {
              any = any || (m.name() == f.name() && f.Matches({{m.name(), m.value()}}));
            }
            keep = keep && any;
          }
          if (!keep) continue;
          if (!first) out += ',';
          first = false;
          AppendSilence(out, x, now);
        }
        out += "]";
        res = Response::Text(200, out, "application/json");
      });
  router.HandleControl(
      Method::kPost, "/api/v2/silences", kScopeWrite, [s](const Request& req, Response& res) {
        alerting::Dispatcher* d = s->Get<alerting::Dispatcher>();
        if (!d) return void(res = Unavailable503());
        Result<alerting::Silence> silence = ParseSilence(req.body(), d->NowMs());
        if (!silence.ok()) return AmError(res, silence.status());
        if (silence->created_by.empty()) silence->created_by = std::string(req.principal());
        Result<std::string> id = d->UpsertSilence(std::move(*silence));
        if (!id.ok()) return AmError(res, id.status());
        res = Response::Text(200, "{\"silenceID\":" + JsonString(*id) + "}", "application/json");
      });
  auto silence_id = [](const Request& req) {
    return std::string(req.path().substr(std::string_view("/api/v2/silence/").size()));
  };
  router.HandlePrefix(
      Method::kGet, "/api/v2/silence/", kScopeRead,
      [s, silence_id](const Request& req, Response& res) {
        alerting::Dispatcher* d = s->Get<alerting::Dispatcher>();
        if (!d) return void(res = Unavailable503());
        Result<alerting::Silence> x = d->GetSilence(silence_id(req));
        if (!x.ok()) return AmError(res, x.status());
        std::string out;
        AppendSilence(out, *x, d->NowMs());
        res = Response::Text(200, out, "application/json");
      },
      "/api/v2/silence/:id", server::Router::Runs::kControl);
  router.HandlePrefix(
      Method::kDelete, "/api/v2/silence/", kScopeWrite,
      [s, silence_id](const Request& req, Response& res) {
        alerting::Dispatcher* d = s->Get<alerting::Dispatcher>();
        if (!d) return void(res = Unavailable503());
        Status st = d->ExpireSilence(silence_id(req));
        if (!st.ok()) return AmError(res, st);
        res = Response::Text(200, "", "application/json");
      },
      "/api/v2/silence/:id", server::Router::Runs::kControl);
  router.HandleControl(
      Method::kGet, "/api/v2/receivers", kScopeRead, [s](const Request&, Response& res) {
        alerting::Dispatcher* d = s->Get<alerting::Dispatcher>();
        if (!d) return void(res = Unavailable503());
        std::string out = "[";
        alerting::Config c = d->config();
        for (size_t i = 0; i < c.receivers.size(); ++i) {
          out += (i ? "," : "") + std::string("{\"name\":") + JsonString(c.receivers[i].name) + "}";
        }
        res = Response::Text(200, out + "]", "application/json");
      });
  // Alertmanager's status shape (amtool's `config show`, Grafana's data source): no
  // clustering; the configuration as loaded, secrets hidden.
  int64_t started_ms = UnixNowMs();
  router.HandleControl(
      Method::kGet, "/api/v2/status", kScopeRead, [s, started_ms](const Request&, Response& res) {
        alerting::Dispatcher* d = s->Get<alerting::Dispatcher>();
        if (!d) return void(res = Unavailable503());
        std::string out =
            "{\"cluster\":{\"status\":\"disabled\",\"peers\":[]},\"config\":{\"original\":";
        AppendJsonString(out, d->config().original);
        out += "},\"uptime\":\"" + alerting::FormatTime(started_ms) + "\",";
        out +=
            "\"versionInfo\":{\"branch\":\"\",\"buildDate\":\"\",\"buildUser\":\"\","
            "\"goVersion\":\"\",\"revision\":\"\",\"version\":\"pharos\"}}";
        res = Response::Text(200, out, "application/json");
      });
  router.HandleControl(Method::kGet, "/api/v1/alerts/history", kScopeRead,
                       [s](const Request& req, Response& res) {
                         meta::Store* store = s->Get<meta::Store>();
                         if (!store) return void(res = Unavailable503());
                         History(req, res, *store, false);
                       });
  router.HandleControl(Method::kGet, "/api/v1/notifications", kScopeRead,
                       [s](const Request& req, Response& res) {
                         meta::Store* store = s->Get<meta::Store>();
                         if (!store) return void(res = Unavailable503());
                         History(req, res, *store, true);
                       });
}

}  // namespace pharos::api

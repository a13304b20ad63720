// /api/v1/incidents: the incident lifecycle over HTTP (docs/api.md).
#include <fmt/format.h>

#include "alerting/alerting.h"
#include "api/api.h"
#include "api/json_body.h"
#include "common/strings.h"
#include "common/units.h"
#include "incidents/incidents.h"

namespace pharos::api {
namespace {

using server::Method;
using server::Request;
using server::Response;

std::string Actor(const Request& req) {
  if (!req.principal().empty()) return std::string(req.principal());
  if (std::optional<std::string_view> user = req.Header("X-Pharos-User")) {
    std::string u(Trim(*user));
    if (!u.empty() && u.size() <= 200) return u;
  }
  return "anonymous";
}

std::string Time(int64_t ms) { return ms ? "\"" + alerting::FormatTime(ms) + "\"" : "null"; }

std::string IncidentJson(const incidents::Incident& i, int64_t now) {
  std::string out = fmt::format(
      "{{\"id\":{},\"title\":{},\"level\":\"{}\",\"state\":\"{}\",\"groupKey\":{},"
      "\"labels\":{},\"createdAt\":{},\"createdBy\":{},\"acknowledgedAt\":{},"
      "\"acknowledgedBy\":{},\"mitigatedAt\":{},\"mitigatedBy\":{},\"resolvedAt\":{},"
      "\"resolvedBy\":{},\"closedAt\":{},\"closedBy\":{}",
      i.id, JsonString(i.title), incidents::LevelName(i.level), incidents::StateName(i.state),
      JsonString(i.group_key), i.labels_json, Time(i.created_ms), JsonString(i.created_by),
      Time(i.acknowledged_ms), JsonString(i.acknowledged_by), Time(i.mitigated_ms),
      JsonString(i.mitigated_by), Time(i.resolved_ms), JsonString(i.resolved_by), Time(i.closed_ms),
      JsonString(i.closed_by));
  // Clocks: the deadline, whether it was breached, and what is left (negative once late).
  bool responded = i.state != incidents::State::kTriggered;
  bool resolved = i.state >= incidents::State::kResolved;
  out += fmt::format(
      ",\"responseClock\":{{\"dueAt\":{},\"breached\":{},\"stopped\":{},\"remainingSeconds\":{}}}",
      Time(i.respond_by_ms), i.response_breached, responded,
      responded ? 0.0 : static_cast<double>(i.respond_by_ms - now) / 1000);
  out += fmt::format(
      ",\"resolutionClock\":{{\"dueAt\":{},\"breached\":{},\"stopped\":{},\"remainingSeconds\":{}}"
      "}",
      Time(i.resolve_by_ms), i.resolution_breached, resolved,
      resolved ? 0.0 : static_cast<double>(i.resolve_by_ms - now) / 1000);
  out +=
      fmt::format(",\"escalation\":{{\"policy\":{},\"stepsNotified\":{},\"nextAt\":{}}}",
                  JsonString(i.escalation_policy), i.escalation_step, Time(i.next_escalation_ms));
  out += fmt::format(",\"roles\":{{\"commander\":{},\"techLead\":{},\"communicationsLead\":{}}}",
                     JsonString(i.commander), JsonString(i.tech_lead),
                     JsonString(i.communications_lead));
  out += fmt::format(",\"hasPostmortem\":{}", i.has_postmortem);
  if (!i.timeline.empty()) {
    out += ",\"timeline\":[";
    for (size_t k = 0; k < i.timeline.size(); ++k) {
      const incidents::Event& e = i.timeline[k];
      out += fmt::format("{}{{\"id\":{},\"time\":{},\"kind\":{},\"actor\":{},\"text\":{}}}",
                         k ? "," : "", e.id, Time(e.ts_ms), JsonString(e.kind), JsonString(e.actor),
                         JsonString(e.text));
    }
    out += "],\"alerts\":[";
    for (size_t k = 0; k < i.alerts.size(); ++k) {
      const incidents::LinkedAlert& a = i.alerts[k];
      out += fmt::format(
          "{}{{\"fingerprint\":{},\"labels\":{},\"status\":{},\"firstSeen\":{},\"lastSeen\":{}}}",
          k ? "," : "", JsonString(a.fingerprint), a.labels_json, JsonString(a.status),
          Time(a.first_ms), Time(a.last_ms));
    }
    out += "]";
  }
  return out + "}";
}

void Reply(Response& res, const Result<incidents::Incident>& r, const incidents::Manager& m) {
  if (!r.ok()) {
    res = Response::FromStatus(r.status());
    return;
  }
  res = Response::JsonSuccess(IncidentJson(*r, m.NowMs()));
}

void List(const Request& req, Response& res, incidents::Manager& m) {
  incidents::ListFilter f;
  if (std::optional<std::string> st = req.QueryParam("state")) {
    f.state = incidents::ParseState(*st);
    if (!f.state) {
      res =
          Response::Error(400, "bad_data",
                          "state: expected triggered, acknowledged, mitigated, resolved or closed");
      return;
    }
  }
  if (std::optional<std::string> lv = req.QueryParam("level")) {
    f.level = incidents::ParseLevel(*lv);
    if (!f.level) {
      res = Response::Error(400, "bad_data", "level: expected P0, P1, P2 or P3");
      return;
    }
  }
  if (std::optional<std::string> open = req.QueryParam("open")) f.open_only = *open == "true";
  if (std::optional<std::string> limit = req.QueryParam("limit")) {
    long long n = std::strtoll(limit->c_str(), nullptr, 10);
    if (n <= 0 || n > 10'000) {
      res = Response::Error(400, "bad_data", "limit: expected 1..10000");
      return;
    }
    f.limit = static_cast<size_t>(n);
  }
  Result<std::vector<incidents::Incident>> list = m.List(f);
  if (!list.ok()) {
    res = Response::FromStatus(list.status());
    return;
  }
  int64_t now = m.NowMs();
  std::string out = "[";
  for (size_t i = 0; i < list->size(); ++i) out += (i ? "," : "") + IncidentJson((*list)[i], now);
  res = Response::JsonSuccess(out + "]");
}

void Create(const Request& req, Response& res, incidents::Manager& m) {
  simdjson::dom::parser parser;
  Result<simdjson::dom::object> obj = ParseJsonObject(parser, req.body());
  if (!obj.ok()) return void(res = Response::FromStatus(obj.status()));
  Result<std::optional<std::string>> title = StringField(*obj, "title");
  Result<std::optional<std::string>> level = StringField(*obj, "level");
  Result<std::optional<std::string>> policy = StringField(*obj, "escalation_policy");
  for (const auto* r : {&title, &level, &policy}) {
    if (!r->ok()) return void(res = Response::FromStatus(r->status()));
  }
  if (!*title) return void(res = Response::Error(400, "bad_data", "title: required"));
  std::optional<int> lv = incidents::ParseLevel(level->value_or("P2"));
  if (!lv) return void(res = Response::Error(400, "bad_data", "level: expected P0, P1, P2 or P3"));
  Result<incidents::Incident> created = m.Create(**title, *lv, Actor(req), policy->value_or(""));
  Reply(res, created, m);
}

// /api/v1/incidents/<id>[/<action>]
void Member(const Request& req, Response& res, incidents::Manager& m) {
  std::string_view rest = req.path().substr(std::string_view("/api/v1/incidents/").size());
  size_t slash = rest.find('/');
  std::string id_text(rest.substr(0, slash));
  std::string action = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  char* end = nullptr;
  long long id = std::strtoll(id_text.c_str(), &end, 10);
  if (id_text.empty() || *end != '\0' || id <= 0) {
    res = Response::Error(400, "bad_data", fmt::format("\"{}\" is not an incident id", id_text));
    return;
  }
  server::Method method = req.method();
  std::string actor = Actor(req);
  if (action.empty() && method == Method::kGet) return Reply(res, m.Get(id), m);
  if (action == "postmortem") {
    if (method == Method::kGet) {
      Result<std::string> md = m.Postmortem(id);
      if (!md.ok()) return void(res = Response::FromStatus(md.status()));
      res = Response::Text(200, *md, "text/markdown; charset=utf-8");
      return;
    }
    if (method == Method::kPut) {
      Status s = m.SavePostmortem(id, req.body(), actor);
      if (!s.ok()) return void(res = Response::FromStatus(s));
      return Reply(res, m.Get(id), m);
    }
  }
  simdjson::dom::parser parser;
  std::string body = req.body().empty() ? "{}" : req.body();
  Result<simdjson::dom::object> obj = ParseJsonObject(parser, body);
  if (!obj.ok()) return void(res = Response::FromStatus(obj.status()));
  auto field = [&](std::string_view name) -> Result<std::string> {
    Result<std::optional<std::string>> v = StringField(*obj, name);
    if (!v.ok()) return v.status();
    return v->value_or("");
  };
  if (method == Method::kPost) {
    static const std::pair<const char*, incidents::State> kActions[] = {
        {"ack", incidents::State::kAcknowledged},
        {"acknowledge", incidents::State::kAcknowledged},
        {"mitigate", incidents::State::kMitigated},
        {"resolve", incidents::State::kResolved},
        {"close", incidents::State::kClosed}};
    for (const auto& [name, state] : kActions) {
      if (action == name) {
        Result<std::string> note = field("note");
        if (!note.ok()) return void(res = Response::FromStatus(note.status()));
        return Reply(res, m.Transition(id, state, actor, *note), m);
      }
    }
    if (action == "notes") {
      Result<std::string> text = field("text");
      if (!text.ok()) return void(res = Response::FromStatus(text.status()));
      return Reply(res, m.AddNote(id, actor, *text), m);
    }
  }
  if (method == Method::kPut && action == "roles") {
    Result<std::string> role = field("role");
    Result<std::string> person = field("person");
    if (!role.ok()) return void(res = Response::FromStatus(role.status()));
    if (!person.ok()) return void(res = Response::FromStatus(person.status()));
    return Reply(res, m.SetRole(id, *role, *person, actor), m);
  }
  if (method == Method::kPut && action == "level") {
    Result<std::string> level = field("level");
    if (!level.ok()) return void(res = Response::FromStatus(level.status()));
    std::optional<int> lv = incidents::ParseLevel(*level);
    if (!lv)
      return void(res = Response::Error(400, "bad_data", "level: expected P0, P1, P2 or P3"));
    return Reply(res, m.SetLevel(id, *lv, actor), m);
  }
  res = Response::Error(
      404, "not_found",
      fmt::format("no such incident action: {} {}", server::MethodName(method), req.path()));
}

}  // namespace

void RegisterIncidentRoutes(server::Router& router, const Services& services) {
  using config::kScopeRead;
  using config::kScopeWrite;
  auto with = [&services](void (*fn)(const Request&, Response&, incidents::Manager&)) {
    return server::WhenReady<incidents::Manager>(services,
                                                 "incidents are starting up or not available", fn);
  };
  router.HandleControl(Method::kGet, "/api/v1/incidents", kScopeRead, with(List));
  router.HandleControl(Method::kPost, "/api/v1/incidents", kScopeWrite, with(Create));
  router.HandlePrefix(Method::kGet, "/api/v1/incidents/", kScopeRead, with(Member),
                      "/api/v1/incidents/:id", server::Router::Runs::kControl);
  router.HandlePrefix(Method::kPost, "/api/v1/incidents/", kScopeWrite, with(Member),
                      "/api/v1/incidents/:id", server::Router::Runs::kControl);
  router.HandlePrefix(Method::kPut, "/api/v1/incidents/", kScopeWrite, with(Member),
                      "/api/v1/incidents/:id", server::Router::Runs::kControl);
}

}  // namespace pharos::api

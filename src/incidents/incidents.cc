#include "incidents/incidents.h"

#include <chrono>

#include <fmt/format.h>

#include "common/log.h"
#include "common/strings.h"
#include "common/units.h"
#include "meta/meta.h"
#include "selfmon/metrics.h"

namespace pharos::incidents {
namespace {

constexpr std::string_view kColumns =
    "id, title, level, state, group_key, labels, created_ms, created_by, acknowledged_ms, "
    "acknowledged_by, mitigated_ms, mitigated_by, resolved_ms, resolved_by, closed_ms, "
    "closed_by, respond_by_ms, resolve_by_ms, response_breached, resolution_breached, "
    "escalation_policy, escalation_step, next_escalation_ms, commander, tech_lead, "
    "communications_lead, postmortem IS NOT NULL AND postmortem != ''";

Incident FromRow(const meta::Row& r) {
  Incident i;
  i.id = r.Int(0);
  i.title = r.Text(1);
  i.level = static_cast<int>(r.Int(2));
  i.state = ParseState(r.Text(3)).value_or(State::kTriggered);
  i.group_key = r.Text(4);
  i.labels_json = r.Text(5);
  i.created_ms = r.Int(6);
  i.created_by = r.Text(7);
  i.acknowledged_ms = r.Int(8);
  i.acknowledged_by = r.Text(9);
  i.mitigated_ms = r.Int(10);
  i.mitigated_by = r.Text(11);
  i.resolved_ms = r.Int(12);
  i.resolved_by = r.Text(13);
  i.closed_ms = r.Int(14);
  i.closed_by = r.Text(15);
  i.respond_by_ms = r.Int(16);
  i.resolve_by_ms = r.Int(17);
  i.response_breached = r.Int(18) != 0;
  i.resolution_breached = r.Int(19) != 0;
  i.escalation_policy = r.Text(20);
  i.escalation_step = static_cast<int>(r.Int(21));
  i.next_escalation_ms = r.Int(22);
  i.commander = r.Text(23);
  i.tech_lead = r.Text(24);
  i.communications_lead = r.Text(25);
  i.has_postmortem = r.Int(26) != 0;
  return i;
}

std::string FormatUtc(int64_t ms) {
  auto t = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

std::string_view StateName(State s) {
  switch (s) {
    case State::kTriggered: return "triggered";
    case State::kAcknowledged: return "acknowledged";
    case State::kMitigated: return "mitigated";
    case State::kResolved: return "resolved";
    case State::kClosed: return "closed";
  }
  return "triggered";
}

std::optional<State> ParseState(std::string_view s) {
  for (State st : {State::kTriggered, State::kAcknowledged, State::kMitigated, State::kResolved,
                   State::kClosed}) {
    if (StateName(st) == s) return st;
  }
  return std::nullopt;
}

std::string LevelName(int level) { return fmt::format("P{}", level); }

std::optional<int> ParseLevel(std::string_view s) {
  if (s.size() == 2 && (s[0] == 'P' || s[0] == 'p') && s[1] >= '0' && s[1] <= '3') {
    return s[1] - '0';
  }
  return std::nullopt;
}

struct Manager::Metrics {
  Metrics(selfmon::Registry& r, meta::Store& store)
      : opened(r.AddCounter("pharos_incidents_opened_total", "Incidents opened, by level.",
                            {"level"})),
        breaches(r.AddCounter("pharos_incident_sla_breaches_total",
                              "Response and resolution clock breaches, by level.",
                              {"level", "clock"})),
        escalations(r.AddCounter("pharos_incident_escalations_total",
                                 "Escalation steps notified, by level.", {"level"})),
        to_ack(r.AddHistogram("pharos_incident_time_to_acknowledge_seconds",
                              "From opening to acknowledgement, by level.", {"level"},
                              selfmon::ExponentialBuckets(30, 2, 12))),
        to_resolve(r.AddHistogram("pharos_incident_time_to_resolve_seconds",
                                  "From opening to resolution, by level.", {"level"},
                                  selfmon::ExponentialBuckets(60, 2, 14))) {
    r.AddCollector([&store](selfmon::SampleWriter& w) {
      Result<std::vector<meta::Row>> rows = store.Query(
          "SELECT level, count(*) FROM incidents WHERE state NOT IN ('resolved', 'closed') "
          "GROUP BY level");
      int64_t counts[4] = {0, 0, 0, 0};
      if (rows.ok()) {
        for (const meta::Row& row : *rows) {
          int64_t level = row.Int(0);
          if (level >= 0 && level <= 3) counts[level] = row.Int(1);
        }
      }
      w.Family("pharos_incidents_open", "Incidents not yet resolved, by level.",
               selfmon::MetricType::kGauge);
      for (int l = 0; l < 4; ++l) {
        std::string name = LevelName(l);
        w.Sample("pharos_incidents_open", {{"level", name}}, static_cast<double>(counts[l]));
      }
    });
  }
  selfmon::Family<selfmon::Counter>& opened;
  selfmon::Family<selfmon::Counter>& breaches;
  selfmon::Family<selfmon::Counter>& escalations;
  selfmon::Family<selfmon::Histogram>& to_ack;
  selfmon::Family<selfmon::Histogram>& to_resolve;
};

Manager::Manager(meta::Store& store, selfmon::Registry& registry, Options options,
                 Notifier notifier, Env* env)
    : store_(store),
      options_(std::move(options)),
      notifier_(std::move(notifier)),
      env_(env ? env : DefaultEnv()),
      metrics_(std::make_unique<Metrics>(registry, store)) {}

Manager::~Manager() = default;

void Manager::SetOptions(Options options) {
  std::lock_guard lock(mu_);
  options_ = std::move(options);
}

const EscalationPolicy* Manager::FindPolicy(const std::string& name) const {
  for (const EscalationPolicy& p : options_.policies) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

Status Manager::AddEvent(int64_t id, int64_t ts, const std::string& kind, const std::string& actor,
                         const std::string& text) {
  Result<int64_t> r = store_.Exec(
      "INSERT INTO incident_events (incident_id, ts_ms, kind, actor, text) VALUES (?1, ?2, ?3, "
      "?4, ?5)",
      {id, ts, kind, actor, text});
  return r.ok() ? Status::Ok() : r.status();
}

Result<Incident> Manager::Load(int64_t id, bool details) {
  Result<std::vector<meta::Row>> rows =
      store_.Query(fmt::format("SELECT {} FROM incidents WHERE id = ?1", kColumns), {id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return NotFound(fmt::format("incident {} not found", id));
  Incident inc = FromRow((*rows)[0]);
  if (details) {
    Result<std::vector<meta::Row>> events = store_.Query(
        "SELECT id, ts_ms, kind, actor, text FROM incident_events WHERE incident_id = ?1 ORDER "
        "BY ts_ms, id",
        {id});
    if (!events.ok()) return events.status();
    for (const meta::Row& e : *events) {
      inc.timeline.push_back({e.Int(0), e.Int(1), e.Text(2), e.Text(3), e.Text(4)});
    }
    Result<std::vector<meta::Row>> alerts = store_.Query(
        "SELECT fingerprint, labels, status, first_ms, last_ms FROM incident_alerts WHERE "
        "incident_id = ?1 ORDER BY first_ms, fingerprint",
        {id});
    if (!alerts.ok()) return alerts.status();
    for (const meta::Row& a : *alerts) {
      inc.alerts.push_back({a.Text(0), a.Text(1), a.Text(2), a.Int(3), a.Int(4)});
    }
  }
  return inc;
}

Result<Incident> Manager::CreateLocked(const std::string& title, int level,
                                       const std::string& actor, const std::string& policy,
                                       const std::string& group_key, const std::string& labels_json,
                                       int64_t now) {
  if (level < 0 || level > 3) return InvalidArgument("level must be P0, P1, P2 or P3");
  if (Trim(title).empty()) return InvalidArgument("an incident needs a title");
  if (title.size() > 1000) return InvalidArgument("title: longer than 1000 bytes");
  std::string policy_name = policy.empty() ? options_.default_policy : policy;
  if (!policy_name.empty() && !FindPolicy(policy_name)) {
    return InvalidArgument(fmt::format("no escalation policy named \"{}\"", policy_name));
  }
  int64_t id = 0;
  Status s = store_.Transaction([&]() -> Status {
    Result<int64_t> r = store_.Exec(
        "INSERT INTO incidents (title, level, state, group_key, labels, created_ms, created_by, "
        "respond_by_ms, resolve_by_ms, escalation_policy) VALUES (?1, ?2, 'triggered', ?3, ?4, "
        "?5, ?6, ?7, ?8, ?9)",
        {title, static_cast<int64_t>(level), group_key, labels_json, now, actor,
         now + options_.respond_within_ms[level], now + options_.resolve_within_ms[level],
         policy_name});
    if (!r.ok()) return r.status();
    id = *r;
    return AddEvent(id, now, "opened", actor,
                    fmt::format("{} opened: respond within {}, resolve within {}", LevelName(level),
                                FormatDuration(Duration(options_.respond_within_ms[level])),
                                FormatDuration(Duration(options_.resolve_within_ms[level]))));
  });
  if (!s.ok()) return s;
  metrics_->opened.WithLabels({LevelName(level)}).Inc();
  LogInfo("incident opened", {{"id", id}, {"level", LevelName(level)}, {"title", title}});
  return Load(id, true);
}

Result<Incident> Manager::Create(const std::string& title, int level, const std::string& actor,
                                 const std::string& policy) {
  std::lock_guard lock(mu_);
  return CreateLocked(title, level, actor, policy, "", "{}", env_->NowMs());
}

int Manager::LevelFor(const alerting::Alert& a) const {
  for (const char* name : {"level", "priority"}) {
    std::optional<int> explicit_level = ParseLevel(model::LabelValue(a.labels, name));
    if (explicit_level) return *explicit_level;
  }
  auto it = options_.severity_levels.find(std::string(model::LabelValue(a.labels, "severity")));
  return it == options_.severity_levels.end() ? -1 : it->second;
}

void Manager::OnNotification(const alerting::Notification& n) {
  std::lock_guard lock(mu_);
  int64_t now = n.now_ms;
  std::vector<const alerting::Alert*> firing;
  int level = 4;
  for (const alerting::Alert& a : n.alerts) {
    if (a.Resolved(now)) continue;
    int l = LevelFor(a);
    if (l < 0) continue;
    firing.push_back(&a);
    level = std::min(level, l);
  }
  Result<std::vector<meta::Row>> open = store_.Query(
      "SELECT id, level FROM incidents WHERE group_key = ?1 AND state IN ('triggered', "
      "'acknowledged', 'mitigated') ORDER BY id DESC LIMIT 1",
      {n.group_key});
  if (!open.ok()) {
    LogError("incidents: cannot read open incidents", {{"error", open.status().message()}});
    return;
  }
  int64_t id = open->empty() ? 0 : (*open)[0].Int(0);
  if (id == 0) {
    if (firing.empty() || !options_.open_from_alerts) return;
    std::string title(model::LabelValue(firing[0]->labels, "alertname"));
    for (const model::Label& l : n.group_labels) {
      if (l.name != "alertname") title += " " + l.name + "=" + l.value;
    }
    std::string_view summary = model::LabelValue(firing[0]->annotations, "summary");
    if (!summary.empty()) title += ": " + std::string(summary);
    Result<Incident> created = CreateLocked(title.substr(0, 1000), level, "pharos", "", n.group_key,
                                            model::LabelsJson(n.group_labels), now);
    if (!created.ok()) {
      LogError("incidents: cannot open an incident", {{"error", created.status().message()}});
      return;
    }
    id = created->id;
  } else if (!firing.empty() && level < (*open)[0].Int(1)) {
    (void)SetLevel(id, level, "pharos");
  }
  // Link alerts; note new ones and resolutions on the timeline.
  bool all_resolved = true;
  Status s = store_.Transaction([&]() -> Status {
    for (const alerting::Alert& a : n.alerts) {
      bool resolved = a.Resolved(now);
      if (!resolved && LevelFor(a) < 0) continue;
      std::string status = resolved ? "resolved" : "firing";
      Result<std::vector<meta::Row>> prev = store_.Query(
          "SELECT status FROM incident_alerts WHERE incident_id = ?1 AND fingerprint = ?2",
          {id, a.fingerprint});
      if (!prev.ok()) return prev.status();
      std::string before = prev->empty() ? "" : (*prev)[0].Text(0);
      if (before.empty() && resolved) continue;  // never linked while firing
      Result<int64_t> r = store_.Exec(
          "INSERT INTO incident_alerts (incident_id, fingerprint, labels, status, first_ms, "
          "last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (incident_id, fingerprint) DO "
          "UPDATE SET status = ?4, last_ms = ?5",
          {id, a.fingerprint, model::LabelsJson(a.labels), status, now});
      if (!r.ok()) return r.status();
      if (before != status) {
        PHAROS_RETURN_IF_ERROR(
            AddEvent(id, now, "alert", "pharos",
                     fmt::format("{} {}", status, model::FormatLabels(a.labels))));
      }
    }
    if (n.delivered) {
      size_t firing_count = 0;
      for (const alerting::Alert& a : n.alerts) firing_count += a.Resolved(now) ? 0 : 1;
      PHAROS_RETURN_IF_ERROR(AddEvent(id, now, "notification", "pharos",
                                      fmt::format("notified {}: {} firing, {} resolved", n.receiver,
                                                  firing_count, n.alerts.size() - firing_count)));
    }
    Result<std::vector<meta::Row>> still = store_.Query(
        "SELECT count(*) FROM incident_alerts WHERE incident_id = ?1 AND status = 'firing'", {id});
    if (!still.ok()) return still.status();
    all_resolved = (*still)[0].Int(0) == 0;
    return Status::Ok();
  });
  if (!s.ok()) {
    LogError("incidents: cannot link alerts", {{"error", s.message()}});
    return;
  }
  if (all_resolved && options_.auto_resolve) {
    (void)Transition(id, State::kResolved, "pharos", "every linked alert has resolved");
  }
}

Result<Incident> Manager::Get(int64_t id) {
  std::lock_guard lock(mu_);
  return Load(id, true);
}

Result<std::vector<Incident>> Manager::List(const ListFilter& filter) {
  std::lock_guard lock(mu_);
  std::string sql = fmt::format("SELECT {} FROM incidents WHERE 1 = 1", kColumns);
  std::vector<meta::Value> params;
  if (filter.state) {
    params.emplace_back(std::string(StateName(*filter.state)));
    sql += fmt::format(" AND state = ?{}", params.size());
  }
  if (filter.level) {
    params.emplace_back(static_cast<int64_t>(*filter.level));
    sql += fmt::format(" AND level = ?{}", params.size());
  }
  if (filter.open_only) sql += " AND state NOT IN ('resolved', 'closed')";
  sql += fmt::format(" ORDER BY id DESC LIMIT {}", std::min<size_t>(filter.limit, 10'000));
  Result<std::vector<meta::Row>> rows = store_.Query(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<Incident> out;
  for (const meta::Row& r : *rows) out.push_back(FromRow(r));
  return out;
}

Result<Incident> Manager::Transition(int64_t id, State target, const std::string& actor,
                                     const std::string& note) {
  std::lock_guard lock(mu_);
  Result<Incident> cur = Load(id, false);
  if (!cur.ok()) return cur.status();
  if (target <= cur->state) {
    return FailedPrecondition(fmt::format("incident {} is {}; it cannot become {}", id,
                                          StateName(cur->state), StateName(target)));
  }
  if (target == State::kClosed && cur->state != State::kResolved) {
    return FailedPrecondition(fmt::format("incident {} must be resolved before it is closed", id));
  }
  if (target == State::kClosed && !cur->has_postmortem) {
    return FailedPrecondition(
        fmt::format("incident {} needs a postmortem before it is closed", id));
  }
  int64_t now = env_->NowMs();
  std::string column;
  switch (target) {
    case State::kAcknowledged: column = "acknowledged"; break;
    case State::kMitigated: column = "mitigated"; break;
    case State::kResolved: column = "resolved"; break;
    case State::kClosed: column = "closed"; break;
    case State::kTriggered: return FailedPrecondition("an incident cannot go back to triggered");
  }
  Status s = store_.Transaction([&]() -> Status {
    Result<int64_t> r =
        store_.Exec(fmt::format("UPDATE incidents SET state = ?2, {0}_ms = ?3, {0}_by = ?4, "
                                "next_escalation_ms = NULL WHERE id = ?1",
                                column),
                    {id, std::string(StateName(target)), now, actor});
    if (!r.ok()) return r.status();
    std::string text = fmt::format("{} -> {}", StateName(cur->state), StateName(target));
    if (!note.empty()) text += ": " + note;
    return AddEvent(id, now, "state", actor, text);
  });
  if (!s.ok()) return s;
  std::string level = LevelName(cur->level);
  if (target == State::kAcknowledged) {
    metrics_->to_ack.WithLabels({level}).Observe(static_cast<double>(now - cur->created_ms) / 1000);
  }
  if (target == State::kResolved) {
    metrics_->to_resolve.WithLabels({level}).Observe(static_cast<double>(now - cur->created_ms) /
                                                     1000);
  }
  return Load(id, true);
}

Result<Incident> Manager::AddNote(int64_t id, const std::string& actor, const std::string& text) {
  std::lock_guard lock(mu_);
  if (Trim(text).empty()) return InvalidArgument("a note needs text");
  if (text.size() > 64 * 1024) return InvalidArgument("note: longer than 64 KiB");
  Result<Incident> cur = Load(id, false);
  if (!cur.ok()) return cur.status();
  PHAROS_RETURN_IF_ERROR(AddEvent(id, env_->NowMs(), "note", actor, text));
  return Load(id, true);
}

Result<Incident> Manager::SetRole(int64_t id, const std::string& role, const std::string& person,
                                  const std::string& actor) {
  std::lock_guard lock(mu_);
  if (role != "commander" && role != "tech_lead" && role != "communications_lead") {
    return InvalidArgument(
        fmt::format("role \"{}\": expected commander, tech_lead or communications_lead", role));
  }
  if (person.size() > 200) return InvalidArgument("person: longer than 200 bytes");
  Result<Incident> cur = Load(id, false);
  if (!cur.ok()) return cur.status();
  int64_t now = env_->NowMs();
  Status s = store_.Transaction([&]() -> Status {
    Result<int64_t> r =
        store_.Exec(fmt::format("UPDATE incidents SET {} = ?2 WHERE id = ?1", role), {id, person});
    if (!r.ok()) return r.status();
    return AddEvent(id, now, "role", actor,
                    person.empty() ? role + " unassigned" : role + ": " + person);
  });
  if (!s.ok()) return s;
  return Load(id, true);
}

Result<Incident> Manager::SetLevel(int64_t id, int level, const std::string& actor) {
  std::lock_guard lock(mu_);
  if (level < 0 || level > 3) return InvalidArgument("level must be P0, P1, P2 or P3");
  Result<Incident> cur = Load(id, false);
  if (!cur.ok()) return cur.status();
  if (cur->level == level) return Load(id, true);
  int64_t now = env_->NowMs();
  Status s = store_.Transaction([&]() -> Status {
    Result<int64_t> r = store_.Exec(
        "UPDATE incidents SET level = ?2, respond_by_ms = created_ms + ?3, resolve_by_ms = "
        "created_ms + ?4 WHERE id = ?1",
        {id, static_cast<int64_t>(level), options_.respond_within_ms[level],
         options_.resolve_within_ms[level]});
    if (!r.ok()) return r.status();
    return AddEvent(id, now, "level", actor,
                    fmt::format("{} -> {}", LevelName(cur->level), LevelName(level)));
  });
  if (!s.ok()) return s;
  return Load(id, true);
}

void Manager::Tick(int64_t now) {
  std::lock_guard lock(mu_);
  Result<std::vector<meta::Row>> rows = store_.Query(
      fmt::format("SELECT {} FROM incidents WHERE state NOT IN ('resolved', 'closed')", kColumns));
  if (!rows.ok()) return;
  for (const meta::Row& row : *rows) {
    Incident inc = FromRow(row);
    std::string level = LevelName(inc.level);
    if (inc.state == State::kTriggered && !inc.response_breached && now > inc.respond_by_ms) {
      const EscalationPolicy* policy = FindPolicy(inc.escalation_policy);
      int64_t next = policy && !policy->steps.empty() ? now + policy->steps[0].delay_ms : 0;
      Status s = store_.Transaction([&]() -> Status {
        Result<int64_t> r = store_.Exec(
            "UPDATE incidents SET response_breached = 1, next_escalation_ms = ?2 WHERE id = ?1",
            {inc.id, next ? meta::Value(next) : meta::Value()});
        if (!r.ok()) return r.status();
        return AddEvent(
            inc.id, now, "breach", "pharos",
            fmt::format("response clock breached: {} must be acknowledged within {}", level,
                        FormatDuration(Duration(options_.respond_within_ms[inc.level]))));
      });
      if (s.ok()) {
        metrics_->breaches.WithLabels({level, "response"}).Inc();
        inc.next_escalation_ms = next;
        inc.response_breached = true;
      }
    }
    if (!inc.resolution_breached && now > inc.resolve_by_ms) {
      Status s = store_.Transaction([&]() -> Status {
        Result<int64_t> r =
            store_.Exec("UPDATE incidents SET resolution_breached = 1 WHERE id = ?1", {inc.id});
        if (!r.ok()) return r.status();
        return AddEvent(
            inc.id, now, "breach", "pharos",
            fmt::format("resolution clock breached: {} must be resolved within {}", level,
                        FormatDuration(Duration(options_.resolve_within_ms[inc.level]))));
      });
      if (s.ok()) metrics_->breaches.WithLabels({level, "resolution"}).Inc();
    }
    // Escalate step by step until someone acknowledges.
    if (inc.state == State::kTriggered && inc.response_breached && inc.next_escalation_ms > 0 &&
        inc.next_escalation_ms <= now) {
      const EscalationPolicy* policy = FindPolicy(inc.escalation_policy);
      if (!policy || inc.escalation_step >= static_cast<int>(policy->steps.size())) continue;
      const EscalationStep& step = policy->steps[static_cast<size_t>(inc.escalation_step)];
      alerting::Alert a;
      a.labels = {{"alertname", "IncidentEscalation"},
                  {"incident", std::to_string(inc.id)},
                  {"level", level},
                  {"step", std::to_string(inc.escalation_step + 1)}};
      a.annotations = {{"summary", fmt::format("INC-{} ({}) is not acknowledged: {}", inc.id, level,
                                               inc.title)}};
      a.starts_at_ms = inc.created_ms;
      Status sent = notifier_ ? notifier_(step.receiver, {a}, fmt::format("incident:{}", inc.id))
                              : Unavailable("no notifier");
      int next_step = inc.escalation_step + 1;
      int64_t next = next_step < static_cast<int>(policy->steps.size())
                         ? now + policy->steps[static_cast<size_t>(next_step)].delay_ms
                         : 0;
      Status s = store_.Transaction([&]() -> Status {
        Result<int64_t> r = store_.Exec(
            "UPDATE incidents SET escalation_step = ?2, next_escalation_ms = ?3 WHERE id = ?1",
            {inc.id, static_cast<int64_t>(next_step), next ? meta::Value(next) : meta::Value()});
        if (!r.ok()) return r.status();
        return AddEvent(inc.id, now, "escalation", "pharos",
                        sent.ok()
                            ? fmt::format("step {} of {}: notified {}", next_step,
                                          policy->steps.size(), step.receiver)
                            : fmt::format("step {} of {}: notifying {} failed: {}", next_step,
                                          policy->steps.size(), step.receiver, sent.message()));
      });
      if (s.ok()) metrics_->escalations.WithLabels({level}).Inc();
    }
  }
}

Result<std::string> Manager::Postmortem(int64_t id) {
  std::lock_guard lock(mu_);
  Result<std::vector<meta::Row>> rows =
      store_.Query("SELECT postmortem FROM incidents WHERE id = ?1", {id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return NotFound(fmt::format("incident {} not found", id));
  if (!(*rows)[0].IsNull(0) && !(*rows)[0].Text(0).empty()) return (*rows)[0].Text(0);
  Result<Incident> inc = Load(id, true);
  if (!inc.ok()) return inc.status();
  std::string md =
      fmt::format("# Postmortem: {} (INC-{}, {})\n\n", inc->title, inc->id, LevelName(inc->level));
  md += "## Summary\n\n_What happened, in two or three sentences._\n\n";
  md += "## Impact\n\n_Who was affected, how, and for how long._\n\n";
  md += fmt::format("- Opened: {} UTC\n", FormatUtc(inc->created_ms));
  if (inc->acknowledged_ms) {
    md += fmt::format("- Acknowledged: {} UTC (after {})\n", FormatUtc(inc->acknowledged_ms),
                      FormatDuration(Duration(inc->acknowledged_ms - inc->created_ms)));
  }
  if (inc->resolved_ms) {
    md += fmt::format("- Resolved: {} UTC (after {})\n", FormatUtc(inc->resolved_ms),
                      FormatDuration(Duration(inc->resolved_ms - inc->created_ms)));
  }
  md += "\n## Timeline\n\n| time (UTC) | event | by | details |\n| --- | --- | --- | --- |\n";
  for (const Event& e : inc->timeline) {
    std::string text = e.text;
    for (char& c : text) {
      if (c == '|' || c == '\n') c = ' ';
    }
    md += fmt::format("| {} | {} | {} | {} |\n", FormatUtc(e.ts_ms), e.kind, e.actor, text);
  }
  md += "\n## Root cause\n\n_Why it happened; keep asking why._\n\n";
  md += "## Action items\n\n| action | owner | due |\n| --- | --- | --- |\n|  |  |  |\n";
  return md;
}

Status Manager::SavePostmortem(int64_t id, const std::string& markdown, const std::string& actor) {
  std::lock_guard lock(mu_);
  if (markdown.size() > 1024 * 1024) return InvalidArgument("postmortem: longer than 1 MiB");
  if (Trim(markdown).empty()) return InvalidArgument("postmortem: empty document");
  Result<Incident> cur = Load(id, false);
  if (!cur.ok()) return cur.status();
  int64_t now = env_->NowMs();
  return store_.Transaction([&]() -> Status {
    Result<int64_t> r =
        store_.Exec("UPDATE incidents SET postmortem = ?2 WHERE id = ?1", {id, markdown});
    if (!r.ok()) return r.status();
    return AddEvent(id, now, "postmortem", actor,
                    cur->has_postmortem ? "postmortem updated" : "postmortem written");
  });
}

}  // namespace pharos::incidents

// incidents: P0-P3 incidents opened from firing alerts or by hand, with response and
// resolution clocks, escalation policies, roles, notes, a timeline and a postmortem.
//
// Contract:
// - Everything is stored in the meta store (incidents, incident_events, incident_alerts)
//   before a call returns, so incidents and their timelines survive restarts.
// - OnNotification() receives each alert group flush (after silences and inhibition):
//   firing alerts join the open incident with the same group key or open a new one at the
//   level their labels map to (an explicit `level: P0..P3` label, else `severity` through
//   the configured map; alerts that map to no level open nothing). When every linked alert
//   has resolved, the incident resolves itself (auto_resolve).
// - Lifecycle: triggered -> acknowledged -> mitigated -> resolved -> closed. Steps may be
//   skipped forward, never taken back; closing needs a saved postmortem. Each change,
//   role, note, linked alert, breach and escalation is a timeline event with who and when.
// - Tick(now) runs the clocks: a response clock (until acknowledged, mitigated or
//   resolved) and a resolution clock (until resolved). A breach is a timeline event and a
//   metric; a response breach starts escalation: the policy's steps notify their receivers
//   one after another (each after its delay) until someone acknowledges.
// - Thread-safe; the clock is injected.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "alerting/alerting.h"
#include "common/env.h"
#include "common/status.h"
#include "model/model.h"

namespace pharos::meta {
class Store;
}
namespace pharos::selfmon {
class Registry;
}

namespace pharos::incidents {

enum class State { kTriggered, kAcknowledged, kMitigated, kResolved, kClosed };
std::string_view StateName(State s);
std::optional<State> ParseState(std::string_view s);
/// "P0".."P3" <-> 0..3.
std::string LevelName(int level);
std::optional<int> ParseLevel(std::string_view s);

struct Event {
  int64_t id = 0;
  int64_t ts_ms = 0;
  std::string kind;  // opened, state, level, role, note, alert, escalation, breach, postmortem
  std::string actor;
  std::string text;
};

struct LinkedAlert {
  std::string fingerprint;
  std::string labels_json;
  std::string status;  // firing, resolved
  int64_t first_ms = 0;
  int64_t last_ms = 0;
};

struct Incident {
  int64_t id = 0;
  std::string title;
  int level = 3;
  State state = State::kTriggered;
  std::string group_key;
  std::string labels_json = "{}";
  int64_t created_ms = 0;
  std::string created_by;
  int64_t acknowledged_ms = 0, mitigated_ms = 0, resolved_ms = 0, closed_ms = 0;
  std::string acknowledged_by, mitigated_by, resolved_by, closed_by;
  int64_t respond_by_ms = 0;
  int64_t resolve_by_ms = 0;
  bool response_breached = false;
  bool resolution_breached = false;
  std::string escalation_policy;
  int escalation_step = 0;
  int64_t next_escalation_ms = 0;
  std::string commander, tech_lead, communications_lead;
  bool has_postmortem = false;
  std::vector<Event> timeline;      // filled by Get()
  std::vector<LinkedAlert> alerts;  // filled by Get()
};

struct EscalationStep {
  std::string receiver;  // an alerting receiver
  int64_t delay_ms = 0;  // after the breach (first step) or the previous step
};

struct EscalationPolicy {
  std::string name;
  std::vector<EscalationStep> steps;
};

struct Options {
  int64_t respond_within_ms[4] = {5 * 60'000, 15 * 60'000, 60 * 60'000, 4 * 60 * 60'000};
  int64_t resolve_within_ms[4] = {60 * 60'000, 4 * 60 * 60'000, 24 * 60 * 60'000, 72 * 60 * 60'000};
  std::map<std::string, int> severity_levels = {{"critical", 1}, {"warning", 2}, {"info", 3}};
  bool open_from_alerts = true;
  bool auto_resolve = true;
  std::vector<EscalationPolicy> policies;
  std::string default_policy;  // "" : no escalation unless an incident names one
};

struct ListFilter {
  std::optional<State> state;
  std::optional<int> level;
  bool open_only = false;  // not resolved or closed
  size_t limit = 200;
};

class Manager {
 public:
  /// Sends an escalation to a receiver (the dispatcher's NotifyReceiver).
  using Notifier = std::function<Status(
      const std::string& receiver, std::vector<alerting::Alert> alerts, const std::string& key)>;

  Manager(meta::Store& store, selfmon::Registry& registry, Options options, Notifier notifier,
          Env* env = nullptr);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  void SetOptions(Options options);

  void OnNotification(const alerting::Notification& n);
  void Tick(int64_t now_ms);
  /// The manager's clock (its Env).
  int64_t NowMs() const { return env_->NowMs(); }

  Result<Incident> Create(const std::string& title, int level, const std::string& actor,
                          const std::string& policy = "");
  Result<Incident> Get(int64_t id);
  Result<std::vector<Incident>> List(const ListFilter& filter);
  /// Moves the incident forward to `target`; `note` (optional) is added to the event.
  Result<Incident> Transition(int64_t id, State target, const std::string& actor,
                              const std::string& note = "");
  Result<Incident> AddNote(int64_t id, const std::string& actor, const std::string& text);
  /// role: commander, tech_lead or communications_lead.
  Result<Incident> SetRole(int64_t id, const std::string& role, const std::string& person,
                           const std::string& actor);
  Result<Incident> SetLevel(int64_t id, int level, const std::string& actor);
  /// The saved postmortem, or a draft pre-filled from the incident and its timeline.
  Result<std::string> Postmortem(int64_t id);
  Status SavePostmortem(int64_t id, const std::string& markdown, const std::string& actor);

  struct Metrics;

 private:
  Result<Incident> Load(int64_t id, bool details);
  Status AddEvent(int64_t id, int64_t ts, const std::string& kind, const std::string& actor,
                  const std::string& text);
  int LevelFor(const alerting::Alert& a) const;
  Result<Incident> CreateLocked(const std::string& title, int level, const std::string& actor,
                                const std::string& policy, const std::string& group_key,
                                const std::string& labels_json, int64_t now);
  const EscalationPolicy* FindPolicy(const std::string& name) const;

  meta::Store& store_;
  Options options_;
  Notifier notifier_;
  Env* env_;  // the clock (null: DefaultEnv())
  std::unique_ptr<Metrics> metrics_;
  std::recursive_mutex mu_;
};

}  // namespace pharos::incidents

// Internal to rules: one rule group's loaded rules, their state and its evaluation.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "rules/rules.h"
#include "rules/template.h"

namespace pharos::rules {

struct EvalEnv {
  tsdb::Db* db = nullptr;
  promql::Engine* engine = nullptr;
  const ManagerOptions* options = nullptr;
};

/// One transition for the alert history.
struct AlertEvent {
  int64_t ts_ms = 0;
  model::Labels labels;
  model::Labels annotations;
  AlertState state = AlertState::kInactive;  // the new state (inactive = resolved)
  double value = 0;
};

struct EvalOutput {
  std::vector<AlertNotice> notices;
  std::vector<AlertEvent> events;
  uint64_t evaluations = 0;
  uint64_t failures = 0;
};

struct RuleRuntime {
  RuleSpec spec;
  std::vector<std::pair<std::string, Template>> label_templates;
  std::vector<std::pair<std::string, Template>> annotation_templates;
  bool restored = true;  // false until ALERTS_FOR_STATE has been read back
  RuleHealth health = RuleHealth::kUnknown;
  std::string last_error;
  std::string template_error;  // the last evaluation's annotation or label expansion error
  int64_t last_evaluation_ms = 0;
  double evaluation_seconds = 0;
  std::map<std::string, Alert> alerts;           // by label set
  std::map<std::string, model::Labels> written;  // series written last time, by label set
};

class Manager::Group {
 public:
  /// Builds the runtime rules; templates were checked when the file was parsed.
  static Result<std::shared_ptr<Group>> Make(GroupSpec spec, int64_t default_interval_ms);

  const std::string& key() const { return key_; }
  const GroupSpec& spec() const { return spec_; }
  int64_t interval_ms() const { return interval_ms_; }
  /// The first aligned evaluation time after `now_ms` (a per-group offset spreads load).
  int64_t NextEvaluation(int64_t now_ms) const;

  /// Evaluates every rule at ts_ms in order, writing to the store.
  EvalOutput Evaluate(const EvalEnv& env, int64_t ts_ms);
  /// Keeps the state of rules that are unchanged in `old`.
  void CopyStateFrom(Group& old);
  /// Stale-marks every series this group wrote (the group was removed).
  void MarkAllStale(const EvalEnv& env, int64_t ts_ms);
  void set_should_restore(bool v);

  GroupStatus Status() const;
  void AppendActiveAlerts(std::vector<Alert>& out) const;

  // Scheduling, owned by the manager's scheduler (under its lock).
  int64_t next_eval_ms = 0;
  bool running = false;

 private:
  Group(GroupSpec spec, int64_t interval_ms);
  void EvaluateRule(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms, EvalOutput& out)
      PHAROS_REQUIRES(mu_);
  /// Series and their values, one per result series (or one unlabeled for a scalar).
  using Samples = std::vector<std::pair<model::Labels, double>>;
  /// The rule's expression as an instant query at ts_ms (minus the group's query offset).
  Result<Samples> Query(const EvalEnv& env, const RuleRuntime& rule, int64_t ts_ms) const;
  ::pharos::Status EvalRecording(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms,
                                 Samples& series);
  ::pharos::Status EvalAlerting(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms,
                                Samples& series, EvalOutput& out);
  void RestoreForState(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms) PHAROS_REQUIRES(mu_);
  void Write(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms, Samples& series)
      PHAROS_REQUIRES(mu_);

  GroupSpec spec_;
  std::string key_;
  int64_t interval_ms_;
  mutable Mutex mu_;  // guards the runtime state below against API readers
  std::vector<RuleRuntime> rules_ PHAROS_GUARDED_BY(mu_);
  bool should_restore_ PHAROS_GUARDED_BY(mu_) = false;
  int64_t last_evaluation_ms_ PHAROS_GUARDED_BY(mu_) = 0;
  double evaluation_seconds_ PHAROS_GUARDED_BY(mu_) = 0;
};

}  // namespace pharos::rules

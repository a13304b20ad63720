// rules: Prometheus-format recording and alerting rules: parsing and checking rule files,
// evaluating groups on their intervals, alert state, and restoring it after a restart.
//
// Contract:
// - ParseRuleFile() reads Prometheus's rule file format and checks it as `promtool check
//   rules` does; every problem is reported as "file:line: reason", all of them at once.
// - Manager owns the loaded groups. Load() replaces the rule set; a rule that is still
//   present (same group, name, expression, labels and for) keeps its alerts and state, so
//   reloading never resets pending or firing alerts. Start() schedules each group on its
//   interval (aligned, with a per-group offset as Prometheus does) on a pool of worker
//   threads: groups run in parallel, rules within a group in order. A group whose
//   evaluation is still running when its next slot comes skips that slot and counts it.
// - Recording rules append their result to the store at the evaluation time; alerting
//   rules keep inactive/pending/firing state with `for` and `keep_firing_for`, write the
//   ALERTS and ALERTS_FOR_STATE series, and stale-mark series that disappear. On the first
//   evaluation after start-up, pending alerts take back their active time from
//   ALERTS_FOR_STATE (Prometheus's outage tolerance and for-grace-period rules).
// - Every alert transition goes to the meta store's alert_events table when one is given.
//   Active and recently resolved alerts go to the notify callback after each evaluation
//   (resent every resend_delay, with an end time as Prometheus sends to Alertmanager).
// - Log rule files (ManagerOptions::log_rule_files) are Loki ruler files: the same YAML
//   with LogQL metric queries, checked with the logql parser and evaluated by the injected
//   ManagerOptions::logql_query; their alerts and recordings are handled as PromQL's.
// - All public methods are thread-safe. The clock is injected; EvaluateAt() evaluates
//   every group once at a given time, synchronously, for tests and the benchmark.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "tsdb/tsdb.h"

namespace pharos::meta {
class Store;
}
namespace pharos::promql {
class Engine;
}
namespace pharos::selfmon {
class Registry;
}

namespace pharos::rules {

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

struct RuleSpec {
  std::string record;  // exactly one of record and alert is set
  std::string alert;
  std::string expr;
  int64_t for_ms = 0;
  int64_t keep_firing_for_ms = 0;
  LabelPairs labels;
  LabelPairs annotations;
  int line = 0;
  std::string name() const { return alert.empty() ? record : alert; }
};

struct GroupSpec {
  std::string file;
  std::string name;
  bool logql = false;       // from a log rule file: expressions are LogQL metric queries
  int64_t interval_ms = 0;  // 0: the manager's default
  int64_t limit = 0;        // 0: no limit on alerts or series per rule
  int64_t query_offset_ms = 0;
  LabelPairs labels;  // added to every rule of the group
  std::vector<RuleSpec> rules;
  int line = 0;
};

enum class RuleLanguage { kPromql, kLogql };

/// Parses and checks one rule file's text; `file` names it in errors. A LogQL file (Loki
/// ruler's format: the same YAML, each expression a LogQL metric query) marks its groups.
Result<std::vector<GroupSpec>> ParseRuleFile(std::string_view text, const std::string& file,
                                             RuleLanguage language = RuleLanguage::kPromql);
/// Reads and parses a file.
Result<std::vector<GroupSpec>> LoadRuleFile(const std::string& path,
                                            RuleLanguage language = RuleLanguage::kPromql);
/// Expands paths and globs (relative ones against `base_dir`), sorted and deduplicated.
/// A glob that matches nothing is not an error; a plain path that does not exist is.
Result<std::vector<std::string>> ExpandRuleFiles(const std::vector<std::string>& patterns,
                                                 const std::string& base_dir);

enum class AlertState { kInactive, kPending, kFiring };
std::string_view AlertStateName(AlertState state);

struct Alert {
  model::Labels labels;  // sorted, with alertname
  model::Labels annotations;
  AlertState state = AlertState::kInactive;
  double value = 0;
  int64_t active_at_ms = 0;
  int64_t fired_at_ms = 0;
  int64_t resolved_at_ms = 0;
  int64_t last_sent_ms = 0;
  int64_t valid_until_ms = 0;
  int64_t keep_firing_since_ms = 0;
};

/// What the notifier receives: Alertmanager's postable alert.
struct AlertNotice {
  model::Labels labels;
  model::Labels annotations;
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;
  std::string generator_url;
};

enum class RuleHealth { kUnknown, kOk, kError };

struct RuleStatus {
  RuleSpec spec;
  std::string group;
  std::string file;
  RuleHealth health = RuleHealth::kUnknown;
  std::string last_error;
  int64_t last_evaluation_ms = 0;
  double evaluation_seconds = 0;
  AlertState state = AlertState::kInactive;  // alerting rules: the highest of its alerts
  std::vector<Alert> alerts;                 // alerting rules: pending, firing, resolved
};

struct GroupStatus {
  std::string name;
  std::string file;
  int64_t interval_ms = 0;
  int64_t limit = 0;
  int64_t last_evaluation_ms = 0;
  double evaluation_seconds = 0;
  std::vector<RuleStatus> rules;
};

/// Evaluates an expression at one instant: the samples of a vector (a scalar as one
/// sample without labels).
using InstantQuery = std::function<Result<std::vector<std::pair<model::Labels, double>>>(
    const std::string& expr, int64_t ts_ms)>;

struct ManagerOptions {
  std::vector<std::string> rule_files;  // paths and globs
  /// Rule files whose expressions are LogQL (evaluated by `logql_query` over the logs;
  /// recording rules write their series to the TSDB, as Loki's ruler remote-writes them).
  std::vector<std::string> log_rule_files;
  InstantQuery logql_query;
  std::string base_dir = ".";  // for relative rule_files (the config's directory)
  int64_t default_interval_ms = 60'000;
  model::Labels external_labels;
  std::string external_url;
  int threads = 0;  // evaluation workers; 0: one per core
  int64_t outage_tolerance_ms = 3'600'000;
  int64_t for_grace_period_ms = 600'000;
  int64_t resend_delay_ms = 60'000;
};

struct EvalOutput;

class Manager {
 public:
  using Notify = std::function<void(std::vector<AlertNotice>)>;

  /// `store` may be null (no alert history). `notify` may be empty.
  Manager(tsdb::Db& db, promql::Engine& engine, meta::Store* store, selfmon::Registry& registry,
          Notify notify, Env* env = nullptr);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  /// Loads (or reloads) the rule files named by `options`. On error nothing changes.
  Status Load(const ManagerOptions& options);
  /// Starts the scheduler and workers; Stop() waits for running evaluations.
  void Start();
  void Stop();

  /// Evaluates every group once at `ts_ms`, in the calling thread.
  void EvaluateAt(int64_t ts_ms);

  std::vector<GroupStatus> Groups() const;
  /// Pending and firing alerts of every rule.
  std::vector<Alert> ActiveAlerts() const;
  size_t rule_count() const;

  class Group;

 private:
  void SchedulerLoop();
  void WorkerLoop();
  /// Stores an evaluation's alert transitions and hands its notices to the notifier.
  void Publish(const Group& g, EvalOutput& out);

  tsdb::Db& db_;
  promql::Engine& engine_;
  meta::Store* store_;
  selfmon::Registry& registry_;
  Notify notify_;
  Env* env_;  // the clock (null: DefaultEnv())
  struct Metrics;
  std::unique_ptr<Metrics> metrics_;

  mutable Mutex mu_;
  std::condition_variable wake_;
  // Replaced whole by Load(); evaluations hold the snapshot they started with.
  std::shared_ptr<const ManagerOptions> options_ PHAROS_GUARDED_BY(mu_) =
      std::make_shared<ManagerOptions>();
  // Groups' `running` and `next_eval_ms` are guarded by mu_ too.
  std::vector<std::shared_ptr<Group>> groups_ PHAROS_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Group>> ready_ PHAROS_GUARDED_BY(mu_);  // due, waiting for a worker
  bool running_ PHAROS_GUARDED_BY(mu_) = false;
  bool stopping_ PHAROS_GUARDED_BY(mu_) = false;
  std::thread scheduler_;
  std::vector<std::thread> workers_;
};

}  // namespace pharos::rules

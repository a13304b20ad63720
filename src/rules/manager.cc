#include <algorithm>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "common/log.h"
#include "common/strings.h"
#include "common/units.h"
#include "meta/meta.h"
#include "promql/promql.h"
#include "rules/group.h"
#include "selfmon/metrics.h"

namespace pharos::rules {

struct Manager::Metrics {
  explicit Metrics(selfmon::Registry& r)
      : evaluations(r.AddCounter("pharos_rule_evaluations_total", "Rule evaluations, by group.",
                                 {"rule_group"})),
        failures(r.AddCounter("pharos_rule_evaluation_failures_total",
                              "Rule evaluations that failed, by group.", {"rule_group"})),
        missed(r.AddCounter("pharos_rule_group_iterations_missed_total",
                            "Group evaluations skipped because the previous one was still "
                            "running.",
                            {"rule_group"})),
        iterations(r.AddCounter("pharos_rule_group_iterations_total",
                                "Scheduled group evaluations.", {"rule_group"})),
        last_duration(r.AddGauge("pharos_rule_group_last_duration_seconds",
                                 "Duration of the last evaluation of the group.", {"rule_group"})),
        last_lag(r.AddGauge("pharos_rule_group_last_lag_seconds",
                            "How late the last evaluation of the group started.", {"rule_group"})),
        interval(r.AddGauge("pharos_rule_group_interval_seconds", "The interval of the group.",
                            {"rule_group"})),
        last_evaluation(r.AddGauge("pharos_rule_group_last_evaluation_timestamp_seconds",
                                   "When the group was last evaluated.", {"rule_group"})),
        rules(r.AddGauge("pharos_rule_group_rules", "Rules in the group.", {"rule_group"})),
        history_errors(r.AddCounter("pharos_alert_history_write_errors_total",
                                    "Alert transitions that could not be stored.")),
        duration(r.AddHistogram("pharos_rule_group_duration_seconds", "Group evaluation durations.",
                                {}, selfmon::LatencyBuckets())) {}
  selfmon::Family<selfmon::Counter>& evaluations;
  selfmon::Family<selfmon::Counter>& failures;
  selfmon::Family<selfmon::Counter>& missed;
  selfmon::Family<selfmon::Counter>& iterations;
  selfmon::Family<selfmon::Gauge>& last_duration;
  selfmon::Family<selfmon::Gauge>& last_lag;
  selfmon::Family<selfmon::Gauge>& interval;
  selfmon::Family<selfmon::Gauge>& last_evaluation;
  selfmon::Family<selfmon::Gauge>& rules;
  selfmon::Family<selfmon::Counter>& history_errors;
  selfmon::Family<selfmon::Histogram>& duration;
};

namespace {}  // namespace

Manager::Manager(tsdb::Db& db, promql::Engine& engine, meta::Store* store,
                 selfmon::Registry& registry, Notify notify, Env* env)
    : db_(db),
      engine_(engine),
      store_(store),
      registry_(registry),
      notify_(std::move(notify)),
      env_(env ? env : DefaultEnv()),
      metrics_(std::make_unique<Metrics>(registry)) {}

Manager::~Manager() { Stop(); }

Status Manager::Load(const ManagerOptions& options) {
  Result<std::vector<std::string>> files = ExpandRuleFiles(options.rule_files, options.base_dir);
  if (!files.ok()) return files.status();
  Result<std::vector<std::string>> log_files =
      ExpandRuleFiles(options.log_rule_files, options.base_dir);
  if (!log_files.ok()) return log_files.status();
  std::vector<std::pair<std::string, RuleLanguage>> all;
  for (const std::string& f : *files) all.emplace_back(f, RuleLanguage::kPromql);
  for (const std::string& f : *log_files) all.emplace_back(f, RuleLanguage::kLogql);
  std::vector<std::shared_ptr<Group>> loaded;
  std::string errors;
  for (const auto& [file, language] : all) {
    Result<std::vector<GroupSpec>> specs = LoadRuleFile(file, language);
    if (!specs.ok()) {
      errors += (errors.empty() ? "" : "\n") + specs.status().message();
      continue;
    }
    for (GroupSpec& spec : *specs) {
      Result<std::shared_ptr<Group>> g = Group::Make(std::move(spec), options.default_interval_ms);
      if (!g.ok()) return g.status();
      loaded.push_back(std::move(*g));
    }
  }
  if (!errors.empty()) return InvalidArgument(errors);

  std::vector<std::shared_ptr<Group>> removed;
  size_t rules = 0;
  {
    MutexLock lock(mu_);
    std::map<std::string, std::shared_ptr<Group>> old;
    for (auto& g : groups_) old[g->key()] = g;
    int64_t now = env_->NowMs();
    for (auto& g : loaded) {
      auto it = old.find(g->key());
      if (it != old.end()) {
        g->CopyStateFrom(*it->second);
        g->next_eval_ms = it->second->interval_ms() == g->interval_ms() ? it->second->next_eval_ms
                                                                        : g->NextEvaluation(now);
        // `running` stays false: a worker still evaluating the old group clears the old
        // object's flag, and the new group must not wait for it.
        old.erase(it);
      } else {
        // New groups (all of them at start-up) restore `for` state on their first run.
        g->set_should_restore(true);
        g->next_eval_ms = g->NextEvaluation(now);
      }
      rules += g->spec().rules.size();
      std::string label = g->key();
      metrics_->interval.WithLabels({label}).Set(static_cast<double>(g->interval_ms()) / 1000);
      metrics_->rules.WithLabels({label}).Set(static_cast<double>(g->spec().rules.size()));
    }
    for (auto& [key, g] : old) removed.push_back(g);
    groups_ = std::move(loaded);
    options_ = std::make_shared<const ManagerOptions>(options);
  }
  EvalEnv env{&db_, &engine_, &options};
  for (auto& g : removed) g->MarkAllStale(env, env_->NowMs());
  wake_.notify_all();
  LogInfo("rules loaded", {{"files", files->size()}, {"rules", rules}});
  return Status::Ok();
}

void Manager::Start() {
  MutexLock lock(mu_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  int threads = options_->threads > 0
                    ? options_->threads
                    : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  scheduler_ = std::thread([this] { SchedulerLoop(); });
}

void Manager::Stop() {
  {
    MutexLock lock(mu_);
    if (!running_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  scheduler_.join();
  for (auto& t : workers_) t.join();
  workers_.clear();
  MutexLock lock(mu_);
  running_ = false;
}

void Manager::SchedulerLoop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    int64_t now = env_->NowMs();
    int64_t next = now + 1000;
    for (auto& g : groups_) {
      if (g->next_eval_ms <= now) {
        metrics_->iterations.WithLabels({g->key()}).Inc();
        if (g->running) {
          metrics_->missed.WithLabels({g->key()}).Inc();
        } else {
          g->running = true;
          ready_.push_back(g);
        }
        g->next_eval_ms = g->NextEvaluation(now);
      }
      next = std::min(next, g->next_eval_ms);
    }
    if (!ready_.empty()) wake_.notify_all();
    int64_t wait = std::max<int64_t>(1, next - env_->NowMs());
    wake_.wait_for(lock.native(), std::chrono::milliseconds(std::min<int64_t>(wait, 1000)));
  }
}

void Manager::WorkerLoop() {
  MutexLock lock(mu_);
  while (true) {
    while (!stopping_ && ready_.empty()) wake_.wait(lock.native());
    if (stopping_) return;
    std::shared_ptr<Group> g = std::move(ready_.front());
    ready_.pop_front();
    std::shared_ptr<const ManagerOptions> options = options_;
    lock.Unlock();
    // The evaluation time is the slot's aligned time, as Prometheus uses.
    int64_t now = env_->NowMs();
    int64_t ts = g->NextEvaluation(now) - g->interval_ms();
    std::string label = g->key();
    metrics_->last_lag.WithLabels({label}).Set(static_cast<double>(now - ts) / 1000);
    EvalEnv env{&db_, &engine_, options.get()};
    auto start = std::chrono::steady_clock::now();
    EvalOutput out = g->Evaluate(env, ts);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics_->evaluations.WithLabels({label}).Inc(static_cast<double>(out.evaluations));
    if (out.failures) metrics_->failures.WithLabels({label}).Inc(static_cast<double>(out.failures));
    metrics_->last_duration.WithLabels({label}).Set(seconds);
    metrics_->last_evaluation.WithLabels({label}).Set(static_cast<double>(ts) / 1000);
    metrics_->duration.WithLabels({}).Observe(seconds);
    Publish(*g, out);
    lock.Lock();
    g->running = false;
  }
}

void Manager::Publish(const Group& g, EvalOutput& out) {
  if (store_ && !out.events.empty()) {
    Status s = store_->Transaction([&]() -> Status {
      for (const AlertEvent& e : out.events) {
        std::string state =
            e.state == AlertState::kInactive ? "resolved" : std::string(AlertStateName(e.state));
        Result<int64_t> r = store_->Exec(
            "INSERT INTO alert_events (ts_ms, fingerprint, alertname, state, labels, "
            "annotations, value, rule_group) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            {e.ts_ms, model::Fingerprint(e.labels),
             std::string(model::LabelValue(e.labels, "alertname")), state,
             model::LabelsJson(e.labels), model::LabelsJson(e.annotations), e.value,
             g.spec().name});
        if (!r.ok()) return r.status();
      }
      return Status::Ok();
    });
    if (!s.ok()) {
      metrics_->history_errors.WithLabels({}).Inc(static_cast<double>(out.events.size()));
      LogError("cannot store alert transitions", {{"error", s.message()}});
    }
  }
  if (notify_ && !out.notices.empty()) notify_(std::move(out.notices));
}

void Manager::EvaluateAt(int64_t ts_ms) {
  std::vector<std::shared_ptr<Group>> groups;
  std::shared_ptr<const ManagerOptions> options;
  {
    MutexLock lock(mu_);
    groups = groups_;
    options = options_;
  }
  EvalEnv env{&db_, &engine_, options.get()};
  for (auto& g : groups) {
    EvalOutput out = g->Evaluate(env, ts_ms);
    Publish(*g, out);
  }
}

std::vector<GroupStatus> Manager::Groups() const {
  std::vector<std::shared_ptr<Group>> groups;
  {
    MutexLock lock(mu_);
    groups = groups_;
  }
  std::vector<GroupStatus> out;
  for (auto& g : groups) out.push_back(g->Status());
  return out;
}

std::vector<Alert> Manager::ActiveAlerts() const {
  std::vector<std::shared_ptr<Group>> groups;
  {
    MutexLock lock(mu_);
    groups = groups_;
  }
  std::vector<Alert> out;
  for (auto& g : groups) g->AppendActiveAlerts(out);
  return out;
}

size_t Manager::rule_count() const {
  MutexLock lock(mu_);
  size_t n = 0;
  for (auto& g : groups_) n += g->spec().rules.size();
  return n;
}

}  // namespace pharos::rules

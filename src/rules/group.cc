#include "rules/group.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "common/strings.h"
#include "promql/promql.h"

namespace pharos::rules {
namespace {

constexpr int64_t kResolvedRetentionMs = 15 * 60 * 1000;

void SetLabel(model::Labels& labels, std::string_view name, std::string value) {
  for (model::Label& l : labels) {
    if (l.name == name) {
      l.value = std::move(value);
      return;
    }
  }
  labels.push_back({std::string(name), std::move(value)});
}

void DropLabel(model::Labels& labels, std::string_view name) {
  labels.erase(std::remove_if(labels.begin(), labels.end(),
                              [&](const model::Label& l) { return l.name == name; }),
               labels.end());
}

// Empty values mean "no label", as in Prometheus.
void DropEmpty(model::Labels& labels) {
  labels.erase(std::remove_if(labels.begin(), labels.end(),
                              [](const model::Label& l) { return l.value.empty(); }),
               labels.end());
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

Manager::Group::Group(GroupSpec spec, int64_t interval_ms)
    : spec_(std::move(spec)), interval_ms_(interval_ms) {
  key_ = spec_.file + ";" + spec_.name;
}

Result<std::shared_ptr<Manager::Group>> Manager::Group::Make(GroupSpec spec,
                                                             int64_t default_interval_ms) {
  int64_t interval = spec.interval_ms > 0 ? spec.interval_ms : default_interval_ms;
  std::shared_ptr<Group> g(new Group(std::move(spec), interval));
  for (const RuleSpec& rs : g->spec_.rules) {
    RuleRuntime r;
    r.spec = rs;
    // Group labels first; the rule's own labels override them.
    LabelPairs merged = g->spec_.labels;
    for (const auto& label : rs.labels) {
      auto it = std::find_if(merged.begin(), merged.end(),
                             [&](const auto& p) { return p.first == label.first; });
      if (it != merged.end()) {
        it->second = label.second;
      } else {
        merged.push_back(label);
      }
    }
    r.spec.labels = merged;
    for (const auto& [name, text] : r.spec.labels) {
      Result<Template> t = Template::Parse(text);
      if (!t.ok()) return t.status();
      r.label_templates.emplace_back(name, std::move(*t));
    }
    for (const auto& [name, text] : r.spec.annotations) {
      Result<Template> t = Template::Parse(text);
      if (!t.ok()) return t.status();
      r.annotation_templates.emplace_back(name, std::move(*t));
    }
    MutexLock lock(g->mu_);  // not shared yet: uncontended, and the analysis sees the lock
    g->rules_.push_back(std::move(r));
  }
  return g;
}

int64_t Manager::Group::NextEvaluation(int64_t now_ms) const {
  int64_t offset = static_cast<int64_t>(Fnv1a(key_) % static_cast<uint64_t>(interval_ms_));
  int64_t adjusted = now_ms - offset;
  int64_t base = adjusted - (((adjusted % interval_ms_) + interval_ms_) % interval_ms_) + offset;
  return base > now_ms ? base : base + interval_ms_;
}

void Manager::Group::set_should_restore(bool v) {
  MutexLock lock(mu_);
  should_restore_ = v;
  for (RuleRuntime& r : rules_) r.restored = !(v && !r.spec.alert.empty() && r.spec.for_ms > 0);
}

EvalOutput Manager::Group::Evaluate(const EvalEnv& env, int64_t ts_ms) {
  auto start = std::chrono::steady_clock::now();
  EvalOutput out;
  MutexLock lock(mu_);
  for (RuleRuntime& rule : rules_) EvaluateRule(env, rule, ts_ms, out);
  if (should_restore_) {
    for (RuleRuntime& rule : rules_) {
      if (!rule.restored) RestoreForState(env, rule, ts_ms);
    }
    should_restore_ = false;
  }
  last_evaluation_ms_ = ts_ms;
  evaluation_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

void Manager::Group::EvaluateRule(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms,
                                  EvalOutput& out) {
  auto start = std::chrono::steady_clock::now();
  Samples series;
  ::pharos::Status s = rule.spec.alert.empty() ? EvalRecording(env, rule, ts_ms, series)
                                               : EvalAlerting(env, rule, ts_ms, series, out);
  ++out.evaluations;
  if (s.ok()) {
    Write(env, rule, ts_ms, series);
    rule.health = RuleHealth::kOk;
    rule.last_error = rule.template_error;
  } else {
    ++out.failures;
    rule.health = RuleHealth::kError;
    rule.last_error = s.message();
  }
  rule.last_evaluation_ms = ts_ms;
  rule.evaluation_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Result<Manager::Group::Samples> Manager::Group::Query(const EvalEnv& env, const RuleRuntime& rule,
                                                      int64_t ts_ms) const {
  if (spec_.logql) {
    if (!env.options->logql_query)
      return Unavailable("LogQL rules need the log store, which is not open");
    return env.options->logql_query(rule.spec.expr, ts_ms - spec_.query_offset_ms);
  }
  Result<promql::QueryResult> r =
      env.engine->Instant(*env.db, rule.spec.expr, ts_ms - spec_.query_offset_ms);
  if (!r.ok()) return r.status();
  Samples samples;
  if (r->type == promql::ValueType::kScalar) {
    samples.emplace_back(model::Labels{}, r->scalar);
    return samples;
  }
  for (promql::SeriesResult& sr : r->series) {
    if (!sr.points.empty()) samples.emplace_back(std::move(sr.labels), sr.points.back().v);
  }
  return samples;
}

::pharos::Status Manager::Group::EvalRecording(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms,
                                               Samples& series) {
  Result<Samples> samples = Query(env, rule, ts_ms);
  if (!samples.ok()) return samples.status();
  std::set<std::string> seen;
  auto add = [&](model::Labels labels, double v) -> ::pharos::Status {
    DropLabel(labels, "__name__");
    for (const auto& [name, value] : rule.spec.labels) SetLabel(labels, name, value);
    SetLabel(labels, "__name__", rule.spec.record);
    DropEmpty(labels);
    model::SortLabels(labels);
    if (!seen.insert(model::FormatLabels(labels)).second) {
      return FailedPrecondition(
          "vector contains metrics with the same labelset after applying rule labels");
    }
    series.emplace_back(std::move(labels), v);
    return ::pharos::Status::Ok();
  };
  if (spec_.limit > 0 && static_cast<int64_t>(samples->size()) > spec_.limit) {
    return ResourceExhausted(
        fmt::format("exceeded limit of {} with {} series", spec_.limit, samples->size()));
  }
  for (auto& [labels, value] : *samples) PHAROS_RETURN_IF_ERROR(add(std::move(labels), value));
  return ::pharos::Status::Ok();
}

::pharos::Status Manager::Group::EvalAlerting(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms,
                                              Samples& series, EvalOutput& out) {
  Result<Samples> samples = Query(env, rule, ts_ms);
  if (!samples.ok()) return samples.status();
  const ManagerOptions& options = *env.options;
  std::set<std::string> result_keys;
  std::string expansion_errors;
  for (auto& [sample_labels, value] : *samples) {
    TemplateData data;
    data.labels = &sample_labels;
    data.value = value;
    data.external_labels = &options.external_labels;
    data.external_url = options.external_url;
    auto expand = [&](const Template& t, const std::string& name) {
      Result<std::string> text = t.Execute(data);
      if (text.ok()) return std::move(*text);
      // Prometheus puts the error text in place of the value and keeps going.
      std::string message = fmt::format("<error expanding template: {}>", text.status().message());
      if (expansion_errors.empty()) expansion_errors = name + ": " + text.status().message();
      return message;
    };
    model::Labels labels = sample_labels;
    DropLabel(labels, "__name__");
    for (const auto& [name, t] : rule.label_templates) SetLabel(labels, name, expand(t, name));
    SetLabel(labels, "alertname", rule.spec.alert);
    DropEmpty(labels);
    model::SortLabels(labels);
    model::Labels annotations;
    for (const auto& [name, t] : rule.annotation_templates) {
      annotations.push_back({name, expand(t, name)});
    }
    std::string key = model::FormatLabels(labels);
    if (!result_keys.insert(key).second) {
      return FailedPrecondition(
          "vector contains metrics with the same labelset after applying alert labels");
    }
    auto it = rule.alerts.find(key);
    if (it != rule.alerts.end() && it->second.state != AlertState::kInactive) {
      it->second.value = value;
      it->second.annotations = std::move(annotations);
      continue;
    }
    Alert a;
    a.labels = std::move(labels);
    a.annotations = std::move(annotations);
    a.state = AlertState::kPending;
    a.active_at_ms = ts_ms;
    a.value = value;
    out.events.push_back({ts_ms, a.labels, a.annotations, AlertState::kPending, value});
    rule.alerts[key] = std::move(a);
  }

  int64_t active = 0;
  for (auto it = rule.alerts.begin(); it != rule.alerts.end();) {
    Alert& a = it->second;
    if (!result_keys.count(it->first)) {
      bool keep_firing = false;
      if (a.state == AlertState::kFiring && rule.spec.keep_firing_for_ms > 0) {
        if (a.keep_firing_since_ms == 0) a.keep_firing_since_ms = ts_ms;
        keep_firing = ts_ms - a.keep_firing_since_ms < rule.spec.keep_firing_for_ms;
      }
      if (a.state == AlertState::kPending ||
          (a.resolved_at_ms != 0 && ts_ms - a.resolved_at_ms > kResolvedRetentionMs)) {
        if (a.state == AlertState::kPending) {
          out.events.push_back({ts_ms, a.labels, a.annotations, AlertState::kInactive, a.value});
        }
        it = rule.alerts.erase(it);
        continue;
      }
      if (a.state != AlertState::kInactive && !keep_firing) {
        a.state = AlertState::kInactive;
        a.resolved_at_ms = ts_ms;
        out.events.push_back({ts_ms, a.labels, a.annotations, AlertState::kInactive, a.value});
      }
      if (!keep_firing) {
        ++it;
        continue;
      }
    } else if (a.keep_firing_since_ms < ts_ms) {
      a.keep_firing_since_ms = 0;
    }
    ++active;
    if (a.state == AlertState::kPending && ts_ms - a.active_at_ms >= rule.spec.for_ms) {
      a.state = AlertState::kFiring;
      a.fired_at_ms = ts_ms;
      out.events.push_back({ts_ms, a.labels, a.annotations, AlertState::kFiring, a.value});
    }
    if (rule.restored) {
      model::Labels alerts_labels = a.labels;
      alerts_labels.push_back({"__name__", "ALERTS"});
      alerts_labels.push_back({"alertstate", std::string(AlertStateName(a.state))});
      model::SortLabels(alerts_labels);
      series.emplace_back(std::move(alerts_labels), 1);
      model::Labels for_labels = a.labels;
      for_labels.push_back({"__name__", "ALERTS_FOR_STATE"});
      model::SortLabels(for_labels);
      series.emplace_back(std::move(for_labels), static_cast<double>(a.active_at_ms / 1000));
    }
    ++it;
  }
  if (spec_.limit > 0 && active > spec_.limit) {
    rule.alerts.clear();
    series.clear();
    return ResourceExhausted(
        fmt::format("exceeded limit of {} with {} alerts", spec_.limit, active));
  }

  // Alertmanager hears of firing alerts every resend delay and of resolutions at once.
  int64_t delta = std::max(env.options->resend_delay_ms, interval_ms_);
  std::string generator = options.external_url;
  while (!generator.empty() && generator.back() == '/') generator.pop_back();
  generator += "/graph?g0.expr=" + UrlQueryEscape(rule.spec.expr) + "&g0.tab=1";
  for (auto& [key, a] : rule.alerts) {
    if (a.state == AlertState::kPending) continue;
    bool resolved_since_sent = a.resolved_at_ms != 0 && a.resolved_at_ms > a.last_sent_ms;
    if (!resolved_since_sent && a.last_sent_ms + env.options->resend_delay_ms >= ts_ms) continue;
    a.last_sent_ms = ts_ms;
    a.valid_until_ms = ts_ms + 4 * delta;
    AlertNotice n;
    n.labels = a.labels;
    for (const model::Label& l : options.external_labels) {
      bool present = std::any_of(n.labels.begin(), n.labels.end(),
                                 [&](const model::Label& x) { return x.name == l.name; });
      if (!present) n.labels.push_back(l);
    }
    model::SortLabels(n.labels);
    n.annotations = a.annotations;
    n.starts_at_ms = a.fired_at_ms;
    n.ends_at_ms = a.state == AlertState::kInactive ? a.resolved_at_ms : a.valid_until_ms;
    n.generator_url = generator;
    out.notices.push_back(std::move(n));
  }
  // The alert still fires (as in Prometheus); the rule shows the template problem.
  rule.template_error = expansion_errors.empty() ? "" : "template: " + expansion_errors;
  return ::pharos::Status::Ok();
}

void Manager::Group::RestoreForState(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms) {
  rule.restored = true;
  const ManagerOptions& options = *env.options;
  std::unique_ptr<tsdb::Querier> q = env.db->Query(ts_ms - options.outage_tolerance_ms, ts_ms);
  for (auto& [key, a] : rule.alerts) {
    if (a.state != AlertState::kPending) continue;
    std::vector<model::Matcher> matchers;
    Result<model::Matcher> name =
        model::Matcher::Make(model::MatchType::kEqual, "__name__", "ALERTS_FOR_STATE");
    if (!name.ok()) continue;
    matchers.push_back(std::move(*name));
    for (const model::Label& l : a.labels) {
      Result<model::Matcher> m = model::Matcher::Make(model::MatchType::kEqual, l.name, l.value);
      if (m.ok()) matchers.push_back(std::move(*m));
    }
    Result<std::vector<tsdb::SeriesData>> found = q->Select(matchers);
    if (!found.ok()) continue;
    for (const tsdb::SeriesData& sd : *found) {
      if (sd.labels.size() != a.labels.size() + 1 || sd.samples.empty()) continue;
      const tsdb::Sample& last = sd.samples.back();
      if (tsdb::IsStaleNaN(last.v)) continue;
      int64_t down_at = last.t / 1000 * 1000;
      auto restored_active = static_cast<int64_t>(last.v) * 1000;
      int64_t spent_pending = down_at - restored_active;
      int64_t remaining = rule.spec.for_ms - spent_pending;
      if (remaining <= 0) {
        // It was firing when Pharos stopped; the next evaluation fires it again.
      } else if (remaining < options.for_grace_period_ms) {
        restored_active = ts_ms + options.for_grace_period_ms - rule.spec.for_ms;
      } else {
        restored_active += ts_ms - down_at;
      }
      a.active_at_ms = restored_active;
    }
  }
}

void Manager::Group::Write(const EvalEnv& env, RuleRuntime& rule, int64_t ts_ms, Samples& series) {
  std::map<std::string, model::Labels> now;
  for (const auto& [labels, v] : series) now.emplace(model::FormatLabels(labels), labels);
  // Series written last time and absent now get a staleness marker.
  for (auto& [key, labels] : rule.written) {
    if (!now.count(key)) series.emplace_back(labels, tsdb::StaleNaN());
  }
  if (!series.empty()) {
    std::vector<std::vector<model::LabelView>> views(series.size());
    std::vector<tsdb::Sample> samples(series.size());
    std::vector<tsdb::SeriesInput> batch(series.size());
    for (size_t i = 0; i < series.size(); ++i) {
      for (const model::Label& l : series[i].first) views[i].push_back({l.name, l.value});
      samples[i] = {ts_ms, series[i].second};
      batch[i] = {views[i], std::span<const tsdb::Sample>(&samples[i], 1)};
    }
    tsdb::AppendResult result;
    (void)env.db->Append(batch, result);
  }
  rule.written = std::move(now);
}

void Manager::Group::MarkAllStale(const EvalEnv& env, int64_t ts_ms) {
  MutexLock lock(mu_);
  for (RuleRuntime& rule : rules_) {
    Samples none;
    Write(env, rule, ts_ms, none);
  }
}

void Manager::Group::CopyStateFrom(Group& old) {
  // The new group is not published yet, so taking both locks in this order cannot deadlock.
  MutexLock lock(mu_);
  MutexLock old_lock(old.mu_);
  // Rules match by name and position among rules of the same name, and must be unchanged.
  std::map<std::string, std::vector<RuleRuntime*>> by_name;
  for (RuleRuntime& r : old.rules_) by_name[r.spec.name()].push_back(&r);
  std::map<std::string, size_t> used;
  for (RuleRuntime& r : rules_) {
    auto it = by_name.find(r.spec.name());
    if (it == by_name.end()) continue;
    size_t& index = used[r.spec.name()];
    if (index >= it->second.size()) continue;
    RuleRuntime& o = *it->second[index++];
    if (o.spec.expr != r.spec.expr || o.spec.labels != r.spec.labels ||
        o.spec.for_ms != r.spec.for_ms || o.spec.keep_firing_for_ms != r.spec.keep_firing_for_ms) {
      continue;
    }
    r.alerts = o.alerts;
    r.written = o.written;
    r.health = o.health;
    r.last_error = o.last_error;
    r.last_evaluation_ms = o.last_evaluation_ms;
    r.evaluation_seconds = o.evaluation_seconds;
    r.restored = o.restored;
  }
  last_evaluation_ms_ = old.last_evaluation_ms_;
  evaluation_seconds_ = old.evaluation_seconds_;
  should_restore_ = old.should_restore_;
}

GroupStatus Manager::Group::Status() const {
  MutexLock lock(mu_);
  GroupStatus g;
  g.name = spec_.name;
  g.file = spec_.file;
  g.interval_ms = interval_ms_;
  g.limit = spec_.limit;
  g.last_evaluation_ms = last_evaluation_ms_;
  g.evaluation_seconds = evaluation_seconds_;
  for (const RuleRuntime& r : rules_) {
    RuleStatus s;
    s.spec = r.spec;
    s.group = spec_.name;
    s.file = spec_.file;
    s.health = r.health;
    s.last_error = r.last_error;
    s.last_evaluation_ms = r.last_evaluation_ms;
    s.evaluation_seconds = r.evaluation_seconds;
    for (const auto& [key, a] : r.alerts) {
      if (a.state == AlertState::kInactive) continue;
      s.alerts.push_back(a);
      if (a.state == AlertState::kFiring ||
          (a.state == AlertState::kPending && s.state == AlertState::kInactive)) {
        s.state = a.state;
      }
    }
    g.rules.push_back(std::move(s));
  }
  return g;
}

void Manager::Group::AppendActiveAlerts(std::vector<Alert>& out) const {
  MutexLock lock(mu_);
  for (const RuleRuntime& r : rules_) {
    for (const auto& [key, a] : r.alerts) {
      if (a.state != AlertState::kInactive) out.push_back(a);
    }
  }
}

}  // namespace pharos::rules

#include "app/alerting_stack.h"

#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "common/log.h"
#include "common/units.h"

namespace pharos::app {
namespace {

alerting::Alert ToAlert(rules::AlertNotice n) {
  alerting::Alert a;
  a.labels = std::move(n.labels);
  a.annotations = std::move(n.annotations);
  a.starts_at_ms = n.starts_at_ms;
  a.ends_at_ms = n.ends_at_ms;
  a.generator_url = std::move(n.generator_url);
  return a;
}

// Escalation steps must name receivers of the alerting section.
Status CheckPolicies(const incidents::Options& o, const alerting::Config& c) {
  for (const incidents::EscalationPolicy& p : o.policies) {
    for (const incidents::EscalationStep& s : p.steps) {
      bool found = std::any_of(c.receivers.begin(), c.receivers.end(),
                               [&](const alerting::Receiver& r) { return r.name == s.receiver; });
      if (!found) {
        return InvalidArgument(
            fmt::format("incidents.escalation_policies: policy \"{}\" names receiver \"{}\", which "
                        "alerting.receivers does not define",
                        p.name, s.receiver));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<alerting::Config> BuildAlertingConfig(const config::Config& config,
                                             const std::string& default_url) {
  Result<alerting::Config> c = alerting::ParseConfig(config.alerting.yaml, "alerting");
  if (!c.ok()) return c.status();
  if (!c->configured) {
    // No alerting section: alerts are kept and shown, and notify nobody; each alert name
    // and job is its own group (and so its own incident).
    c->route.receiver = "none";
    c->route.key = "{}";
    c->route.group_by = {"alertname", "job"};
    c->receivers.push_back({"none", {}, {}, {}});
  }
  c->original = config.alerting.redacted_yaml;
  if (c->external_url.empty()) {
    c->external_url = config.global.external_url.empty() ? default_url : config.global.external_url;
  }
  while (!c->external_url.empty() && c->external_url.back() == '/') c->external_url.pop_back();
  return c;
}

incidents::Options BuildIncidentOptions(const config::Config& config) {
  incidents::Options o;
  for (int l = 0; l < 4; ++l) {
    o.respond_within_ms[l] = config.incidents.respond_within[l].count();
    o.resolve_within_ms[l] = config.incidents.resolve_within[l].count();
  }
  o.severity_levels.clear();
  for (const auto& [severity, level] : config.incidents.severity_levels) {
    o.severity_levels[severity] = level;
  }
  o.open_from_alerts = config.incidents.open_from_alerts;
  o.auto_resolve = config.incidents.auto_resolve;
  for (const config::EscalationPolicyConfig& p : config.incidents.escalation_policies) {
    incidents::EscalationPolicy policy{p.name, {}};
    for (const config::EscalationStepConfig& s : p.steps) {
      policy.steps.push_back({s.receiver, s.delay.count()});
    }
    o.policies.push_back(std::move(policy));
  }
  o.default_policy = config.incidents.default_escalation_policy;
  return o;
}

rules::ManagerOptions BuildRuleOptions(const config::Config& config,
                                       const std::string& external_url,
                                       rules::InstantQuery logql_query) {
  rules::ManagerOptions o;
  o.rule_files = config.rule_files;
  o.log_rule_files = config.log_rule_files;
  o.logql_query = std::move(logql_query);
  o.base_dir = config.config_dir;
  o.default_interval_ms = config.global.evaluation_interval.count();
  for (const auto& [name, value] : config.global.external_labels) {
    o.external_labels.push_back({name, value});
  }
  model::SortLabels(o.external_labels);
  o.external_url = external_url;
  o.threads = config.rules.concurrency;
  o.outage_tolerance_ms = config.rules.outage_tolerance.count();
  o.for_grace_period_ms = config.rules.for_grace_period.count();
  o.resend_delay_ms = config.rules.resend_delay.count();
  return o;
}

Result<std::unique_ptr<AlertingStack>> AlertingStack::Create(const config::Config& config,
                                                             const std::string& default_url,
                                                             tsdb::Db& db, promql::Engine& engine,
                                                             selfmon::Registry& registry,
                                                             rules::InstantQuery logql_query) {
  std::unique_ptr<AlertingStack> s(new AlertingStack());
  s->default_url_ = default_url;
  s->history_retention_ms_ = config.storage.history_retention.count();
  Result<alerting::Config> alerting_config = BuildAlertingConfig(config, default_url);
  if (!alerting_config.ok()) return alerting_config.status();
  incidents::Options incident_options = BuildIncidentOptions(config);
  PHAROS_RETURN_IF_ERROR(CheckPolicies(incident_options, *alerting_config));
  std::string path = (std::filesystem::path(config.storage.data_dir) / "meta.db").string();
  Result<std::unique_ptr<meta::Store>> store = meta::Store::Open(path);
  if (!store.ok()) return store.status();
  s->store_ = std::move(*store);
  std::string external_url = alerting_config->external_url;
  s->dispatcher_ = std::make_unique<alerting::Dispatcher>(std::move(*alerting_config),
                                                          s->store_.get(), registry);
  PHAROS_RETURN_IF_ERROR(s->dispatcher_->Open());
  alerting::Dispatcher* dispatcher = s->dispatcher_.get();
  s->incidents_ = std::make_unique<incidents::Manager>(
      *s->store_, registry, std::move(incident_options),
      [dispatcher](const std::string& receiver, std::vector<alerting::Alert> alerts,
                   const std::string& key) {
        return dispatcher->NotifyReceiver(receiver, std::move(alerts), key);
      });
  incidents::Manager* incidents = s->incidents_.get();
  s->dispatcher_->SetFlushObserver(
      [incidents](const alerting::Notification& n) { incidents->OnNotification(n); });
  s->rules_ = std::make_unique<rules::Manager>(
      db, engine, s->store_.get(), registry, [dispatcher](std::vector<rules::AlertNotice> notices) {
        std::vector<alerting::Alert> alerts;
        alerts.reserve(notices.size());
        for (rules::AlertNotice& n : notices) alerts.push_back(ToAlert(std::move(n)));
        dispatcher->Insert(std::move(alerts));
      });
  s->logql_query_ = std::move(logql_query);
  PHAROS_RETURN_IF_ERROR(s->rules_->Load(BuildRuleOptions(config, external_url, s->logql_query_)));
  return s;
}

AlertingStack::~AlertingStack() {
  if (rules_) rules_->Stop();
  if (dispatcher_) dispatcher_->Stop();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (clock_.joinable()) clock_.join();
}

void AlertingStack::Start(Services& services) {
  dispatcher_->Start();
  rules_->Start();
  clock_ = std::thread([this] { ClockLoop(); });
  services.Publish(store_.get());
  services.Publish(dispatcher_.get());
  services.Publish(incidents_.get());
  services.Publish(rules_.get());
}

void AlertingStack::Stop(Services& services) {
  services.Withdraw<rules::Manager>();
  services.Withdraw<incidents::Manager>();
  services.Withdraw<alerting::Dispatcher>();
  services.Withdraw<meta::Store>();
  rules_->Stop();
  dispatcher_->Stop();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (clock_.joinable()) clock_.join();
}

void AlertingStack::ClockLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    int64_t now = incidents_->NowMs();
    incidents_->Tick(now);
    // Hourly: history older than storage.history_retention goes, so meta.db stays bounded.
    if (now - last_prune_ms_ >= 3'600'000) {
      last_prune_ms_ = now;
      int64_t cutoff = now - history_retention_ms_;
      for (const char* table : {"alert_events", "notifications"}) {
        Result<int64_t> r =
            store_->Exec(fmt::format("DELETE FROM {} WHERE ts_ms < ?1", table), {cutoff});
        if (!r.ok()) LogError("cannot prune history", {{"error", r.status().message()}});
      }
    }
    lock.lock();
    wake_.wait_for(lock, std::chrono::seconds(1));
  }
}

Status AlertingStack::Reload(const config::Config& config) {
  Result<alerting::Config> alerting_config = BuildAlertingConfig(config, default_url_);
  if (!alerting_config.ok()) return alerting_config.status();
  incidents::Options incident_options = BuildIncidentOptions(config);
  PHAROS_RETURN_IF_ERROR(CheckPolicies(incident_options, *alerting_config));
  std::string external_url = alerting_config->external_url;
  PHAROS_RETURN_IF_ERROR(rules_->Load(BuildRuleOptions(config, external_url, logql_query_)));
  dispatcher_->Reload(std::move(*alerting_config));
  incidents_->SetOptions(std::move(incident_options));
  return Status::Ok();
}

}  // namespace pharos::app

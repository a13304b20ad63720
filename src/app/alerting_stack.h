// Internal to app: the rules -> alerting -> incidents chain, built from the configuration,
// started after storage recovery and reloaded on SIGHUP and POST /-/reload.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "alerting/alerting.h"
#include "api/api.h"
#include "common/status.h"
#include "config/config.h"
#include "incidents/incidents.h"
#include "meta/meta.h"
#include "rules/rules.h"

namespace pharos::app {

/// The alerting section, with the external URL filled in.
Result<alerting::Config> BuildAlertingConfig(const config::Config& config,
                                             const std::string& default_url);
incidents::Options BuildIncidentOptions(const config::Config& config);
rules::ManagerOptions BuildRuleOptions(const config::Config& config,
                                       const std::string& external_url,
                                       rules::InstantQuery logql_query = {});

class AlertingStack {
 public:
  /// Opens meta.db in the data directory and builds every component; nothing runs yet.
  static Result<std::unique_ptr<AlertingStack>> Create(const config::Config& config,
                                                       const std::string& default_url, tsdb::Db& db,
                                                       promql::Engine& engine,
                                                       selfmon::Registry& registry,
                                                       rules::InstantQuery logql_query = {});
  ~AlertingStack();

  /// Starts evaluation, delivery and the incident clocks, and publishes the components
  /// to the API routes.
  void Start(Services& services);
  /// Withdraws the components from the routes and stops every thread.
  void Stop(Services& services);
  /// Applies a new configuration: rule files, the alerting section, incident options.
  /// Checks everything first; on error nothing changes.
  Status Reload(const config::Config& config);

 private:
  AlertingStack() = default;
  void ClockLoop();

  std::string default_url_;
  rules::InstantQuery logql_query_;  // evaluates the log rule files' LogQL
  int64_t history_retention_ms_ = 0;
  int64_t last_prune_ms_ = 0;
  std::unique_ptr<meta::Store> store_;
  std::unique_ptr<alerting::Dispatcher> dispatcher_;
  std::unique_ptr<incidents::Manager> incidents_;
  std::unique_ptr<rules::Manager> rules_;
  std::thread clock_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace pharos::app

// alerting: Alertmanager's semantics inside Pharos: the routing tree, grouping with
// group_wait / group_interval / repeat_interval, inhibition, silences, time intervals, and
// receivers (webhook with Alertmanager's version 4 payload, forwarding to an external
// Alertmanager, email over SMTP), with a durable notification log and history.
//
// Contract:
// - ParseConfig() reads an Alertmanager configuration (alertmanager.yml as it is: global,
//   route, receivers, inhibit_rules, time_intervals, mute_time_intervals; templates are
//   ignored) and checks it: every receiver a route names exists, matchers parse, time
//   intervals are valid. Errors name the key path.
// - Dispatcher is thread-safe. Insert() takes alerts (from the rule manager or from
//   POST /api/v2/alerts); Tick(now) flushes the aggregation groups that are due, applying
//   silences, inhibition and time intervals, and hands notifications to the delivery
//   queue. Start() runs Tick on a timer and the delivery workers; tests call Tick with
//   their own clock instead.
// - Delivery retries with exponential backoff (1 s doubling, at most 1 min apart) until
//   the group's next flush is due; each attempt has a 10 s timeout, and one failing
//   receiver never delays another. Every notification, sent or failed, is counted, logged
//   when it fails, and stored in meta's notifications table; what each receiver was last
//   told about each group is kept in notification_log so a restart does not resend.
// - Silences live in meta's silences table and survive restarts. Silenced and inhibited
//   alerts stay visible with their state ("suppressed", silencedBy, inhibitedBy).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "model/model.h"

namespace pharos::meta {
class Store;
}
namespace pharos::selfmon {
class Registry;
}

namespace pharos::alerting {

// ---- matchers ----

/// A matcher in Alertmanager's dialect; refuses an invalid label name.
Result<model::Matcher> MakeMatcher(model::MatchType type, std::string name, std::string value);
/// Parses Alertmanager's matcher syntax: `a="b"`, `a!=b`, `a=~"x|y"`, `a!~y`, optionally a
/// comma-separated list in braces. Matchers follow Alertmanager's regex dialect and refuse
/// invalid label names.
Result<std::vector<model::Matcher>> ParseMatchers(std::string_view text);
/// `{a="b",c=~"d"}`: Alertmanager's Matchers.String(), used in route keys; ParseMatchers
/// reads it back (silences are stored in it).
std::string FormatMatchers(const std::vector<model::Matcher>& matchers);

// ---- configuration ----

struct TimeInterval {
  std::vector<std::pair<int, int>> times;          // minutes of the day [start, end)
  std::vector<std::pair<int, int>> weekdays;       // 0 = Sunday
  std::vector<std::pair<int, int>> days_of_month;  // 1..31, or negative from the end
  std::vector<std::pair<int, int>> months;         // 1..12
  std::vector<std::pair<int, int>> years;
  /// True when `ms` (UTC) falls inside every given field.
  bool Contains(int64_t ms) const;
};

struct Route {
  std::string receiver;
  std::vector<std::string> group_by;
  bool group_by_all = false;  // group_by: ['...']
  std::vector<model::Matcher> matchers;
  bool continue_matching = false;
  int64_t group_wait_ms = 30'000;
  int64_t group_interval_ms = 300'000;
  int64_t repeat_interval_ms = 4 * 3'600'000;
  std::vector<std::string> mute_time_intervals;
  std::vector<std::string> active_time_intervals;
  std::vector<Route> routes;
  std::string key;  // Alertmanager's route key: "{}" for the root, "{}/{a=\"b\"}" below
};

struct HttpAuth {
  std::string bearer_token;
  std::string username;
  std::string password;
};

struct WebhookConfig {
  std::string url;
  bool send_resolved = true;
  uint64_t max_alerts = 0;  // 0: all
  HttpAuth auth;
};

struct EmailConfig {
  std::string to;
  std::string from;
  std::string smarthost;  // host:port
  std::string hello = "localhost";
  std::string auth_username;
  std::string auth_password;
  bool require_tls = true;
  bool send_resolved = false;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Pharos's receiver kind for an external Alertmanager: POST /api/v2/alerts.
struct AlertmanagerConfig {
  std::string url;  // the Alertmanager's base URL, e.g. http://127.0.0.1:9093
  bool send_resolved = true;
  HttpAuth auth;
};

struct Receiver {
  std::string name;
  std::vector<WebhookConfig> webhooks;
  std::vector<EmailConfig> emails;
  std::vector<AlertmanagerConfig> alertmanagers;
};

struct InhibitRule {
  std::vector<model::Matcher> source;
  std::vector<model::Matcher> target;
  std::vector<std::string> equal;
};

struct Config {
  int64_t resolve_timeout_ms = 300'000;
  Route route;
  std::vector<Receiver> receivers;
  std::vector<InhibitRule> inhibit_rules;
  std::map<std::string, std::vector<TimeInterval>> time_intervals;
  std::string external_url;  // links in notifications; the server's URL by default
  bool configured = false;   // false when the config had no alerting section
  std::string original;      // the section as YAML, secrets hidden (/api/v2/status)
};

/// Parses an Alertmanager configuration (YAML text). `source` prefixes error messages.
Result<Config> ParseConfig(std::string_view yaml, std::string_view source);

// ---- alerts, silences and views ----

struct Alert {
  model::Labels labels;  // sorted
  model::Labels annotations;
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;  // 0: not set (resolve_timeout applies)
  int64_t updated_at_ms = 0;
  std::string generator_url;
  bool timeout = false;  // ends_at was set from resolve_timeout
  std::string fingerprint;
  bool Resolved(int64_t now_ms) const { return ends_at_ms != 0 && ends_at_ms <= now_ms; }
};

struct Silence {
  std::string id;
  std::vector<model::Matcher> matchers;
  int64_t starts_at_ms = 0;
  int64_t ends_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::string created_by;
  std::string comment;
  /// "active", "pending" (starts later) or "expired".
  std::string_view State(int64_t now_ms) const;
};

struct AlertView {
  Alert alert;
  std::vector<std::string> receivers;
  std::vector<std::string> silenced_by;
  std::vector<std::string> inhibited_by;  // fingerprints of the inhibiting alerts
  bool muted_by_time = false;
  std::string state() const {
    return silenced_by.empty() && inhibited_by.empty() ? "active" : "suppressed";
  }
};

struct GroupView {
  std::string key;
  std::string receiver;
  model::Labels group_labels;
  std::vector<AlertView> alerts;
};

/// One notification for a group, as it was handed to a receiver.
struct Notification {
  std::string receiver;
  std::string group_key;
  model::Labels group_labels;
  std::vector<Alert> alerts;  // firing first; resolved ones have ends_at <= now
  int64_t now_ms = 0;
  /// For the flush observer: whether this flush handed the group to the receiver (false
  /// when the notification log said nothing changed, or a time interval muted it).
  bool delivered = false;
};

/// Called after each group flush with the alerts that were not muted (for incidents), from
/// Tick's thread with no dispatcher lock held, so it may call back into the dispatcher.
using FlushObserver = std::function<void(const Notification&)>;

struct DispatcherOptions {
  int delivery_threads = 4;
  int64_t tick_ms = 100;
  int64_t request_timeout_ms = 10'000;
};

class Dispatcher {
 public:
  /// `store` may be null (nothing durable: silences and history in memory only).
  Dispatcher(Config config, meta::Store* store, selfmon::Registry& registry,
             DispatcherOptions options = {}, Env* env = nullptr);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// Loads silences and the notification log from the store.
  Status Open();
  void Start();
  void Stop();
  /// Swaps the configuration; alerts are routed again into groups of the new tree.
  void Reload(Config config);

  void Insert(std::vector<Alert> alerts);
  /// The dispatcher's clock (its Env): silences and alerts are judged by it.
  int64_t NowMs() const;
  /// Flushes due groups and expires resolved alerts, at `now_ms`.
  void Tick(int64_t now_ms);
  /// Runs queued deliveries that are due, in the calling thread (tests).
  void DeliverDue(int64_t now_ms);
  /// Sends `alerts` to one receiver outside the routing tree (incident escalation).
  Status NotifyReceiver(const std::string& receiver, std::vector<Alert> alerts,
                        const std::string& group_key);
  bool HasReceiver(const std::string& name) const;
  void SetFlushObserver(FlushObserver observer);

  // Silences.
  Result<std::string> UpsertSilence(Silence silence);
  Status ExpireSilence(const std::string& id);
  std::vector<Silence> Silences() const;
  Result<Silence> GetSilence(const std::string& id) const;

  // Views for the API and console.
  std::vector<AlertView> Alerts() const;
  std::vector<GroupView> Groups() const;
  /// A copy of the configuration in effect.
  Config config() const;
  size_t pending_deliveries() const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

/// Alertmanager's webhook payload (version "4") for a notification.
std::string WebhookPayload(const Notification& n, const std::string& external_url,
                           uint64_t max_alerts);
/// Alertmanager's postable alerts (POST /api/v2/alerts body) for a notification.
std::string PostableAlerts(const Notification& n, int64_t firing_ends_at_ms);
/// RFC 3339 with milliseconds trimmed as Go prints time.Time ("0001-01-01T00:00:00Z" for 0).
std::string FormatTime(int64_t ms);

}  // namespace pharos::alerting

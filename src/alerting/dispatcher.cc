// The dispatcher: alert store, routing into aggregation groups, flushes with silences,
// inhibition and time intervals, the notification log, and the delivery queue.

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include <fmt/format.h>

#include "alerting/alerting.h"
#include "alerting/notify.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/strings.h"
#include "common/units.h"
#include "meta/meta.h"
#include "net/net.h"
#include "selfmon/metrics.h"

namespace pharos::alerting {
namespace {

constexpr int64_t kSilenceRetentionMs = 5 * 24 * 3'600'000;  // Alertmanager's 120 h
constexpr int64_t kMaxBackoffMs = 60'000;

// Alertmanager's LabelSet.String(): {a="b", c="d"}.
std::string LabelSetString(const model::Labels& labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ", ";
    out += labels[i].name + "=" + JsonString(labels[i].value);
  }
  return out + "}";
}

std::string Join(const std::set<std::string>& s) {
  std::string out;
  for (const std::string& x : s) out += (out.empty() ? "" : ",") + x;
  return out;
}

std::set<std::string> SplitSet(const std::string& s) {
  std::set<std::string> out;
  for (std::string_view part : Split(s, ',')) {
    if (!part.empty()) out.emplace(part);
  }
  return out;
}

bool Subset(const std::set<std::string>& a, const std::set<std::string>& b) {
  return std::includes(b.begin(), b.end(), a.begin(), a.end());
}

// A random (version 4) UUID, as Alertmanager's silence ids.
std::string NewSilenceId(Env& env) {
  uint8_t b[16];
  env.RandomBytes(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  std::string hex = HexEncode(std::string_view(reinterpret_cast<char*>(b), 16));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

void Match(const Route& r, const model::Labels& labels, std::vector<const Route*>& out) {
  if (!MatchesAll(r.matchers, labels)) return;
  size_t before = out.size();
  for (const Route& child : r.routes) {
    size_t n = out.size();
    Match(child, labels, out);
    if (out.size() > n && !child.continue_matching) break;
  }
  if (out.size() == before) out.push_back(&r);
}

model::Labels GroupLabelsFor(const Route& r, const model::Labels& labels) {
  if (r.group_by_all) return labels;
  model::Labels out;
  for (const model::Label& l : labels) {
    if (std::find(r.group_by.begin(), r.group_by.end(), l.name) != r.group_by.end()) {
      out.push_back(l);
    }
  }
  return out;
}

struct AggrGroup {
  const Route* route = nullptr;
  std::string key;
  model::Labels labels;
  std::map<std::string, Alert> alerts;  // by fingerprint
  int64_t next_flush_ms = 0;
  bool has_flushed = false;
};

struct LogEntry {
  int64_t ts_ms = 0;
  std::set<std::string> firing;
  std::set<std::string> resolved;
};

enum class Kind { kWebhook, kEmail, kAlertmanager };

std::string_view KindName(Kind k) {
  switch (k) {
    case Kind::kWebhook: return "webhook";
    case Kind::kEmail: return "email";
    case Kind::kAlertmanager: return "alertmanager";
  }
  return "";
}

struct Delivery {
  Notification n;
  Kind kind = Kind::kWebhook;
  size_t index = 0;
  std::string integration;  // "webhook[0]"
  int attempts = 0;
  int64_t next_try_ms = 0;
  int64_t deadline_ms = 0;
  int64_t firing_ends_at_ms = 0;  // for forwarding to Alertmanager
  bool log = true;                // update the notification log on success
  std::set<std::string> firing;
  std::set<std::string> resolved;
  std::shared_ptr<const Config> config;
};

}  // namespace

struct Dispatcher::State {
  State(meta::Store* s, selfmon::Registry& r, DispatcherOptions o, Env* e)
      : store(s),
        options(o),
        env(e),
        sent(r.AddCounter("pharos_notifications_total",
                          "Notifications delivered, by receiver and integration.",
                          {"receiver", "integration"})),
        failed(r.AddCounter("pharos_notifications_failed_total",
                            "Notifications given up after retries, by receiver and integration.",
                            {"receiver", "integration"})),
        attempts_failed(r.AddCounter("pharos_notification_requests_failed_total",
                                     "Failed delivery attempts (each retry counts).",
                                     {"integration"})),
        latency(r.AddHistogram("pharos_notification_latency_seconds",
                               "Duration of delivery attempts.", {"integration"},
                               selfmon::LatencyBuckets())),
        received(r.AddCounter("pharos_alerts_received_total", "Alerts received, by status.",
                              {"status"})),
        store_errors(r.AddCounter("pharos_alerting_store_errors_total",
                                  "Silences, notification log or history rows that could not be "
                                  "stored.")) {
    r.AddCollector([this](selfmon::SampleWriter& w) {
      MutexLock lock(mu);
      int64_t now = env->NowMs();
      size_t active = 0, suppressed = 0;
      for (const auto& [fp, a] : alerts) {
        if (a.Resolved(now)) continue;
        bool muted = !SilencedBy(a.labels, now).empty() || !InhibitedBy(a, now).empty();
        (muted ? suppressed : active)++;
      }
      w.Family("pharos_alerts", "Alerts held by the dispatcher, by state.",
               selfmon::MetricType::kGauge);
      w.Sample("pharos_alerts", {{"state", "active"}}, static_cast<double>(active));
      w.Sample("pharos_alerts", {{"state", "suppressed"}}, static_cast<double>(suppressed));
      size_t counts[3] = {0, 0, 0};
      for (const auto& [id, s] : silences) {
        std::string_view st = s.State(now);
        counts[st == "active" ? 0 : st == "pending" ? 1 : 2]++;
      }
      w.Family("pharos_silences", "Silences, by state.", selfmon::MetricType::kGauge);
      w.Sample("pharos_silences", {{"state", "active"}}, static_cast<double>(counts[0]));
      w.Sample("pharos_silences", {{"state", "pending"}}, static_cast<double>(counts[1]));
      w.Sample("pharos_silences", {{"state", "expired"}}, static_cast<double>(counts[2]));
    });
  }

  std::vector<std::string> SilencedBy(const model::Labels& labels, int64_t now) const
      PHAROS_REQUIRES(mu) {
    std::vector<std::string> out;
    for (const auto& [id, s] : silences) {
      if (s.State(now) == "active" && MatchesAll(s.matchers, labels)) out.push_back(id);
    }
    return out;
  }

  static std::string EqualKey(const InhibitRule& rule, const model::Labels& labels) {
    std::string key;
    for (const std::string& name : rule.equal) {
      key += model::LabelValue(labels, name);
      key += '\xff';
    }
    return key;
  }

  // Source alerts of each inhibit rule by their `equal` label values, rebuilt when the
  // alerts change, so that checking an alert costs a lookup rather than a scan.
  void RebuildSourceIndex() const PHAROS_REQUIRES(mu) {
    source_index.assign(config->inhibit_rules.size(), {});
    for (size_t i = 0; i < config->inhibit_rules.size(); ++i) {
      const InhibitRule& rule = config->inhibit_rules[i];
      for (const auto& [fp, a] : alerts) {
        if (MatchesAll(rule.source, a.labels))
          source_index[i][EqualKey(rule, a.labels)].push_back(&a);
      }
    }
    index_version = alerts_version;
  }

  std::vector<std::string> InhibitedBy(const Alert& target, int64_t now) const PHAROS_REQUIRES(mu) {
    std::vector<std::string> out;
    if (config->inhibit_rules.empty()) return out;
    if (index_version != alerts_version || source_index.size() != config->inhibit_rules.size()) {
      RebuildSourceIndex();
    }
    for (size_t i = 0; i < config->inhibit_rules.size(); ++i) {
      const InhibitRule& rule = config->inhibit_rules[i];
      if (!MatchesAll(rule.target, target.labels)) continue;
      auto it = source_index[i].find(EqualKey(rule, target.labels));
      if (it == source_index[i].end()) continue;
      bool target_is_source = MatchesAll(rule.source, target.labels);
      for (const Alert* source : it->second) {
        if (source->Resolved(now) || source->fingerprint == target.fingerprint) continue;
        // An alert matching both sides never inhibits another that does (Alertmanager).
        if (target_is_source && MatchesAll(rule.target, source->labels)) continue;
        out.push_back(source->fingerprint);
        break;
      }
    }
    return out;
  }

  bool TimeMuted(const Route& r, int64_t now) const PHAROS_REQUIRES(mu) {
    for (const std::string& name : r.mute_time_intervals) {
      auto it = config->time_intervals.find(name);
      if (it == config->time_intervals.end()) continue;
      for (const TimeInterval& ti : it->second) {
        if (ti.Contains(now)) return true;
      }
    }
    if (!r.active_time_intervals.empty()) {
      for (const std::string& name : r.active_time_intervals) {
        auto it = config->time_intervals.find(name);
        if (it == config->time_intervals.end()) continue;
        for (const TimeInterval& ti : it->second) {
          if (ti.Contains(now)) return false;
        }
      }
      return true;
    }
    return false;
  }

  const Receiver* FindReceiver(const std::string& name) const PHAROS_REQUIRES(mu) {
    for (const Receiver& r : config->receivers) {
      if (r.name == name) return &r;
    }
    return nullptr;
  }

  void RouteAlert(const Alert& a, int64_t now) PHAROS_REQUIRES(mu) {
    std::vector<const alerting::Route*> routes;
    Match(config->route, a.labels, routes);
    for (const auto* r : routes) {
      model::Labels group_labels = GroupLabelsFor(*r, a.labels);
      std::string key = r->key + ":" + LabelSetString(group_labels);
      auto [it, created] = groups.try_emplace(key);
      AggrGroup& g = it->second;
      if (created) {
        g.route = r;
        g.key = key;
        g.labels = std::move(group_labels);
        g.next_flush_ms = now + r->group_wait_ms;
      }
      g.alerts[a.fingerprint] = a;
      // An alert that started long ago need not wait for group_wait.
      if (!g.has_flushed && a.starts_at_ms + r->group_wait_ms < now) g.next_flush_ms = now;
    }
  }

  // Flushes due groups and forgets resolved alerts and long-expired silences.
  void Tick(int64_t now_ms) PHAROS_REQUIRES(mu) {
    for (auto it = groups.begin(); it != groups.end();) {
      AggrGroup& g = it->second;
      if (g.next_flush_ms <= now_ms) {
        Flush(g, now_ms);
        g.has_flushed = true;
        g.next_flush_ms = now_ms + g.route->group_interval_ms;
      }
      if (g.alerts.empty()) {
        it = groups.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = alerts.begin(); it != alerts.end();) {
      if (it->second.Resolved(now_ms)) {
        it = alerts.erase(it);
        ++alerts_version;
      } else {
        ++it;
      }
    }
    for (auto it = silences.begin(); it != silences.end();) {
      if (it->second.ends_at_ms + kSilenceRetentionMs < now_ms) {
        if (store) (void)store->Exec("DELETE FROM silences WHERE id = ?1", {it->first});
        it = silences.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Enqueues deliveries for one receiver; `log` false skips deduplication bookkeeping.
  void Enqueue(const Receiver& r, const Notification& n, int64_t now, int64_t deadline,
               int64_t repeat_ms, bool log, const std::set<std::string>& firing,
               const std::set<std::string>& resolved) PHAROS_REQUIRES(mu) {
    std::shared_ptr<const Config> current = config;
    auto add = [&](Kind kind, size_t index, bool send_resolved) {
      Delivery d;
      d.n = n;
      if (!send_resolved) {
        d.n.alerts.erase(std::remove_if(d.n.alerts.begin(), d.n.alerts.end(),
                                        [&](const Alert& a) { return a.Resolved(now); }),
                         d.n.alerts.end());
      }
      if (d.n.alerts.empty()) return false;
      d.kind = kind;
      d.index = index;
      d.integration = fmt::format("{}[{}]", KindName(kind), index);
      d.next_try_ms = now;
      d.deadline_ms = deadline;
      d.firing_ends_at_ms = now + repeat_ms + 2 * std::max<int64_t>(deadline - now, 60'000);
      d.log = log;
      d.firing = firing;
      d.resolved = resolved;
      d.config = current;
      MutexLock lock(qmu);
      queue.push_back(std::move(d));
      return true;
    };
    bool any = false;
    for (size_t i = 0; i < r.webhooks.size(); ++i) {
      any |= add(Kind::kWebhook, i, r.webhooks[i].send_resolved);
    }
    for (size_t i = 0; i < r.emails.size(); ++i) {
      any |= add(Kind::kEmail, i, r.emails[i].send_resolved);
    }
    for (size_t i = 0; i < r.alertmanagers.size(); ++i) {
      any |= add(Kind::kAlertmanager, i, r.alertmanagers[i].send_resolved);
    }
    if (any) {
      qcv.notify_all();
    } else if (log) {
      // Nothing to send (resolved-only, no send_resolved): remember we were here.
      SaveLog(n.group_key, r.name, {now, firing, resolved});
    }
  }

  void SaveLog(const std::string& group_key, const std::string& receiver, LogEntry e)
      PHAROS_REQUIRES(mu) {
    if (store) {
      Result<int64_t> r = store->Exec(
          "INSERT INTO notification_log (group_key, receiver, ts_ms, firing, resolved) VALUES "
          "(?1, ?2, ?3, ?4, ?5) ON CONFLICT (group_key, receiver) DO UPDATE SET ts_ms = ?3, "
          "firing = ?4, resolved = ?5",
          {group_key, receiver, e.ts_ms, Join(e.firing), Join(e.resolved)});
      if (!r.ok()) store_errors.WithLabels({}).Inc();
    }
    nflog[{group_key, receiver}] = std::move(e);
  }

  void Flush(AggrGroup& g, int64_t now) PHAROS_REQUIRES(mu) {
    const Receiver* receiver = FindReceiver(g.route->receiver);
    Notification n;
    n.receiver = g.route->receiver;
    n.group_key = g.key;
    n.group_labels = g.labels;
    n.now_ms = now;
    std::vector<std::string> resolved_now;
    for (const auto& [fp, a] : g.alerts) {
      if (a.Resolved(now)) resolved_now.push_back(fp);
      if (!SilencedBy(a.labels, now).empty() || !InhibitedBy(a, now).empty()) continue;
      n.alerts.push_back(a);
    }
    std::sort(n.alerts.begin(), n.alerts.end(), [&](const Alert& a, const Alert& b) {
      bool ra = a.Resolved(now), rb = b.Resolved(now);
      if (ra != rb) return !ra;
      return model::LabelsLess(a.labels, b.labels);
    });
    bool muted = TimeMuted(*g.route, now);
    if (receiver && !muted) {
      std::set<std::string> firing, resolved;
      for (const Alert& a : n.alerts) (a.Resolved(now) ? resolved : firing).insert(a.fingerprint);
      bool send_resolved = false;
      for (const auto& w : receiver->webhooks) send_resolved |= w.send_resolved;
      for (const auto& e : receiver->emails) send_resolved |= e.send_resolved;
      for (const auto& a : receiver->alertmanagers) send_resolved |= a.send_resolved;
      auto it = nflog.find({g.key, receiver->name});
      bool needed;
      if (it == nflog.end()) {
        needed = !firing.empty();
      } else if (!Subset(firing, it->second.firing)) {
        needed = true;
      } else if (firing.empty()) {
        needed = !it->second.firing.empty();
      } else if (send_resolved && !Subset(resolved, it->second.resolved)) {
        needed = true;
      } else {
        needed = it->second.ts_ms + g.route->repeat_interval_ms <= now;
      }
      if (needed) {
        n.delivered = true;
        Enqueue(*receiver, n, now, now + std::max<int64_t>(g.route->group_interval_ms, 10'000),
                g.route->repeat_interval_ms, true, firing, resolved);
      }
    }
    // The observer (incidents) runs after Tick releases the lock: it may call back into
    // the dispatcher (escalations), and must never wait on it while holding its own.
    if (observer && !n.alerts.empty()) observed.push_back(n);
    for (const std::string& fp : resolved_now) g.alerts.erase(fp);
  }

  Status Send(const Delivery& d) {
    const Config& c = *d.config;
    const Receiver* r = nullptr;
    for (const Receiver& x : c.receivers) {
      if (x.name == d.n.receiver) r = &x;
    }
    if (!r) return NotFound("receiver \"" + d.n.receiver + "\" is no longer configured");
    std::string external = c.external_url;
    auto post = [&](const std::string& url, const std::string& body,
                    const HttpAuth& auth) -> Status {
      net::HttpRequest request;
      request.method = "POST";
      request.url = url;
      request.body = body;
      request.content_type = "application/json";
      request.timeout_ms = options.request_timeout_ms;
      request.max_reply_bytes = 64 * 1024;
      if (!auth.bearer_token.empty()) {
        request.headers.emplace_back("Authorization", "Bearer " + auth.bearer_token);
      } else if (!auth.username.empty()) {
        request.headers.emplace_back("Authorization",
                                     "Basic " + Base64Encode(auth.username + ":" + auth.password));
      }
      Result<net::HttpReply> reply = net::Fetch(request);
      if (!reply.ok()) return reply.status();
      if (reply->status / 100 != 2) {
        return Unavailable(fmt::format("unexpected status code {}: {}", reply->status,
                                       std::string(Trim(reply->body)).substr(0, 200)));
      }
      return Status::Ok();
    };
    switch (d.kind) {
      case Kind::kWebhook: {
        const WebhookConfig& w = r->webhooks.at(d.index);
        return post(w.url, WebhookPayload(d.n, external, w.max_alerts), w.auth);
      }
      case Kind::kAlertmanager: {
        const AlertmanagerConfig& a = r->alertmanagers.at(d.index);
        std::string url = a.url;
        while (!url.empty() && url.back() == '/') url.pop_back();
        return post(url + "/api/v2/alerts", PostableAlerts(d.n, d.firing_ends_at_ms), a.auth);
      }
      case Kind::kEmail: {
        const EmailConfig& e = r->emails.at(d.index);
        net::MailSubmission mail;
        mail.smarthost = e.smarthost;
        mail.hello = e.hello;
        mail.username = e.auth_username;
        mail.password = e.auth_password;
        mail.require_tls = e.require_tls;
        mail.from = e.from;
        mail.recipients = SplitAddresses(e.to);
        mail.message = EmailMessage(d.n, e, external);
        return net::SendMail(mail, options.request_timeout_ms);
      }
    }
    return Internal("unknown integration");
  }

  void Record(const Delivery& d, int64_t now, bool ok, const std::string& error) {
    if (!store) return;
    std::string alerts = "[";
    for (size_t i = 0; i < d.n.alerts.size(); ++i) {
      const Alert& a = d.n.alerts[i];
      std::string_view name = model::LabelValue(a.labels, "alertname");
      alerts += fmt::format("{}{{\"fingerprint\":{},\"alertname\":{},\"status\":\"{}\"}}",
                            i ? "," : "", JsonString(a.fingerprint), JsonString(name),
                            a.Resolved(d.n.now_ms) ? "resolved" : "firing");
    }
    alerts += "]";
    Result<int64_t> r = store->Exec(
        "INSERT INTO notifications (ts_ms, receiver, integration, group_key, status, outcome, "
        "attempts, alerts, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        {now, d.n.receiver, d.integration, d.n.group_key,
         std::string(AnyFiring(d.n) ? "firing" : "resolved"), std::string(ok ? "sent" : "failed"),
         static_cast<int64_t>(d.attempts), alerts, error});
    if (!r.ok()) store_errors.WithLabels({}).Inc();
  }

  // One attempt; requeues with backoff or gives up at the deadline.
  void Attempt(Delivery d) {
    std::string kind(KindName(d.kind));
    auto start = std::chrono::steady_clock::now();
    Status s = Send(d);
    latency.WithLabels({kind}).Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    ++d.attempts;
    int64_t now = env->NowMs();
    if (s.ok()) {
      sent.WithLabels({d.n.receiver, kind}).Inc();
      Record(d, now, true, "");
      if (d.log) {
        MutexLock lock(mu);
        SaveLog(d.n.group_key, d.n.receiver, {d.n.now_ms, d.firing, d.resolved});
      }
      return;
    }
    attempts_failed.WithLabels({kind}).Inc();
    int64_t backoff =
        std::min<int64_t>(kMaxBackoffMs, int64_t{1000} << std::min(d.attempts - 1, 16));
    if (now + backoff < d.deadline_ms) {
      d.next_try_ms = now + backoff;
      MutexLock lock(qmu);
      queue.push_back(std::move(d));
      qcv.notify_all();
      return;
    }
    failed.WithLabels({d.n.receiver, kind}).Inc();
    LogError("notification failed; giving up", {{"receiver", d.n.receiver},
                                                {"integration", d.integration},
                                                {"attempts", d.attempts},
                                                {"error", s.message()}});
    Record(d, now, false, s.message());
  }

  // With qmu held: moves the first due delivery to `out`, or lowers `next` to the earliest
  // retry time.
  bool PopDueLocked(int64_t now, Delivery& out, int64_t& next) PHAROS_REQUIRES(qmu) {
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (it->next_try_ms <= now) {
        out = std::move(*it);
        queue.erase(it);
        return true;
      }
      next = std::min(next, it->next_try_ms);
    }
    return false;
  }

  bool TakeDue(int64_t now, Delivery& out) {
    MutexLock lock(qmu);
    int64_t next = now;
    return PopDueLocked(now, out, next);
  }

  void WorkerLoop() {
    MutexLock lock(qmu);
    while (!stopping) {
      int64_t now = env->NowMs();
      int64_t next = now + 1000;
      Delivery d;
      if (PopDueLocked(now, d, next)) {
        lock.Unlock();
        Attempt(std::move(d));
        lock.Lock();
        continue;
      }
      qcv.wait_for(lock.native(), std::chrono::milliseconds(std::max<int64_t>(1, next - now)));
    }
  }

  mutable Mutex mu;
  std::shared_ptr<const Config> config PHAROS_GUARDED_BY(mu);
  meta::Store* store;
  DispatcherOptions options;
  Env* env;  // the clock and the randomness of silence ids
  std::map<std::string, Alert> alerts PHAROS_GUARDED_BY(mu);
  // Bumped whenever `alerts` or the inhibit rules change.
  uint64_t alerts_version PHAROS_GUARDED_BY(mu) = 1;
  mutable uint64_t index_version PHAROS_GUARDED_BY(mu) = 0;
  mutable std::vector<std::unordered_map<std::string, std::vector<const Alert*>>> source_index
      PHAROS_GUARDED_BY(mu);
  std::map<std::string, AggrGroup> groups PHAROS_GUARDED_BY(mu);
  std::map<std::string, Silence> silences PHAROS_GUARDED_BY(mu);
  std::map<std::pair<std::string, std::string>, LogEntry> nflog PHAROS_GUARDED_BY(mu);
  FlushObserver observer PHAROS_GUARDED_BY(mu);
  // Flushes for the observer, handed over by Tick.
  std::vector<Notification> observed PHAROS_GUARDED_BY(mu);

  Mutex qmu;
  std::condition_variable qcv;
  std::deque<Delivery> queue PHAROS_GUARDED_BY(qmu);
  bool stopping PHAROS_GUARDED_BY(qmu) = false;
  std::vector<std::thread> workers;
  std::thread ticker;
  Mutex tick_mu;
  std::condition_variable tick_cv;

  selfmon::Family<selfmon::Counter>& sent;
  selfmon::Family<selfmon::Counter>& failed;
  selfmon::Family<selfmon::Counter>& attempts_failed;
  selfmon::Family<selfmon::Histogram>& latency;
  selfmon::Family<selfmon::Counter>& received;
  selfmon::Family<selfmon::Counter>& store_errors;
};

Dispatcher::Dispatcher(Config config, meta::Store* store, selfmon::Registry& registry,
                       DispatcherOptions options, Env* env)
    : state_(std::make_unique<State>(store, registry, options, env ? env : DefaultEnv())) {
  state_->config = std::make_shared<const Config>(std::move(config));
}

Dispatcher::~Dispatcher() { Stop(); }

int64_t Dispatcher::NowMs() const { return state_->env->NowMs(); }

Status Dispatcher::Open() {
  if (!state_->store) return Status::Ok();
  MutexLock lock(state_->mu);
  Result<std::vector<meta::Row>> rows = state_->store->Query(
      "SELECT id, matchers, starts_ms, ends_ms, updated_ms, created_by, comment FROM silences");
  if (!rows.ok()) return rows.status();
  for (const meta::Row& row : *rows) {
    Silence s;
    s.id = row.Text(0);
    Result<std::vector<model::Matcher>> m = ParseMatchers(row.Text(1));
    if (!m.ok()) {
      LogError("skipping a stored silence with bad matchers", {{"id", s.id}});
      continue;
    }
    s.matchers = std::move(*m);
    s.starts_at_ms = row.Int(2);
    s.ends_at_ms = row.Int(3);
    s.updated_at_ms = row.Int(4);
    s.created_by = row.Text(5);
    s.comment = row.Text(6);
    state_->silences[s.id] = std::move(s);
  }
  rows = state_->store->Query(
      "SELECT group_key, receiver, ts_ms, firing, resolved FROM notification_log");
  if (!rows.ok()) return rows.status();
  for (const meta::Row& row : *rows) {
    state_->nflog[{row.Text(0), row.Text(1)}] =
        LogEntry{row.Int(2), SplitSet(row.Text(3)), SplitSet(row.Text(4))};
  }
  return Status::Ok();
}

void Dispatcher::Start() {
  State& s = *state_;
  {
    MutexLock lock(s.qmu);
    if (!s.workers.empty()) return;
    s.stopping = false;
  }
  for (int i = 0; i < std::max(1, s.options.delivery_threads); ++i) {
    s.workers.emplace_back([&s] { s.WorkerLoop(); });
  }
  s.ticker = std::thread([this, &s] {
    MutexLock lock(s.tick_mu);
    while (true) {
      {
        MutexLock q(s.qmu);
        if (s.stopping) return;
      }
      lock.Unlock();
      Tick(s.env->NowMs());
      lock.Lock();
      s.tick_cv.wait_for(lock.native(), std::chrono::milliseconds(s.options.tick_ms));
    }
  });
}

void Dispatcher::Stop() {
  State& s = *state_;
  {
    MutexLock lock(s.qmu);
    if (s.workers.empty()) return;
    s.stopping = true;
  }
  s.qcv.notify_all();
  s.tick_cv.notify_all();
  if (s.ticker.joinable()) s.ticker.join();
  for (auto& t : s.workers) t.join();
  s.workers.clear();
}

void Dispatcher::Reload(Config config) {
  MutexLock lock(state_->mu);
  state_->config = std::make_shared<const Config>(std::move(config));
  ++state_->alerts_version;  // the inhibit rules may have changed
  // Alertmanager rebuilds its groups on reload; the notification log prevents resends.
  state_->groups.clear();
  int64_t now = state_->env->NowMs();
  for (const auto& [fp, a] : state_->alerts) state_->RouteAlert(a, now);
}

void Dispatcher::Insert(std::vector<Alert> alerts) {
  State& s = *state_;
  MutexLock lock(s.mu);
  int64_t now = s.env->NowMs();
  for (Alert& a : alerts) {
    model::SortLabels(a.labels);
    a.fingerprint = model::Fingerprint(a.labels);
    if (a.starts_at_ms == 0) a.starts_at_ms = now;
    if (a.ends_at_ms == 0) {
      a.ends_at_ms = now + s.config->resolve_timeout_ms;
      a.timeout = true;
    }
    a.updated_at_ms = now;
    auto it = s.alerts.find(a.fingerprint);
    if (it != s.alerts.end() && !it->second.Resolved(now) &&
        it->second.starts_at_ms < a.starts_at_ms) {
      a.starts_at_ms = it->second.starts_at_ms;  // the same ongoing alert
    }
    s.received.WithLabels({a.Resolved(now) ? "resolved" : "firing"}).Inc();
    s.alerts[a.fingerprint] = a;
    ++s.alerts_version;
    s.RouteAlert(a, now);
  }
}

void Dispatcher::Tick(int64_t now_ms) {
  State& s = *state_;
  std::vector<Notification> observed;
  FlushObserver observer;
  {
    MutexLock lock(s.mu);
    s.Tick(now_ms);
    observed.swap(s.observed);
    observer = s.observer;
  }
  for (const Notification& n : observed) observer(n);
}

void Dispatcher::DeliverDue(int64_t now_ms) {
  Delivery d;
  while (state_->TakeDue(now_ms, d)) state_->Attempt(std::move(d));
}

Status Dispatcher::NotifyReceiver(const std::string& receiver, std::vector<Alert> alerts,
                                  const std::string& group_key) {
  State& s = *state_;
  MutexLock lock(s.mu);
  const Receiver* r = s.FindReceiver(receiver);
  if (!r) return NotFound(fmt::format("no receiver named \"{}\"", receiver));
  int64_t now = s.env->NowMs();
  Notification n;
  n.receiver = receiver;
  n.group_key = group_key;
  n.now_ms = now;
  for (Alert& a : alerts) {
    model::SortLabels(a.labels);
    a.fingerprint = model::Fingerprint(a.labels);
  }
  n.alerts = std::move(alerts);
  s.Enqueue(*r, n, now, now + 5 * 60'000, 4 * 3'600'000, false, {}, {});
  return Status::Ok();
}

bool Dispatcher::HasReceiver(const std::string& name) const {
  MutexLock lock(state_->mu);
  return state_->FindReceiver(name) != nullptr;
}

void Dispatcher::SetFlushObserver(FlushObserver observer) {
  MutexLock lock(state_->mu);
  state_->observer = std::move(observer);
}

Result<std::string> Dispatcher::UpsertSilence(Silence silence) {
  State& s = *state_;
  MutexLock lock(s.mu);
  int64_t now = s.env->NowMs();
  if (silence.matchers.empty()) return InvalidArgument("a silence needs at least one matcher");
  bool all_match_empty =
      std::all_of(silence.matchers.begin(), silence.matchers.end(),
                  [](const model::Matcher& m) { return m.Matches(std::string_view()); });
  if (all_match_empty) {
    return InvalidArgument("at least one matcher must not match the empty string");
  }
  if (silence.ends_at_ms <= silence.starts_at_ms) {
    return InvalidArgument("endsAt must be after startsAt");
  }
  if (silence.ends_at_ms <= now) return InvalidArgument("endsAt is in the past");
  if (silence.starts_at_ms < now) silence.starts_at_ms = now;
  if (!silence.id.empty()) {
    auto it = s.silences.find(silence.id);
    if (it == s.silences.end()) {
      return NotFound(fmt::format("silence {} not found", silence.id));
    }
    if (it->second.State(now) == "expired") silence.id.clear();  // expired: a new one
  }
  if (silence.id.empty()) silence.id = NewSilenceId(*s.env);
  silence.updated_at_ms = now;
  if (s.store) {
    Result<int64_t> r = s.store->Exec(
        "INSERT INTO silences (id, matchers, starts_ms, ends_ms, updated_ms, created_by, comment) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET matchers = ?2, "
        "starts_ms = ?3, ends_ms = ?4, updated_ms = ?5, created_by = ?6, comment = ?7",
        {silence.id, FormatMatchers(silence.matchers), silence.starts_at_ms, silence.ends_at_ms,
         silence.updated_at_ms, silence.created_by, silence.comment});
    if (!r.ok()) return r.status();
  }
  std::string id = silence.id;
  s.silences[id] = std::move(silence);
  return id;
}

Status Dispatcher::ExpireSilence(const std::string& id) {
  State& s = *state_;
  MutexLock lock(s.mu);
  auto it = s.silences.find(id);
  if (it == s.silences.end()) return NotFound(fmt::format("silence {} not found", id));
  int64_t now = s.env->NowMs();
  if (it->second.State(now) == "expired") {
    return FailedPrecondition(fmt::format("silence {} already expired", id));
  }
  if (it->second.starts_at_ms > now) it->second.starts_at_ms = now;
  it->second.ends_at_ms = now;
  it->second.updated_at_ms = now;
  if (s.store) {
    Result<int64_t> r = s.store->Exec(
        "UPDATE silences SET starts_ms = ?2, ends_ms = ?3, updated_ms = ?3 WHERE id = ?1",
        {id, it->second.starts_at_ms, now});
    if (!r.ok()) return r.status();
  }
  return Status::Ok();
}

std::vector<Silence> Dispatcher::Silences() const {
  MutexLock lock(state_->mu);
  std::vector<Silence> out;
  for (const auto& [id, s] : state_->silences) out.push_back(s);
  return out;
}

Result<Silence> Dispatcher::GetSilence(const std::string& id) const {
  MutexLock lock(state_->mu);
  auto it = state_->silences.find(id);
  if (it == state_->silences.end()) return NotFound(fmt::format("silence {} not found", id));
  return it->second;
}

std::vector<AlertView> Dispatcher::Alerts() const {
  const State& s = *state_;
  MutexLock lock(s.mu);
  int64_t now = s.env->NowMs();
  std::vector<AlertView> out;
  for (const auto& [fp, a] : s.alerts) {
    if (a.Resolved(now)) continue;
    AlertView v;
    v.alert = a;
    std::vector<const Route*> routes;
    Match(s.config->route, a.labels, routes);
    for (const Route* r : routes) {
      if (std::find(v.receivers.begin(), v.receivers.end(), r->receiver) == v.receivers.end()) {
        v.receivers.push_back(r->receiver);
      }
      v.muted_by_time = v.muted_by_time || s.TimeMuted(*r, now);
    }
    v.silenced_by = s.SilencedBy(a.labels, now);
    v.inhibited_by = s.InhibitedBy(a, now);
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<GroupView> Dispatcher::Groups() const {
  const State& s = *state_;
  MutexLock lock(s.mu);
  int64_t now = s.env->NowMs();
  std::vector<GroupView> out;
  for (const auto& [key, g] : s.groups) {
    GroupView v;
    v.key = key;
    v.receiver = g.route->receiver;
    v.group_labels = g.labels;
    for (const auto& [fp, a] : g.alerts) {
      if (a.Resolved(now)) continue;
      AlertView av;
      av.alert = a;
      av.receivers = {g.route->receiver};
      av.silenced_by = s.SilencedBy(a.labels, now);
      av.inhibited_by = s.InhibitedBy(a, now);
      v.alerts.push_back(std::move(av));
    }
    if (!v.alerts.empty()) out.push_back(std::move(v));
  }
  return out;
}

Config Dispatcher::config() const {
  MutexLock lock(state_->mu);
  return *state_->config;
}

size_t Dispatcher::pending_deliveries() const {
  MutexLock lock(state_->qmu);
  return state_->queue.size();
}

}  // namespace pharos::alerting

// Live tailing: the hub that hands acknowledged lines to subscriptions, and Loki's
// /loki/api/v1/tail WebSocket, whose feed runs the query's pipeline over them.
#include "logs/tail.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include <fmt/format.h>
#define XXH_INLINE_ALL  // header-only: no run-time library
#include <xxhash.h>

#include "common/strings.h"
#include "common/units.h"
#include "config/config.h"
#include "logql/logql.h"
#include "logs/http.h"
#include "logs/logs.h"

namespace pharos::logs {

// ---- the hub ----

namespace {

// The bytes a waiting line counts against kMaxPendingBytes.
size_t Footprint(const TailedLine& l) {
  size_t bytes = l.line.size() + 64;
  for (const model::Label& m : l.metadata) bytes += m.name.size() + m.value.size();
  return bytes;
}

}  // namespace

void TailSubscription::Add(std::vector<TailedLine>& lines) {
  MutexLock lock(mu_);
  for (TailedLine& l : lines) {
    size_t bytes = Footprint(l);
    if (pending_bytes_ + bytes > kMaxPendingBytes) {
      // The client reads slower than the lines arrive: Loki drops and says which.
      if (dropped_.size() < kMaxDroppedReported) dropped_.push_back({l.stream, l.ts_ns});
      continue;
    }
    pending_bytes_ += bytes;
    pending_.push_back(std::move(l));
  }
}

void TailSubscription::Take(int64_t arrived_by_ns, std::vector<TailedLine>& lines,
                            std::vector<DroppedLine>& dropped) {
  MutexLock lock(mu_);
  auto ready = std::stable_partition(pending_.begin(), pending_.end(), [&](const TailedLine& l) {
    return l.arrived_ns <= arrived_by_ns;
  });
  for (auto it = pending_.begin(); it != ready; ++it) {
    pending_bytes_ -= std::min(pending_bytes_, Footprint(*it));
    lines.push_back(std::move(*it));
  }
  pending_.erase(pending_.begin(), ready);
  dropped.insert(dropped.end(), dropped_.begin(), dropped_.end());
  dropped_.clear();
}

std::shared_ptr<TailSubscription> TailHub::Subscribe(std::vector<model::Matcher> matchers) {
  auto sub = std::make_shared<TailSubscription>(std::move(matchers));
  MutexLock lock(mu_);
  subscriptions_.push_back(sub);
  active_.fetch_add(1, std::memory_order_relaxed);
  return sub;
}

void TailHub::Offer(std::span<const colstore::AppendedStream> batch, int64_t now_ns) {
  if (active_.load(std::memory_order_relaxed) == 0) return;
  std::vector<std::shared_ptr<TailSubscription>> live;
  {
    MutexLock lock(mu_);
    std::erase_if(subscriptions_,
                  [](const std::weak_ptr<TailSubscription>& w) { return w.expired(); });
    active_.store(subscriptions_.size(), std::memory_order_relaxed);
    for (const auto& w : subscriptions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  if (live.empty()) return;
  std::vector<TailedLine> lines;
  for (const colstore::AppendedStream& st : batch) {
    std::shared_ptr<const model::Labels> stream;
    for (const auto& sub : live) {
      if (!model::MatchesAll(sub->matchers(), *st.labels)) continue;
      if (!stream) stream = std::make_shared<const model::Labels>(*st.labels);
      lines.clear();
      for (const colstore::RecordInput& rec : st.records) {
        TailedLine& t = lines.emplace_back();
        t.stream = stream;
        t.ts_ns = rec.time_ns;
        t.arrived_ns = now_ns;
        for (const colstore::Column& c : rec.columns) {
          if (c.name == kLineColumn) {
            t.line.assign(c.value.s);
          } else if (c.value.type == colstore::Value::Type::kString) {
            t.metadata.push_back({std::string(c.name), std::string(c.value.s)});
          }
        }
      }
      sub->Add(lines);
    }
  }
}

// ---- /loki/api/v1/tail ----

namespace {

constexpr size_t kMaxConcurrentTails = 10;                // Loki's max_concurrent_tail_requests
constexpr int64_t kMaxDelayForSeconds = 5;                // Loki refuses a longer delay_for
constexpr auto kTailMaxDuration = std::chrono::hours(1);  // Loki's tail_max_duration

// The tailed lines as a LogQL source, so the query's whole pipeline applies to them.
class TailedSource : public logql::Source {
 public:
  explicit TailedSource(const std::vector<TailedLine>& lines) : lines_(lines) {}
  Status Select(const logql::LogSelector& selector, int64_t mint_ns, int64_t maxt_ns, Order,
                const logql::EntryVisitor& visit) override {
    for (const TailedLine& l : lines_) {
      if (l.ts_ns < mint_ns || l.ts_ns > maxt_ns) continue;
      if (!model::MatchesAll(selector.matchers, *l.stream)) continue;
      logql::LogEntry entry{l.ts_ns, l.line, l.metadata};
      PHAROS_RETURN_IF_ERROR(visit(*l.stream, entry));
    }
    return Status::Ok();
  }

 private:
  const std::vector<TailedLine>& lines_;
};

uint64_t EntryKey(const model::Labels& labels, int64_t ts_ns, std::string_view line) {
  uint64_t h = XXH3_64bits_withSeed(line.data(), line.size(), static_cast<uint64_t>(ts_ns));
  for (const model::Label& l : labels) {
    h = XXH3_64bits_withSeed(l.name.data(), l.name.size(), h);
    h = XXH3_64bits_withSeed(l.value.data(), l.value.size(), h);
  }
  return h;
}

class TailFeed : public server::LiveFeed {
 public:
  TailFeed(Store& store, logql::ExprPtr expr, int64_t start_ns, uint64_t limit, int64_t delay_ns,
           std::shared_ptr<TailSubscription> subscription,
           std::shared_ptr<std::atomic<size_t>> open_tails)
      : store_(store),
        expr_(std::move(expr)),
        start_ns_(start_ns),
        limit_(limit),
        delay_ns_(delay_ns),
        subscription_(std::move(subscription)),
        open_tails_(std::move(open_tails)),
        opened_(std::chrono::steady_clock::now()) {}
  ~TailFeed() override { open_tails_->fetch_sub(1); }

  Status Poll(std::vector<std::string>& messages) override {
    logql::EngineOptions options;
    options.max_entries = TailSubscription::kMaxPendingBytes;
    options.max_bytes_read = store_.max_query_bytes_read();
    logql::Engine engine(options);
    int64_t now_ns = UnixNowMs() * 1'000'000;
    std::vector<logql::Stream> streams;
    std::vector<DroppedLine> dropped;
    if (first_) {
      // The history: the newest `limit` lines since `start`, oldest first as Loki sends them.
      first_ = false;
      logql::QueryParams params;
      params.start_ns = start_ns_;
      params.end_ns = now_ns + 1;
      params.limit = limit_;
      params.backward = true;
      StoreSource source(store_.records());
      Result<logql::QueryResult> history = engine.Query(source, *expr_, params);
      if (!history.ok()) return history.status();
      streams = std::move(history->streams);
      for (logql::Stream& s : streams) {
        std::reverse(s.entries.begin(), s.entries.end());
        for (const logql::StreamEntry& e : s.entries)
          sent_.insert(EntryKey(s.labels, e.ts_ns, e.line));
      }
    } else {
      std::vector<TailedLine> lines;
      subscription_->Take(now_ns - delay_ns_, lines, dropped);
      if (!lines.empty()) {
        std::stable_sort(lines.begin(), lines.end(), [](const TailedLine& a, const TailedLine& b) {
          return a.ts_ns < b.ts_ns;
        });
        TailedSource source(lines);
        logql::QueryParams params;
        params.start_ns = lines.front().ts_ns;
        params.end_ns = lines.back().ts_ns + 1;
        params.limit = lines.size();
        params.backward = false;
        Result<logql::QueryResult> live = engine.Query(source, *expr_, params);
        if (!live.ok()) return live.status();
        streams = std::move(live->streams);
        if (!sent_.empty()) {
          // Lines written while the history was read may be in both: send them once.
          for (logql::Stream& s : streams) {
            std::erase_if(s.entries, [&](const logql::StreamEntry& e) {
              return sent_.count(EntryKey(s.labels, e.ts_ns, e.line)) > 0;
            });
          }
          sent_.clear();
        }
      }
    }
    std::erase_if(streams, [](const logql::Stream& s) { return s.entries.empty(); });
    if (!streams.empty() || !dropped.empty()) messages.push_back(Message(streams, dropped));
    if (std::chrono::steady_clock::now() - opened_ > kTailMaxDuration)
      return DeadlineExceeded("the tail reached its maximum duration of 1h; reconnect to go on");
    return Status::Ok();
  }

  std::chrono::milliseconds interval() const override { return std::chrono::milliseconds(250); }

 private:
  // Loki's tail frame: {"streams":[{"stream":{...},"values":[["<ns>","<line>"]]}],
  // "dropped_entries":[{"labels":{...},"timestamp":"<ns>"}] or null}.
  static std::string Message(const std::vector<logql::Stream>& streams,
                             const std::vector<DroppedLine>& dropped) {
    std::string out = R"({"streams":)";
    AppendStreamsJson(out, streams, false);
    out += R"(,"dropped_entries":)";
    if (dropped.empty()) {
      out += "null";
    } else {
      out += '[';
      for (size_t i = 0; i < dropped.size(); ++i) {
        if (i) out += ',';
        out += R"({"labels":)";
        model::AppendLabelsJson(out, *dropped[i].stream);
        fmt::format_to(std::back_inserter(out), R"(,"timestamp":"{}"}})", dropped[i].ts_ns);
      }
      out += ']';
    }
    out += '}';
    return out;
  }

  Store& store_;
  logql::ExprPtr expr_;
  int64_t start_ns_;
  uint64_t limit_;
  int64_t delay_ns_;
  std::shared_ptr<TailSubscription> subscription_;
  std::shared_ptr<std::atomic<size_t>> open_tails_;
  std::chrono::steady_clock::time_point opened_;
  bool first_ = true;
  std::unordered_set<uint64_t> sent_;  // the history's lines, until the first live batch
};

std::unique_ptr<server::LiveFeed> OpenTail(const server::Request& req, server::Response& resp,
                                           Store& store,
                                           const std::shared_ptr<std::atomic<size_t>>& open_tails) {
  auto refuse = [&](std::string message) {
    resp = LokiError(400, message);
    return nullptr;
  };
  std::optional<std::string> text = req.QueryParam("query");
  if (!text || text->empty()) return refuse("query is required");
  Result<logql::ExprPtr> expr = logql::ParseExpr(*text);
  if (!expr.ok()) return refuse(expr.status().message());
  if ((*expr)->kind != logql::NodeKind::kLog)
    return refuse(
        "tail takes a log query (a stream selector and its pipeline), not a metric query");
  Result<uint64_t> limit = ParseLimit(req, 100);
  if (!limit.ok()) return refuse(limit.status().message());
  int64_t delay_s = 0;
  if (auto v = req.QueryParam("delay_for"); v && !v->empty()) {
    char* end = nullptr;
    long long n = std::strtoll(v->c_str(), &end, 10);
    if (*end != '\0' || n < 0) return refuse("invalid delay_for: want whole seconds");
    if (n > kMaxDelayForSeconds)
      return refuse(fmt::format("delay_for can't be greater than {}", kMaxDelayForSeconds));
    delay_s = n;
  }
  // From `start` (an hour ago by default) to now, within Loki's max_query_length.
  Range range;
  if (Status s = ParseRange(req, range); !s.ok()) return refuse(s.message());
  if (Status s = CheckQueryLength(range); !s.ok()) return refuse(s.message());
  if (open_tails->fetch_add(1) >= kMaxConcurrentTails) {
    open_tails->fetch_sub(1);
    resp = LokiError(429, fmt::format("max concurrent tail requests limit exceeded, count > limit "
                                      "({} > {})",
                                      kMaxConcurrentTails + 1, kMaxConcurrentTails));
    return nullptr;
  }
  // Subscribe before reading the history, so that no line falls between the two.
  auto subscription =
      store.tails().Subscribe(static_cast<const logql::LogExpr&>(**expr).selector.matchers);
  return std::make_unique<TailFeed>(store, std::move(expr).value(), range.start_ns, *limit,
                                    delay_s * 1'000'000'000, std::move(subscription), open_tails);
}

}  // namespace

void RegisterTailRoute(server::Router& router, const Services& services) {
  auto open_tails = std::make_shared<std::atomic<size_t>>(0);
  router.HandleWebSocket(
      "/loki/api/v1/tail", config::kScopeRead,
      [&services, open_tails](const server::Request& req, server::Response& resp) {
        Store* store = services.Get<Store>();
        if (store == nullptr) {
          resp = server::NotReady("the log store is recovering; retry shortly");
          return std::unique_ptr<server::LiveFeed>();
        }
        return OpenTail(req, resp, *store, open_tails);
      });
}

}  // namespace pharos::logs

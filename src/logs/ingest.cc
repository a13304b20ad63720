// Loki's push limits in front of the log store: line size, age, how far ahead, the
// ingestion rate (a token bucket), and invalid UTF-8 replaced rather than stored.
#include <algorithm>
#include <cmath>
#include <deque>

#include <fmt/format.h>

#include "common/mutex.h"
#include "common/strings.h"
#include "common/units.h"
#include "logs/logs.h"
#include "logs/push.h"
#include "logs/tail.h"

namespace pharos::logs {

namespace {

// `s` with each invalid UTF-8 sequence replaced by U+FFFD.
std::string RepairUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    size_t n = 1;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
    }
    if (c < 0x80 || (n > 1 && i + n <= s.size() && IsValidUtf8(s.substr(i, n)))) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

}  // namespace

struct Store::Gate {
  explicit Gate(const Options& o, selfmon::Registry& registry)
      : limits(o.push),
        discover_levels(o.discover_log_levels),
        now(o.now_ns ? o.now_ns : [] { return UnixNowMs() * 1'000'000; }),
        refused(registry.AddCounter("pharos_logs_refused_lines_total",
                                    "Log lines refused by a push limit, by limit.", {"reason"})),
        repaired(registry.AddCounter(
            "pharos_logs_invalid_utf8_lines_total",
            "Log lines whose line or metadata held invalid UTF-8, stored with U+FFFD.", {})) {
    tokens = static_cast<double>(limits.ingestion_burst);
  }

  // Takes `bytes` from the bucket; false (with the wait in seconds) when it lacks them.
  bool TakeRate(uint64_t bytes, int64_t now_ns, int& retry_after_s) {
    MutexLock lock(mu);
    double rate = static_cast<double>(limits.ingestion_rate);
    double burst = static_cast<double>(limits.ingestion_burst);
    if (last_ns != 0 && now_ns > last_ns)
      tokens = std::min(burst, tokens + rate * static_cast<double>(now_ns - last_ns) / 1e9);
    last_ns = now_ns;
    double want = static_cast<double>(bytes);
    // A write larger than the burst could never pass: it passes once the bucket is full.
    if (want > burst) want = burst;
    if (tokens >= want) {
      tokens -= want;
      return true;
    }
    retry_after_s = std::max(1, static_cast<int>(std::ceil((want - tokens) / rate)));
    return false;
  }

  PushLimits limits;
  bool discover_levels = true;
  std::function<int64_t()> now;
  selfmon::Family<selfmon::Counter>& refused;
  selfmon::Family<selfmon::Counter>& repaired;
  Mutex mu;
  double tokens PHAROS_GUARDED_BY(mu) = 0;
  int64_t last_ns PHAROS_GUARDED_BY(mu) = 0;
};

Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const Options& options, selfmon::Registry& registry) {
  colstore::Options co;
  co.dir = options.dir;
  co.env = options.env;
  co.name = "logs";
  co.retention = options.retention;
  co.max_bytes = options.max_bytes;
  co.limits = options.limits;
  co.head_max_bytes = options.head_max_bytes;
  co.maintenance_interval = options.maintenance_interval;
  co.text_column = kLineColumn;  // needles in lines read only the blocks that may hold them
  co.value_column = "trace_id";  // and `| trace_id="..."` (OTLP logs) only those with the id
  // Live tails see each acknowledged write (the hub outlives the colstore that calls it).
  auto tails = std::make_shared<TailHub>();
  co.on_append = [tails](std::span<const colstore::AppendedStream> kept) {
    tails->Offer(kept, UnixNowMs() * 1'000'000);
  };
  Result<std::unique_ptr<colstore::Store>> records = colstore::Store::Open(co, registry);
  if (!records.ok()) return records.status();
  auto store = std::unique_ptr<Store>(new Store());
  store->tails_ = std::move(tails);
  store->records_ = std::move(records).value();
  store->gate_ = std::make_unique<Gate>(options, registry);
  store->max_query_bytes_read_ = options.max_query_bytes_read;
  return store;
}

Status Store::Ingest(std::span<IngestStream> streams, IngestResult& result) {
  result = IngestResult();
  Gate& g = *gate_;
  const PushLimits& lim = g.limits;
  int64_t now = g.now();
  int64_t oldest = lim.max_age.count() > 0 ? now - lim.max_age.count() * 1'000'000 : INT64_MIN;
  int64_t newest = now + lim.grace.count() * 1'000'000;
  std::deque<std::string> repaired_strings;
  std::deque<std::vector<colstore::Column>> repaired_columns;
  auto refuse = [&](std::string_view reason, std::string message) {
    ++result.rejected;
    g.refused.WithLabels({std::string(reason)}).Inc();
    if (result.errors.size() < 8) result.errors.push_back(std::move(message));
  };
  uint64_t lines = 0, bytes = 0;
  // Lines given detected_level get their columns and the level here, in one vector
  // reserved whole, so the records' spans into it stay valid.
  std::vector<colstore::Column> leveled;
  if (g.discover_levels) {
    size_t most = 0;
    for (const IngestStream& st : streams) {
      for (const colstore::RecordInput& rec : st.records) most += rec.columns.size() + 1;
    }
    leveled.reserve(most);
  }
  for (IngestStream& st : streams) {
    const bool detect = g.discover_levels && !StreamNamesLevel(st.labels);
    std::vector<colstore::RecordInput> kept;
    kept.reserve(st.records.size());
    for (const colstore::RecordInput& rec : st.records) {
      std::string_view line = rec.columns.empty() ? std::string_view() : rec.columns[0].value.s;
      if (line.size() > lim.max_line_size) {
        refuse("line_too_long",
               fmt::format("Max entry size '{}' bytes exceeded for stream '{}' while adding an "
                           "entry with length '{}' bytes",
                           lim.max_line_size, model::FormatLabelsBounded(st.labels, 256),
                           line.size()));
        continue;
      }
      if (rec.time_ns < oldest) {
        refuse("too_old",
               fmt::format("entry for stream '{}' has timestamp too old: {}, oldest acceptable "
                           "timestamp is: {}",
                           model::FormatLabelsBounded(st.labels, 256), rec.time_ns, oldest));
        continue;
      }
      if (rec.time_ns > newest) {
        refuse("too_far_in_future",
               fmt::format("entry for stream '{}' has timestamp too new: {} (more than {} ahead)",
                           model::FormatLabelsBounded(st.labels, 256), rec.time_ns,
                           FormatDuration(lim.grace)));
        continue;
      }
      bool valid = true;
      for (const colstore::Column& c : rec.columns) {
        if (c.value.type == colstore::Value::Type::kString && !IsValidUtf8(c.value.s))
          valid = false;
      }
      colstore::RecordInput out = rec;
      if (!valid) {
        g.repaired.WithLabels({}).Inc();
        std::vector<colstore::Column>& cols =
            repaired_columns.emplace_back(rec.columns.begin(), rec.columns.end());
        for (colstore::Column& c : cols) {
          if (c.value.type == colstore::Value::Type::kString && !IsValidUtf8(c.value.s))
            c.value.s = repaired_strings.emplace_back(RepairUtf8(c.value.s));
        }
        out.columns = cols;
      }
      if (detect) {
        if (std::string_view level = DetectLevel(out.columns); !level.empty()) {
          size_t first = leveled.size();
          leveled.insert(leveled.end(), out.columns.begin(), out.columns.end());
          leveled.push_back({kDetectedLevel, colstore::Value::String(level)});
          out.columns = std::span<const colstore::Column>(leveled).subspan(first);
        }
      }
      ++lines;
      bytes += line.size();
      kept.push_back(out);
    }
    st.records = std::move(kept);
  }
  if (lines == 0) return Status::Ok();
  if (!g.TakeRate(bytes, now, result.retry_after_s)) {
    g.refused.WithLabels({"rate_limited"}).Inc(static_cast<double>(lines));
    result.rejected += lines;
    return ResourceExhausted(fmt::format(
        "Ingestion rate limit exceeded (limit: {} bytes/sec) while attempting to ingest '{}' "
        "lines totaling '{}' bytes, reduce log volume or raise logs.ingestion_rate",
        lim.ingestion_rate, lines, bytes));
  }
  std::vector<colstore::StreamInput> batch;
  batch.reserve(streams.size());
  for (const IngestStream& st : streams) {
    if (!st.records.empty()) batch.push_back({st.labels, st.records});
  }
  colstore::AppendResult appended;
  Status s = records_->Append(batch, appended);
  result.accepted = appended.accepted;
  result.rejected += appended.rejected;
  for (std::string& e : appended.errors) {
    if (result.errors.size() < 8) result.errors.push_back(std::move(e));
  }
  return s;
}

}  // namespace pharos::logs

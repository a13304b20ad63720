// Helpers the Loki API handlers share (see http.h).
#include "logs/http.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/units.h"
#include "logql/logql.h"
#include "promql/promql.h"

namespace pharos::logs {

using server::Request;
using server::Response;

// Loki answers errors as plain text with the status code.
Response LokiError(int status, std::string_view message) {
  Response r = Response::Text(status, std::string(message) + "\n", "text/plain; charset=utf-8");
  return r;
}

// Loki's time parameters: RFC 3339, nanoseconds (an integer of 16 digits or more), or
// seconds (with a fraction).
Result<int64_t> ParseLokiTime(std::string_view text) {
  bool integer = !text.empty() &&
                 std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (integer && text.size() >= 16 && text.size() <= 19) {
    uint64_t ns = 0;  // 19 digits fit in 64 bits unsigned, not always signed
    for (char c : text) ns = ns * 10 + static_cast<uint64_t>(c - '0');
    if (ns > static_cast<uint64_t>(INT64_MAX))
      return InvalidArgument(fmt::format("invalid time {}: out of range", text));
    return static_cast<int64_t>(ns);
  }
  Result<int64_t> ms = ParseTimestampMs(text);
  if (!ms.ok()) return ms.status();
  return *ms * 1'000'000;
}

Status ParseRange(const Request& req, Range& range) {
  int64_t now_ns = UnixNowMs() * 1'000'000;
  range.end_ns = now_ns;
  if (auto v = req.FormValue("end"); v && !v->empty()) {
    Result<int64_t> t = ParseLokiTime(*v);
    if (!t.ok()) return InvalidArgument(fmt::format("invalid end: {}", t.status().message()));
    range.end_ns = *t;
  }
  range.start_ns = range.end_ns - 3'600'000'000'000LL;
  if (auto v = req.FormValue("start"); v && !v->empty()) {
    Result<int64_t> t = ParseLokiTime(*v);
    if (!t.ok()) return InvalidArgument(fmt::format("invalid start: {}", t.status().message()));
    range.start_ns = *t;
  }
  if (range.end_ns < range.start_ns) return InvalidArgument("the query's end is before its start");
  return Status::Ok();
}

Status CheckQueryLength(const Range& range) {
  if (range.end_ns - range.start_ns <= kMaxQueryLengthNs) return Status::Ok();
  return InvalidArgument(fmt::format(
      "the query time range exceeds the limit (query length: {}, limit: 721h0m0s)",
      FormatDuration(std::chrono::milliseconds((range.end_ns - range.start_ns) / 1'000'000))));
}

Result<uint64_t> ParseLimit(const Request& req, uint64_t fallback) {
  std::optional<std::string> v = req.FormValue("limit");
  if (!v || v->empty()) return fallback;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v->c_str(), &end, 10);
  if (*end != '\0' || n == 0) return InvalidArgument("invalid limit: want a positive integer");
  if (n > kMaxLimit)
    return InvalidArgument(fmt::format(
        "max entries limit per query exceeded, limit > max_entries_limit ({} > {})", n, kMaxLimit));
  return static_cast<uint64_t>(n);
}

void AppendStreamsJson(std::string& out, const std::vector<logql::Stream>& streams,
                       bool categorize) {
  out += '[';
  for (size_t k = 0; k < streams.size(); ++k) {
    const logql::Stream& st = streams[k];
    if (k) out += ',';
    out += R"({"stream":)";
    model::AppendLabelsJson(out, st.labels);
    out += R"(,"values":[)";
    for (size_t e = 0; e < st.entries.size(); ++e) {
      const logql::StreamEntry& en = st.entries[e];
      if (e) out += ',';
      out += "[\"";
      out += std::to_string(en.ts_ns);
      out += "\",";
      AppendJsonString(out, en.line);
      if (categorize) {
        out += ",{";
        if (!en.structured_metadata.empty()) {
          out += R"("structuredMetadata":)";
          model::AppendLabelsJson(out, en.structured_metadata);
        }
        if (!en.parsed.empty()) {
          if (!en.structured_metadata.empty()) out += ',';
          out += R"("parsed":)";
          model::AppendLabelsJson(out, en.parsed);
        }
        out += '}';
      }
      out += ']';
    }
    out += "]}";
  }
  out += ']';
}

void AppendStatsJson(std::string& out, uint64_t lines, uint64_t bytes, double seconds) {
  fmt::format_to(
      std::back_inserter(out),
      R"("stats":{{"summary":{{"bytesProcessedPerSecond":{},"linesProcessedPerSecond":{},)"
      R"("totalBytesProcessed":{},"totalLinesProcessed":{},"execTime":{}}}}})",
      seconds > 0 ? static_cast<uint64_t>(static_cast<double>(bytes) / seconds) : 0,
      seconds > 0 ? static_cast<uint64_t>(static_cast<double>(lines) / seconds) : 0, bytes, lines,
      seconds);
}

// Seconds with up to millisecond precision, as Loki prints sample times (1700000000.5).
void AppendSampleTime(std::string& out, int64_t ns) {
  int64_t ms = ns / 1'000'000;
  fmt::format_to(std::back_inserter(out), "{}", ms / 1000);
  int64_t frac = ms % 1000;
  if (frac != 0) {
    std::string f = fmt::format("{:03d}", frac < 0 ? -frac : frac);
    while (f.back() == '0') f.pop_back();
    out += '.';
    out += f;
  }
}

void AppendSample(std::string& out, int64_t ns, double v) {
  out += '[';
  AppendSampleTime(out, ns);
  out += ",\"";
  out += promql::FormatFloat(v);
  out += "\"]";
}

int StatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
    case StatusCode::kUnavailable: return 500;
    default: return 400;
  }
}

Result<int64_t> RangeStep(const Request& req, const Range& range) {
  const int64_t length = range.end_ns - range.start_ns;
  int64_t step = std::max<int64_t>(length / 250 / 1'000'000'000 * 1'000'000'000, 1'000'000'000);
  if (auto v = req.FormValue("step"); v && !v->empty()) {
    Result<int64_t> given = ParseStep(*v);
    if (!given.ok()) return given.status();
    step = *given;
  }
  if (length / step + 1 > kMaxPoints)
    return InvalidArgument(
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
        "query resolution (?step=XX)");
  return step;
}

// The step of a range query: a duration ("15s") or seconds ("15", "0.5").
Result<int64_t> ParseStep(std::string_view text) {
  if (Result<Duration> d = ParseDuration(text); d.ok()) return d->count() * 1'000'000;
  char* end = nullptr;
  std::string copy(text);
  double seconds = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !(seconds > 0) || seconds > 1e9)
    return InvalidArgument(
        fmt::format("invalid step \"{}\": want a duration or seconds", text.substr(0, 32)));
  return static_cast<int64_t>(seconds * 1e9);
}

// The matchers of `query` or match[] (series), none when absent.
Status SelectorParams(const Request& req, std::vector<std::vector<model::Matcher>>& sets) {
  std::vector<std::string> texts = req.FormValues("match[]");
  if (auto q = req.FormValue("query"); q && !q->empty()) texts.push_back(*q);
  for (const std::string& t : texts) {
    Result<logql::ExprPtr> e = logql::ParseExpr(t);
    if (!e.ok()) return e.status();
    if ((*e)->kind != logql::NodeKind::kLog)
      return InvalidArgument("a series selector must be a stream selector, not a metric query");
    sets.push_back(static_cast<const logql::LogExpr&>(**e).selector.matchers);
  }
  return Status::Ok();
}

Result<std::vector<model::Labels>> MatchingStreams(const Request& req, Store& store) {
  Range range;
  PHAROS_RETURN_IF_ERROR(ParseRange(req, range));
  std::vector<std::vector<model::Matcher>> sets;
  PHAROS_RETURN_IF_ERROR(SelectorParams(req, sets));
  if (sets.empty()) sets.emplace_back();
  std::vector<model::Labels> all;
  for (const auto& matchers : sets) {
    Result<std::vector<model::Labels>> s =
        store.records().Streams(matchers, range.start_ns, range.end_ns);
    if (!s.ok()) return s.status();
    all.insert(all.end(), s->begin(), s->end());
  }
  std::sort(all.begin(), all.end(), model::LabelsLess);
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

void StringList(Response& resp, const std::vector<std::string>& items) {
  std::string body = R"({"status":"success","data":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) body += ',';
    AppendJsonString(body, items[i]);
  }
  body += "]}";
  resp = Response::Text(200, std::move(body), "application/json");
}

}  // namespace pharos::logs

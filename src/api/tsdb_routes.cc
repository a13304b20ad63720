#include <cmath>
#include <functional>
#include <limits>

#include <fmt/format.h>

#include "api/api.h"
#include "common/strings.h"
#include "common/units.h"
#include "promql/promql.h"
#include "selfmon/metrics.h"

namespace pharos::api {

using server::Method;
using server::Request;
using server::Response;

namespace {

constexpr int64_t kMinTime = std::numeric_limits<int64_t>::min() / 2;
constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max() / 2;

struct Range {
  int64_t start = kMinTime;
  int64_t end = kMaxTime;
};

Status ParseRange(const Request& req, Range& range) {
  if (auto start = req.FormValue("start"); start && !start->empty()) {
    Result<int64_t> t = ParseTimestampMs(*start);
    if (!t.ok())
      return InvalidArgument(fmt::format("invalid parameter \"start\": {}", t.status().message()));
    range.start = *t;
  }
  if (auto end = req.FormValue("end"); end && !end->empty()) {
    Result<int64_t> t = ParseTimestampMs(*end);
    if (!t.ok())
      return InvalidArgument(fmt::format("invalid parameter \"end\": {}", t.status().message()));
    range.end = *t;
  }
  if (range.end < range.start) {
    return InvalidArgument(
        "invalid parameter \"end\": end timestamp must not be before start time");
  }
  return Status::Ok();
}

// Each match[] is a selector; a series matching any of them is selected.
Status ParseMatches(const Request& req, bool required,
                    std::vector<std::vector<model::Matcher>>& out) {
  std::vector<std::string> matches = req.FormValues("match[]");
  if (matches.empty() && required) return InvalidArgument("no match[] parameter provided");
  for (const std::string& m : matches) {
    Result<std::vector<model::Matcher>> parsed = promql::ParseSeriesSelector(m);
    if (!parsed.ok()) {
      return InvalidArgument(
          fmt::format("invalid parameter \"match[]\": {}", parsed.status().message()));
    }
    out.push_back(std::move(parsed).value());
  }
  return Status::Ok();
}

std::optional<size_t> ParseLimit(const Request& req, Status& status) {
  auto limit = req.FormValue("limit");
  if (!limit || limit->empty()) return std::nullopt;
  char* end = nullptr;
  long long n = std::strtoll(limit->c_str(), &end, 10);
  if (*end != '\0' || n < 0) {
    status = InvalidArgument("invalid parameter \"limit\": must be a non-negative integer");
    return std::nullopt;
  }
  if (n == 0) return std::nullopt;
  return static_cast<size_t>(n);
}

void AppendStringArray(std::string& out, const std::vector<std::string>& values, size_t limit) {
  out += '[';
  for (size_t i = 0; i < values.size() && i < limit; ++i) {
    if (i) out += ',';
    AppendJsonString(out, values[i]);
  }
  out += ']';
}

// Series of every selector, merged and deduplicated by labels.
Result<std::vector<model::Labels>> SeriesFor(tsdb::Querier& q,
                                             const std::vector<std::vector<model::Matcher>>& sets) {
  std::vector<model::Labels> all;
  for (const auto& set : sets) {
    Result<std::vector<model::Labels>> series = q.Series(set);
    if (!series.ok()) return series.status();
    all.insert(all.end(), series->begin(), series->end());
  }
  auto less = [](const model::Labels& a, const model::Labels& b) {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(), [](const model::Label& x, const model::Label& y) {
          return x.name != y.name ? x.name < y.name : x.value < y.value;
        });
  };
  std::sort(all.begin(), all.end(), less);
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

// Runs `fn(db)` when storage is ready; answers 503 before.
template <typename Fn>
server::Handler WithDb(const Services& services, Fn fn) {
  return server::WhenReady<tsdb::Db>(
      services, "storage is recovering; retry shortly",
      [fn](const Request& req, Response& resp, tsdb::Db& db) { fn(db, req, resp); });
}

void Series(tsdb::Db& db, const Request& req, Response& resp) {
  Range range;
  std::vector<std::vector<model::Matcher>> sets;
  Status s = ParseRange(req, range);
  if (s.ok()) s = ParseMatches(req, true, sets);
  std::optional<size_t> limit = ParseLimit(req, s);
  if (!s.ok()) {
    resp = Response::FromStatus(s);
    return;
  }
  auto q = db.Query(range.start, range.end);
  Result<std::vector<model::Labels>> series = SeriesFor(*q, sets);
  if (!series.ok()) {
    resp = Response::FromStatus(series.status());
    return;
  }
  std::string data = "[";
  size_t n = std::min(series->size(), limit.value_or(series->size()));
  for (size_t i = 0; i < n; ++i) {
    if (i) data += ',';
    model::AppendLabelsJson(data, (*series)[i]);
  }
  data += ']';
  resp = Response::JsonSuccess(data);
}

// Label names or values (by `fetch`) of the series matching any match[] (all series when
// there is none), merged, sorted and limited: the shared body of /labels and /values.
using StringsFetch = std::function<Result<std::vector<std::string>>(
    tsdb::Querier&, std::span<const model::Matcher>)>;
void AnswerStrings(tsdb::Db& db, const Request& req, Response& resp, const StringsFetch& fetch) {
  Range range;
  std::vector<std::vector<model::Matcher>> sets;
  Status s = ParseRange(req, range);
  if (s.ok()) s = ParseMatches(req, false, sets);
  std::optional<size_t> limit = ParseLimit(req, s);
  if (!s.ok()) {
    resp = Response::FromStatus(s);
    return;
  }
  auto q = db.Query(range.start, range.end);
  if (sets.empty()) sets.emplace_back();  // no matchers: everything
  std::vector<std::string> out;
  for (const auto& set : sets) {
    Result<std::vector<std::string>> part = fetch(*q, set);
    if (!part.ok()) {
      resp = Response::FromStatus(part.status());
      return;
    }
    out.insert(out.end(), part->begin(), part->end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  std::string data;
  AppendStringArray(data, out, limit.value_or(out.size()));
  resp = Response::JsonSuccess(data);
}

void LabelNames(tsdb::Db& db, const Request& req, Response& resp) {
  AnswerStrings(db, req, resp, [](tsdb::Querier& q, std::span<const model::Matcher> m) {
    return q.LabelNames(m);
  });
}

void LabelValues(tsdb::Db& db, const Request& req, Response& resp) {
  std::string_view path = req.path();
  constexpr std::string_view kPrefix = "/api/v1/label/";
  constexpr std::string_view kSuffix = "/values";
  if (path.size() <= kPrefix.size() + kSuffix.size() ||
      path.substr(path.size() - kSuffix.size()) != kSuffix) {
    resp = Response::Error(404, "not_found", fmt::format("no route for {}", path));
    return;
  }
  std::string name;
  if (!UrlDecode(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()), name,
                 false) ||
      !selfmon::IsValidLabelName(name)) {
    resp = Response::Error(400, "bad_data", fmt::format("invalid label name: \"{}\"", name));
    return;
  }
  AnswerStrings(db, req, resp, [&name](tsdb::Querier& q, std::span<const model::Matcher> m) {
    return q.LabelValues(name, m);
  });
}

void TsdbStatus(tsdb::Db& db, const Request& req, Response& resp) {
  Status s;
  size_t limit = ParseLimit(req, s).value_or(10);
  if (!s.ok()) {
    resp = Response::FromStatus(s);
    return;
  }
  tsdb::Stats st = db.GetStats(limit);
  std::string data = fmt::format(
      R"({{"headStats":{{"numSeries":{},"numLabelPairs":{},"chunkCount":{},"minTime":{},"maxTime":{}}},"blockStats":{{"numBlocks":{},"bytes":{}}})",
      st.num_series, st.num_label_pairs, st.num_chunks, st.min_time, st.max_time, st.num_blocks,
      st.blocks_bytes);
  auto list = [&data](std::string_view key, const std::vector<tsdb::Stats::Count>& counts) {
    data += ",\"";
    data += key;
    data += "\":[";
    for (size_t i = 0; i < counts.size(); ++i) {
      if (i) data += ',';
      data += "{\"name\":";
      AppendJsonString(data, counts[i].name);
      data += fmt::format(",\"value\":{}}}", counts[i].value);
    }
    data += ']';
  };
  list("seriesCountByMetricName", st.series_count_by_metric_name);
  list("labelValueCountByLabelName", st.label_value_count_by_label_name);
  list("memoryInBytesByLabelName", st.memory_in_bytes_by_label_name);
  list("seriesCountByLabelValuePair", st.series_count_by_label_value_pair);
  data += '}';
  resp = Response::JsonSuccess(data);
}

void Export(tsdb::Db& db, const Request& req, Response& resp) {
  Range range;
  std::vector<std::vector<model::Matcher>> sets;
  Status s = ParseRange(req, range);
  if (s.ok()) s = ParseMatches(req, true, sets);
  if (!s.ok()) {
    resp = Response::FromStatus(s);
    return;
  }
  auto q = db.Query(range.start, range.end);
  std::string out;
  std::vector<model::Labels> seen;
  for (const auto& set : sets) {
    Result<std::vector<tsdb::SeriesData>> series = q->Select(set);
    if (!series.ok()) {
      resp = Response::FromStatus(series.status());
      return;
    }
    for (const tsdb::SeriesData& sd : *series) {
      if (sets.size() > 1) {
        if (std::find(seen.begin(), seen.end(), sd.labels) != seen.end()) continue;
        seen.push_back(sd.labels);
      }
      out += "{\"metric\":";
      model::AppendLabelsJson(out, sd.labels);
      out += ",\"values\":[";
      bool first = true;
      for (const tsdb::Sample& smp : sd.samples) {
        if (tsdb::IsStaleNaN(smp.v)) continue;  // staleness markers are not data
        if (!first) out += ',';
        first = false;
        if (std::isfinite(smp.v)) {
          fmt::format_to(std::back_inserter(out), "{}", smp.v);
        } else {
          out += '"';
          selfmon::AppendPrometheusFloat(out, smp.v);
          out += '"';
        }
      }
      out += "],\"timestamps\":[";
      first = true;
      for (const tsdb::Sample& smp : sd.samples) {
        if (tsdb::IsStaleNaN(smp.v)) continue;
        if (!first) out += ',';
        first = false;
        fmt::format_to(std::back_inserter(out), "{}", smp.t);
      }
      out += "]}\n";
    }
  }
  resp = Response::Text(200, std::move(out), "application/stream+json");
}

}  // namespace

void RegisterTsdbRoutes(server::Router& router, const Services& services) {
  for (Method m : {Method::kGet, Method::kPost}) {
    router.HandleBlocking(m, "/api/v1/series", config::kScopeRead, WithDb(services, Series));
    router.HandleBlocking(m, "/api/v1/labels", config::kScopeRead, WithDb(services, LabelNames));
    router.HandleBlocking(m, "/api/v1/export", config::kScopeRead, WithDb(services, Export));
  }
  router.HandlePrefix(Method::kGet, "/api/v1/label/", config::kScopeRead,
                      WithDb(services, LabelValues), "/api/v1/label/:name/values",
                      server::Router::Runs::kBlocking);
  router.HandleBlocking(Method::kGet, "/api/v1/status/tsdb", config::kScopeRead,
                        WithDb(services, TsdbStatus));
  // Cuts the whole head into a block now (VictoriaMetrics's force_flush, Prometheus's
  // head snapshot): for benchmarks and before backups.
  router.HandleBlocking(Method::kPost, "/api/v1/admin/tsdb/flush", config::kScopeAdmin,
                        WithDb(services, [](tsdb::Db& d, const Request&, Response& resp) {
                          Status s = d.Flush();
                          resp = s.ok() ? Response::JsonSuccess("null") : Response::FromStatus(s);
                        }));
}

}  // namespace pharos::api

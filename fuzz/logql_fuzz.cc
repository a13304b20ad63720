// libFuzzer target: LogQL. The first line of the input is a query, the rest are log lines
// of one stream. Whatever the bytes, parsing returns a tree or an error, and a tree
// evaluates (log query, instant and range metric query) over those lines without
// crashing, hanging or growing without bound; and it formats (FormatQuery) to text that
// parses back and formats to itself.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "logql/logql.h"

namespace {

class Lines : public pharos::logql::Source {
 public:
  std::vector<std::string_view> lines;
  pharos::model::Labels stream = {{"app", "fuzz"}, {"level", "info"}};
  std::vector<pharos::model::Label> metadata = {{"trace_id", "4bf92f3577b34da6"}};

  pharos::Status Select(const pharos::logql::LogSelector& selector, int64_t mint, int64_t maxt,
                        Order, const pharos::logql::EntryVisitor& visit) override {
    if (!pharos::model::MatchesAll(selector.matchers, stream)) return pharos::Status::Ok();
    for (size_t i = 0; i < lines.size(); ++i) {
      int64_t ts = static_cast<int64_t>(i + 1) * 1'000'000'000;
      if (ts < mint || ts > maxt) continue;
      pharos::logql::LogEntry e{ts, lines[i], metadata};
      if (pharos::Status s = visit(stream, e); !s.ok()) return s;
    }
    return pharos::Status::Ok();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t nl = bytes.find('\n');
  std::string_view query = bytes.substr(0, nl);
  pharos::Result<pharos::logql::ExprPtr> expr = pharos::logql::ParseExpr(query);
  if (!expr.ok()) return 0;
  // A parsed query formats to text that parses and formats to itself.
  std::string formatted = pharos::logql::FormatQuery(**expr);
  pharos::Result<std::string> again = pharos::logql::FormatQuery(formatted);
  if (!again.ok() || *again != formatted) {
    std::fprintf(stderr, "format round trip failed:\n  query: %.*s\n  formatted: %s\n  %s\n",
                 static_cast<int>(query.size()), query.data(), formatted.c_str(),
                 again.ok() ? again->c_str() : again.status().message().c_str());
    std::abort();
  }
  Lines src;
  if (nl != std::string_view::npos) {
    std::string_view rest = bytes.substr(nl + 1);
    while (!rest.empty() && src.lines.size() < 64) {
      size_t end = rest.find('\n');
      src.lines.push_back(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
  }
  pharos::logql::EngineOptions options;
  options.timeout = std::chrono::milliseconds(500);
  pharos::logql::Engine engine(options);
  pharos::logql::QueryParams instant;
  instant.instant = true;
  instant.start_ns = instant.end_ns = 70'000'000'000;
  (void)engine.Query(src, **expr, instant);
  pharos::logql::QueryParams range;
  range.start_ns = 0;
  range.end_ns = 70'000'000'000;
  range.step_ns = 7'000'000'000;
  (void)engine.Query(src, **expr, range);
  return 0;
}

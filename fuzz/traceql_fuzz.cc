// libFuzzer target: the TraceQL parser, and evaluation of what parses on a small trace
// (a server span with a client child and an error, attributes of each type).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "traces/traceql.h"

namespace {

std::vector<pharos::model::ResourceSpans> MakeTrace() {
  using pharos::model::AnyValue;
  std::vector<pharos::model::ResourceSpans> groups(1);
  groups[0].resource.attributes.push_back({"service.name", AnyValue::String("shop")});
  auto& spans = groups[0].scopes.emplace_back().spans;
  pharos::model::Span root;
  root.trace_id = std::string(16, '\x01');
  root.span_id = std::string(8, '\x01');
  root.name = "GET /";
  root.kind = 2;
  root.start_time_unix_nano = 1'000'000'000;
  root.end_time_unix_nano = 3'000'000'000;
  root.attributes.push_back({"http.route", AnyValue::String("/")});
  pharos::model::Span child = root;
  child.span_id = std::string(8, '\x02');
  child.parent_span_id = root.span_id;
  child.name = "SELECT";
  child.kind = 3;
  child.status_code = 2;
  AnyValue n;
  n.type = AnyValue::Type::kInt;
  n.i = 42;
  child.attributes.push_back({"rows", n});
  spans.push_back(root);
  spans.push_back(child);
  return groups;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<pharos::model::ResourceSpans> groups = MakeTrace();
  static const pharos::traces::traceql::Trace trace = pharos::traces::traceql::Trace::From(groups);
  std::string_view text(reinterpret_cast<const char*>(data), size);
  pharos::Result<pharos::traces::traceql::Query> q = pharos::traces::traceql::Parse(text);
  if (!q.ok()) return 0;
  (void)pharos::traces::traceql::Evaluate(*q, trace);
  for (const auto& s : trace.spans)
    (void)pharos::traces::traceql::AnyFilterMatches(*q, *s.resource, *s.span);
  (void)pharos::traces::traceql::ReferencedFields(*q);
  return 0;
}

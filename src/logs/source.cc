// The log store as a LogQL source: a colstore scan per selector, in time order, with the
// selector's required substrings pushed down as "line contains" filters.
#include "logs/logs.h"
#include "logs/push.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

namespace pharos::logs {

Status StoreSource::Select(const logql::LogSelector& selector, int64_t mint_ns, int64_t maxt_ns,
                           Order order, const logql::EntryVisitor& visit) {
  colstore::ScanPlan plan;
  plan.mint_ns = mint_ns;
  plan.maxt_ns = maxt_ns;
  plan.streams = selector.matchers;
  plan.backward = order.backward;
  plan.time_ordered = order.by_time;
  // Metric queries take lines in any order: streams are decoded on every core.
  if (!order.by_time) plan.threads = std::max(1u, std::thread::hardware_concurrency());
  if (!order.need_line && selector.required_substrings.empty() &&
      selector.required_substrings_any_case.empty())
    plan.skip_columns = {kLineColumn};
  for (const std::string& needle : selector.required_substrings)
    plan.filters.push_back(
        {kLineColumn, colstore::Filter::Op::kContains, colstore::Value::String(needle)});
  for (const std::string& needle : selector.required_substrings_any_case)
    plan.filters.push_back(
        {kLineColumn, colstore::Filter::Op::kContainsAnyCase, colstore::Value::String(needle)});
  // `| trace_id="..."`: blocks without the value are skipped (the store's value column).
  plan.value_hints = selector.required_labels;
  Status failed;
  std::vector<model::Label> metadata;
  Result<colstore::ScanStats> stats = store_.Scan(plan, [&](const colstore::Row& row) {
    logql::LogEntry entry;
    entry.ts_ns = row.time_ns;
    metadata.clear();
    for (const colstore::Column& c : row.columns) {
      if (c.name == kLineColumn) {
        entry.line = c.value.s;
        continue;
      }
      switch (c.value.type) {
        case colstore::Value::Type::kString:
          metadata.push_back({std::string(c.name), std::string(c.value.s)});
          break;
        case colstore::Value::Type::kInt:
          metadata.push_back({std::string(c.name), std::to_string(c.value.i)});
          break;
        case colstore::Value::Type::kDouble:
          metadata.push_back({std::string(c.name), fmt::format("{}", c.value.d)});
          break;
        case colstore::Value::Type::kNull: break;
      }
    }
    entry.metadata = metadata;
    failed = visit(*row.stream, entry);
    return failed.ok();
  });
  if (!failed.ok()) return failed;
  if (!stats.ok()) return stats.status();
  return Status::Ok();
}

Result<bool> StoreSource::Count(std::span<const model::Matcher> matchers,
                                std::span<const Window> windows, const CountVisitor& visit) {
  std::vector<colstore::TimeWindow> ranges;
  ranges.reserve(windows.size());
  for (const Window& w : windows) ranges.push_back({w.mint_ns, w.maxt_ns});
  Status failed;
  Result<colstore::ScanStats> stats =
      store_.Count(matchers, ranges, [&](const model::Labels& stream, std::span<const uint64_t> c) {
        if (failed.ok()) failed = visit(stream, c);
      });
  if (!failed.ok()) return failed;
  if (!stats.ok()) return stats.status();
  return true;
}

}  // namespace pharos::logs

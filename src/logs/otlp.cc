// OTLP log records into log lines, as Loki 3's OTLP endpoint maps them.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "common/strings.h"
#include "logs/logs.h"
#include "logs/push.h"

namespace pharos::logs {
namespace {

// Loki 3's default_resource_attributes_as_index_labels.
constexpr std::string_view kIndexedResourceAttributes[] = {"service.name",
                                                           "service.namespace",
                                                           "service.instance.id",
                                                           "deployment.environment",
                                                           "deployment.environment.name",
                                                           "cloud.region",
                                                           "cloud.availability_zone",
                                                           "k8s.cluster.name",
                                                           "k8s.namespace.name",
                                                           "k8s.pod.name",
                                                           "k8s.container.name",
                                                           "container.name",
                                                           "k8s.replicaset.name",
                                                           "k8s.deployment.name",
                                                           "k8s.statefulset.name",
                                                           "k8s.daemonset.name",
                                                           "k8s.cronjob.name",
                                                           "k8s.job.name"};

bool Indexed(std::string_view key) {
  return std::find(std::begin(kIndexedResourceAttributes), std::end(kIndexedResourceAttributes),
                   key) != std::end(kIndexedResourceAttributes);
}

std::string BodyText(const model::AnyValue& body) {
  if (body.type == model::AnyValue::Type::kString) return body.str;
  if (body.type == model::AnyValue::Type::kEmpty) return {};
  std::string json;
  body.AppendJson(json);
  return json;
}

}  // namespace

std::string LabelName(std::string_view key) {
  std::string out;
  out.reserve(key.size() + 1);
  for (char c : key) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out += ok ? c : '_';
  }
  if (!out.empty() && out[0] >= '0' && out[0] <= '9') out.insert(out.begin(), '_');
  return out;
}

Status Store::AppendOtlpLogs(std::span<const model::ResourceLogs> logs,
                             model::LogsAppendResult& result) {
  result = model::LogsAppendResult();
  // Owned strings for everything the stream inputs view, kept until the append returns.
  std::deque<std::string> strings;
  auto keep = [&strings](std::string s) -> std::string_view {
    return strings.emplace_back(std::move(s));
  };
  std::deque<std::vector<model::LabelView>> label_sets;
  // Every record's columns in one vector, reserved whole so that the records' spans into
  // it stay valid: no allocation per record.
  constexpr size_t kFixedColumns = 7;  // line, severity, ids, scope, event
  size_t most = 0;
  for (const model::ResourceLogs& rl : logs) {
    for (const model::ScopeLogs& sl : rl.scopes) {
      for (const model::LogRecord& rec : sl.records)
        most += kFixedColumns + rec.attributes.size() + rl.resource.attributes.size();
    }
  }
  std::vector<colstore::Column> columns;
  columns.reserve(most);
  std::vector<IngestStream> batch;
  for (const model::ResourceLogs& rl : logs) {
    std::vector<model::LabelView>& labels = label_sets.emplace_back();
    std::vector<colstore::Column> resource_metadata;
    bool has_service = false;
    for (const model::KeyValue& kv : rl.resource.attributes) {
      if (Indexed(kv.key)) {
        has_service |= kv.key == "service.name";
        labels.push_back({keep(LabelName(kv.key)), keep(kv.value.ToText())});
      } else {
        resource_metadata.push_back(
            {keep(LabelName(kv.key)), colstore::Value::String(keep(kv.value.ToText()))});
      }
    }
    if (!has_service) labels.push_back({"service_name", "unknown_service"});
    for (const model::ScopeLogs& sl : rl.scopes) {
      std::vector<colstore::RecordInput> recs;
      recs.reserve(sl.records.size());
      for (const model::LogRecord& rec : sl.records) {
        const size_t first = columns.size();
        auto cols = [&] { return std::span<const colstore::Column>(columns).subspan(first); };
        // A string body is viewed where it was decoded (`logs` outlives the append).
        std::string_view line = rec.body.type == model::AnyValue::Type::kString
                                    ? std::string_view(rec.body.str)
                                    : keep(BodyText(rec.body));
        columns.push_back({kLineColumn, colstore::Value::String(line)});
        auto add = [&](std::string_view name, std::string_view value) {
          if (value.empty()) return;
          for (const colstore::Column& c : cols())
            if (c.name == name) return;  // the first of colliding names wins
          columns.push_back({name, colstore::Value::String(value)});
        };
        add("severity_text", rec.severity_text);
        if (!rec.trace_id.empty()) add("trace_id", keep(HexEncode(rec.trace_id)));
        if (!rec.span_id.empty()) add("span_id", keep(HexEncode(rec.span_id)));
        add("scope_name", sl.scope.name);
        add("scope_version", sl.scope.version);
        add("event_name", rec.event_name);
        for (const model::KeyValue& kv : rec.attributes)
          add(keep(LabelName(kv.key)), keep(kv.value.ToText()));
        for (const colstore::Column& c : resource_metadata) add(c.name, c.value.s);
        uint64_t t = rec.time_unix_nano ? rec.time_unix_nano : rec.observed_time_unix_nano;
        if (t == 0 || t > static_cast<uint64_t>(INT64_MAX)) {
          ++result.rejected;
          if (result.errors.size() < 8)
            result.errors.push_back(
                "a log record has neither time_unix_nano nor observed_time_unix_nano");
          columns.resize(first);
          continue;
        }
        recs.push_back({static_cast<int64_t>(t), cols()});
      }
      if (!recs.empty()) batch.push_back({labels, std::move(recs)});
    }
  }
  IngestResult ingested;
  Status s = Ingest(batch, ingested);
  result.accepted = ingested.accepted;
  result.rejected += ingested.rejected;
  for (std::string& e : ingested.errors)
    if (result.errors.size() < 8) result.errors.push_back(std::move(e));
  return s;
}

}  // namespace pharos::logs

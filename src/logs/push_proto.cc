// Loki's PushRequest protobuf. Field numbers (pkg/push/push.proto): PushRequest.streams 1;
// StreamAdapter labels 1, entries 2, hash 3; EntryAdapter timestamp 1, line 2,
// structuredMetadata 3; LabelPairAdapter name 1, value 2; Timestamp seconds 1, nanos 2.
#include <fmt/format.h>

#include "common/protowire.h"
#include "logs/push.h"
#include "promql/promql.h"

namespace pharos::logs {
namespace {

Status Malformed(std::string_view what) {
  return InvalidArgument(fmt::format("malformed push protobuf: {}", what));
}

// `{a="b", c="d"}`: equality matchers only.
Status ParseLabelString(std::string_view text, model::Labels& out) {
  Result<std::vector<model::Matcher>> matchers = promql::ParseSeriesSelector(text);
  if (!matchers.ok())
    return InvalidArgument(
        fmt::format("stream labels {}: {}", text.substr(0, 256), matchers.status().message()));
  for (const model::Matcher& m : *matchers) {
    if (m.type() != model::MatchType::kEqual)
      return InvalidArgument(
          fmt::format("stream labels {}: only name=\"value\" pairs", text.substr(0, 256)));
    out.push_back({m.name(), m.value()});
  }
  return Status::Ok();
}

Status DecodeTimestamp(std::string_view data, int64_t& ns) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  int64_t seconds = 0, nanos = 0;
  while (r.Next(f, t)) {
    uint64_t v;
    if ((f == 1 || f == 2) && t == WireType::kVarint) {
      if (!r.Varint(v)) break;
      (f == 1 ? seconds : nanos) = static_cast<int64_t>(v);
    } else if (!r.Skip(t)) {
      break;
    }
  }
  if (!r.ok()) return Malformed("Timestamp");
  if (seconds < -9'223'372'036LL || seconds > 9'223'372'035LL || nanos < 0 || nanos > 999'999'999)
    return InvalidArgument("push protobuf: timestamp out of range");
  ns = seconds * 1'000'000'000 + nanos;
  return Status::Ok();
}

Status DecodeEntry(std::string_view data, int64_t& ns, std::vector<colstore::Column>& cols) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  std::string_view line;
  bool has_time = false;
  while (r.Next(f, t)) {
    std::string_view sv;
    if (t != WireType::kLen) {
      if (!r.Skip(t)) break;
      continue;
    }
    if (!r.Bytes(sv)) break;
    if (f == 1) {
      PHAROS_RETURN_IF_ERROR(DecodeTimestamp(sv, ns));
      has_time = true;
    } else if (f == 2) {
      line = sv;
    } else if (f == 3) {
      ProtoReader p(sv);
      uint32_t g;
      WireType gt;
      std::string_view name, value;
      while (p.Next(g, gt)) {
        std::string_view v;
        if ((g == 1 || g == 2) && gt == WireType::kLen) {
          if (!p.Bytes(v)) break;
          (g == 1 ? name : value) = v;
        } else if (!p.Skip(gt)) {
          break;
        }
      }
      if (!p.ok()) return Malformed("LabelPairAdapter");
      if (name == kLineColumn)
        return InvalidArgument("push body: structured metadata may not be called \"line\"");
      cols.push_back({name, colstore::Value::String(value)});
    }
  }
  if (!r.ok()) return Malformed("EntryAdapter");
  if (!has_time) return InvalidArgument("push protobuf: an entry has no timestamp");
  cols.insert(cols.begin(), {kLineColumn, colstore::Value::String(line)});
  return Status::Ok();
}

}  // namespace

Status DecodeProtoPush(std::string_view body, DecodedPush& out) {
  ProtoReader r(body);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view stream;
    if (f != 1 || t != WireType::kLen) {
      if (!r.Skip(t)) break;
      continue;
    }
    if (!r.Bytes(stream)) break;
    PushStream& ps = out.streams.emplace_back();
    model::Labels& labels = out.labels.emplace_back();
    ProtoReader s(stream);
    uint32_t g;
    WireType gt;
    while (s.Next(g, gt)) {
      std::string_view sv;
      if (gt != WireType::kLen) {
        if (!s.Skip(gt)) break;
        continue;
      }
      if (!s.Bytes(sv)) break;
      if (g == 1) {
        PHAROS_RETURN_IF_ERROR(ParseLabelString(sv, labels));
      } else if (g == 2) {
        int64_t ns = 0;
        std::vector<colstore::Column>& cols = out.columns.emplace_back();
        PHAROS_RETURN_IF_ERROR(DecodeEntry(sv, ns, cols));
        ps.records.push_back({ns, cols});
      }
    }
    if (!s.ok()) return Malformed("StreamAdapter");
    for (const model::Label& l : labels) ps.labels.push_back({l.name, l.value});
  }
  return r.ok() ? Status::Ok() : Malformed("PushRequest");
}

}  // namespace pharos::logs

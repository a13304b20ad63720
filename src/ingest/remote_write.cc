// Prometheus remote_write 1.0: WriteRequest { repeated TimeSeries timeseries = 1;
// repeated MetricMetadata metadata = 3; } with TimeSeries { repeated Label labels = 1;
// repeated Sample samples = 2; repeated Exemplar exemplars = 3; repeated Histogram
// histograms = 4; }, Label { string name = 1; string value = 2; } and Sample { double
// value = 1; int64 timestamp = 2; }. Field numbers: ../shared/testdata/prometheus/REMOTE_WRITE.md.
#include <fmt/format.h>

#include "common/protowire.h"
#include "ingest/ingest.h"

namespace pharos::ingest {
namespace {

Status DecodeLabel(std::string_view data, model::LabelView& out) {
  ProtoReader r(data);
  uint32_t field;
  WireType type;
  out = {};
  while (r.Next(field, type)) {
    if (field == 1 && type == WireType::kLen) {
      if (!r.Bytes(out.name)) break;
    } else if (field == 2 && type == WireType::kLen) {
      if (!r.Bytes(out.value)) break;
    } else if (!r.Skip(type)) {
      break;
    }
  }
  if (!r.ok()) return InvalidArgument("malformed Label");
  return Status::Ok();
}

Status DecodeSample(std::string_view data, model::Sample& out) {
  ProtoReader r(data);
  uint32_t field;
  WireType type;
  out = {0, 0};
  while (r.Next(field, type)) {
    if (field == 1 && type == WireType::kFixed64) {
      if (!r.Double(out.v)) break;
    } else if (field == 2 && type == WireType::kVarint) {
      uint64_t t;
      if (!r.Varint(t)) break;
      out.t = static_cast<int64_t>(t);
    } else if (!r.Skip(type)) {
      break;
    }
  }
  if (!r.ok()) return InvalidArgument("malformed Sample");
  return Status::Ok();
}

Status DecodeTimeSeries(std::string_view data, DecodedBatch& out) {
  ProtoReader r(data);
  uint32_t field;
  WireType type;
  DecodedBatch::Range range;
  range.label_begin = static_cast<uint32_t>(out.labels.size());
  range.sample_begin = static_cast<uint32_t>(out.samples.size());
  while (r.Next(field, type)) {
    std::string_view sub;
    if (type == WireType::kLen && (field >= 1 && field <= 4)) {
      if (!r.Bytes(sub)) break;
      switch (field) {
        case 1: PHAROS_RETURN_IF_ERROR(DecodeLabel(sub, out.labels.emplace_back())); break;
        case 2: PHAROS_RETURN_IF_ERROR(DecodeSample(sub, out.samples.emplace_back())); break;
        case 3: ++out.exemplars; break;
        case 4: ++out.histograms; break;
      }
    } else if (!r.Skip(type)) {
      break;
    }
  }
  if (!r.ok()) return InvalidArgument("malformed TimeSeries");
  range.label_end = static_cast<uint32_t>(out.labels.size());
  range.sample_end = static_cast<uint32_t>(out.samples.size());
  out.ranges.push_back(range);
  return Status::Ok();
}

}  // namespace

void DecodedBatch::Clear() {
  labels.clear();
  samples.clear();
  series.clear();
  ranges.clear();
  histograms = exemplars = metadata = 0;
}

void DecodedBatch::Trim() {
  constexpr size_t kKeep = 1 << 16;
  if (labels.capacity() > kKeep) std::vector<model::LabelView>().swap(labels);
  if (samples.capacity() > kKeep) std::vector<model::Sample>().swap(samples);
  if (series.capacity() > kKeep) std::vector<model::SeriesInput>().swap(series);
  if (ranges.capacity() > kKeep) std::vector<Range>().swap(ranges);
}

void DecodedBatch::Seal() {
  series.clear();
  series.reserve(ranges.size());
  for (const Range& r : ranges) {
    series.push_back(
        model::SeriesInput{std::span<const model::LabelView>(labels.data() + r.label_begin,
                                                             r.label_end - r.label_begin),
                           std::span<const model::Sample>(samples.data() + r.sample_begin,
                                                          r.sample_end - r.sample_begin)});
  }
}

Status DecodeWriteRequest(std::string_view body, DecodedBatch& out) {
  out.Clear();
  ProtoReader r(body);
  uint32_t field;
  WireType type;
  while (r.Next(field, type)) {
    if (field == 1 && type == WireType::kLen) {
      std::string_view ts;
      if (!r.Bytes(ts)) break;
      Status s = DecodeTimeSeries(ts, out);
      if (!s.ok()) {
        return InvalidArgument(
            fmt::format("WriteRequest.timeseries[{}]: {}", out.ranges.size(), s.message()));
      }
    } else if (field == 3 && type == WireType::kLen) {
      ++out.metadata;
      if (!r.Skip(type)) break;
    } else if (!r.Skip(type)) {
      break;
    }
  }
  if (!r.ok()) return InvalidArgument("malformed WriteRequest protobuf");
  out.Seal();
  return Status::Ok();
}

}  // namespace pharos::ingest

// Zipkin v2 JSON spans (POST /api/v2/spans) into OTLP's model, as the OpenTelemetry
// Collector's zipkin receiver maps them: the local endpoint's service is the resource's
// service.name; kind, times (microseconds) and ids carry over (64-bit trace ids get eight
// zero bytes in front); tags become string attributes, an `error` tag the error status;
// the remote endpoint becomes peer.service, network.peer.address and network.peer.port;
// annotations become events.
#include <simdjson.h>

#include <map>

#include <fmt/format.h>

#include "common/strings.h"
#include "ingest/ingest.h"

namespace pharos::ingest {
namespace {

Status Bad(std::string_view what) {
  return InvalidArgument(fmt::format("Zipkin v2 JSON: {}", what));
}

// A hex id of `bytes` bytes; a 64-bit trace id is padded to 128 bits.
Status Id(simdjson::dom::object o, const char* field, size_t bytes, bool required,
          std::string& out) {
  std::string_view hex;
  if (o[field].get(hex) != simdjson::SUCCESS) {
    if (o[field].error() == simdjson::NO_SUCH_FIELD && !required) return Status::Ok();
    return Bad(fmt::format("{} must be a hex string", field));
  }
  std::string padded;
  if (bytes == 16 && hex.size() == 16) {
    padded = std::string(16, '0') + std::string(hex);
    hex = padded;
  }
  if (hex.size() != bytes * 2 || !HexDecode(hex, out))
    return Bad(fmt::format("{} must be {} hex digits", field,
                           bytes == 16 ? "16 or 32" : std::to_string(bytes * 2)));
  return Status::Ok();
}

uint64_t Micros(simdjson::dom::object o, const char* field) {
  uint64_t v = 0;
  if (o[field].get(v) != simdjson::SUCCESS) {
    double d;
    if (o[field].get(d) == simdjson::SUCCESS && d > 0) v = static_cast<uint64_t>(d);
  }
  return v;
}

void Attribute(model::Attributes& attrs, std::string key, std::string value) {
  attrs.push_back({std::move(key), model::AnyValue::String(std::move(value))});
}

Status DecodeSpan(simdjson::dom::object o, std::string& service, model::Span& span) {
  PHAROS_RETURN_IF_ERROR(Id(o, "traceId", 16, true, span.trace_id));
  PHAROS_RETURN_IF_ERROR(Id(o, "id", 8, true, span.span_id));
  PHAROS_RETURN_IF_ERROR(Id(o, "parentId", 8, false, span.parent_span_id));
  std::string_view s;
  if (o["name"].get(s) == simdjson::SUCCESS) span.name = s;
  if (o["kind"].get(s) == simdjson::SUCCESS) {
    span.kind = s == "SERVER"     ? 2
                : s == "CLIENT"   ? 3
                : s == "PRODUCER" ? 4
                : s == "CONSUMER" ? 5
                                  : 0;
  }
  span.start_time_unix_nano = Micros(o, "timestamp") * 1000;
  span.end_time_unix_nano = span.start_time_unix_nano + Micros(o, "duration") * 1000;
  simdjson::dom::object endpoint;
  if (o["localEndpoint"].get(endpoint) == simdjson::SUCCESS &&
      endpoint["serviceName"].get(s) == simdjson::SUCCESS)
    service = s;
  if (o["remoteEndpoint"].get(endpoint) == simdjson::SUCCESS) {
    if (endpoint["serviceName"].get(s) == simdjson::SUCCESS)
      Attribute(span.attributes, "peer.service", std::string(s));
    if (endpoint["ipv4"].get(s) == simdjson::SUCCESS ||
        endpoint["ipv6"].get(s) == simdjson::SUCCESS)
      Attribute(span.attributes, "network.peer.address", std::string(s));
    int64_t port;
    if (endpoint["port"].get(port) == simdjson::SUCCESS) {
      model::AnyValue v;
      v.type = model::AnyValue::Type::kInt;
      v.i = port;
      span.attributes.push_back({"network.peer.port", std::move(v)});
    }
  }
  simdjson::dom::object tags;
  if (o["tags"].get(tags) == simdjson::SUCCESS) {
    for (auto [key, value] : tags) {
      std::string_view text;
      if (value.get(text) != simdjson::SUCCESS)
        return Bad(fmt::format("tag {} must be a string", QuoteGo(key)));
      if (key == "error") {
        span.status_code = 2;
        span.status_message = text;
      } else if (key == "otel.status_code") {
        span.status_code = text == "ERROR" ? 2 : text == "OK" ? 1 : 0;
      } else if (key == "otel.status_description") {
        span.status_message = text;
      } else {
        Attribute(span.attributes, std::string(key), std::string(text));
      }
    }
  }
  simdjson::dom::array annotations;
  if (o["annotations"].get(annotations) == simdjson::SUCCESS) {
    for (simdjson::dom::element a : annotations) {
      simdjson::dom::object ao;
      if (a.get(ao) != simdjson::SUCCESS || ao["value"].get(s) != simdjson::SUCCESS)
        return Bad("an annotation must be an object with a string value");
      span.events.push_back({Micros(ao, "timestamp") * 1000, std::string(s), {}, 0});
    }
  }
  return Status::Ok();
}

}  // namespace

Status DecodeZipkinSpans(std::string_view body, std::vector<model::ResourceSpans>& out) {
  out.clear();
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto error = parser.parse(body.data(), body.size()).get(doc); error)
    return Bad(simdjson::error_message(error));
  simdjson::dom::array spans;
  if (doc.get(spans) != simdjson::SUCCESS) return Bad("the body must be an array of spans");
  std::map<std::string, size_t> group_of;  // service -> index in `out`
  for (simdjson::dom::element e : spans) {
    simdjson::dom::object o;
    if (e.get(o) != simdjson::SUCCESS) return Bad("each span must be an object");
    std::string service;
    model::Span span;
    PHAROS_RETURN_IF_ERROR(DecodeSpan(o, service, span));
    auto [it, added] = group_of.try_emplace(service, out.size());
    if (added) {
      model::ResourceSpans& rs = out.emplace_back();
      if (!service.empty())
        rs.resource.attributes.push_back({"service.name", model::AnyValue::String(service)});
      rs.scopes.emplace_back();
    }
    out[it->second].scopes[0].spans.push_back(std::move(span));
  }
  return Status::Ok();
}

}  // namespace pharos::ingest

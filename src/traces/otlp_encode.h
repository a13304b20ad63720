// Internal to traces: spans back into OTLP, protobuf and JSON, for the APIs that answer in
// OTLP (Tempo's trace by id) and for the store's encoding of what has no column of its own.
#pragma once

#include <span>
#include <string>

#include "model/model.h"

namespace pharos::traces {

/// A Resource, InstrumentationScope or Span message (FIELDS.md sections 1 to 3).
void EncodeResource(const model::Resource& resource, std::string& out);
void EncodeScope(const model::InstrumentationScope& scope, std::string& out);
void EncodeSpan(const model::Span& span, std::string& out);
/// One KeyValue as field `field` of a message (attributes), a Span.Event and a Span.Link.
void EncodeAttribute(uint32_t field, const model::KeyValue& kv, std::string& out);
void EncodeEvent(const model::SpanEvent& event, std::string& out);
void EncodeLink(const model::SpanLink& link, std::string& out);
/// The repeated ResourceSpans field 1 that TracesData, ExportTraceServiceRequest and
/// Tempo's Trace share.
void EncodeResourceSpans(std::span<const model::ResourceSpans> groups, std::string& out);

/// `{"<key>":[ResourceSpans...]}` in OTLP JSON (ids in hex, 64-bit integers as strings,
/// enums as numbers).
void AppendTracesJson(std::span<const model::ResourceSpans> groups, std::string_view key,
                      std::string& out);
/// One OTLP JSON AnyValue (`{"stringValue":"x"}`) and an attributes array.
void AppendAnyValueJson(const model::AnyValue& value, std::string& out);
void AppendAttributesJson(const model::Attributes& attributes, std::string& out);

}  // namespace pharos::traces

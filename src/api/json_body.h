// Internal to api: reading JSON request bodies (simdjson) with errors that name the field.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>

#include <fmt/format.h>

#include "common/status.h"

namespace pharos::api {

/// Parses a request body as a JSON object.
inline Result<simdjson::dom::object> ParseJsonObject(simdjson::dom::parser& parser,
                                                     const std::string& body) {
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) {
    return InvalidArgument("the body is not valid JSON");
  }
  simdjson::dom::object obj;
  if (doc.get(obj) != simdjson::SUCCESS) return InvalidArgument("the body must be a JSON object");
  return obj;
}

/// A string field; nullopt when absent, an error when present with another type.
inline Result<std::optional<std::string>> StringField(simdjson::dom::object obj,
                                                      std::string_view name) {
  simdjson::dom::element e;
  if (obj.at_key(name).get(e) != simdjson::SUCCESS) return std::optional<std::string>();
  std::string_view v;
  if (e.get(v) != simdjson::SUCCESS) {
    return InvalidArgument(fmt::format("{}: expected a string", name));
  }
  return std::optional<std::string>(std::string(v));
}

}  // namespace pharos::api

// Loki's JSON push body.
#include <simdjson.h>

#include <algorithm>

#include <fmt/format.h>

#include "logs/push.h"

namespace pharos::logs {

// Decodes Loki's JSON push body into views of `doc`.
Status DecodeJsonPush(simdjson::dom::element doc, DecodedPush& out) {
  std::vector<PushStream>& streams = out.streams;
  using simdjson::dom::array;
  using simdjson::dom::element;
  using simdjson::dom::object;
  if (!doc.is_object()) return InvalidArgument("push body: want a JSON object with \"streams\"");
  element list;
  if (doc.get_object().value()["streams"].get(list) != simdjson::SUCCESS || !list.is_array())
    return InvalidArgument("push body: \"streams\" must be an array");
  array stream_list = list.get_array().value();
  for (element s : stream_list) {
    if (!s.is_object()) return InvalidArgument("push body: each stream must be an object");
    object so = s.get_object().value();
    element labels, values;
    if (so["stream"].get(labels) != simdjson::SUCCESS || !labels.is_object())
      return InvalidArgument("push body: a stream needs a \"stream\" object of labels");
    if (so["values"].get(values) != simdjson::SUCCESS || !values.is_array())
      return InvalidArgument("push body: a stream needs a \"values\" array");
    PushStream& ps = streams.emplace_back();
    object label_object = labels.get_object().value();
    for (auto field : label_object) {
      element v = field.value;
      if (!v.is_string())
        return InvalidArgument(fmt::format("push body: label {} must be a string", field.key));
      ps.labels.push_back({field.key, v.get_string().value()});
    }
  }
  size_t k = 0;
  for (element s : stream_list) {
    PushStream& ps = streams[k++];
    element values;
    if (s.get_object().value()["values"].get(values) != simdjson::SUCCESS)
      continue;  // checked above
    array entries = values.get_array().value();
    for (element e : entries) {
      if (!e.is_array()) return InvalidArgument("push body: each value must be [ts, line]");
      array pair = e.get_array().value();
      if (pair.size() < 2 || pair.size() > 3)
        return InvalidArgument("push body: each value must be [ts, line] or [ts, line, metadata]");
      element ts = pair.at(0).value(), line = pair.at(1).value();
      if (!ts.is_string() || !line.is_string())
        return InvalidArgument("push body: a value's timestamp and line must be strings");
      std::string_view ts_text = ts.get_string().value();
      int64_t ns = 0;
      if (ts_text.empty() || ts_text.size() > 19 ||
          !std::all_of(ts_text.begin(), ts_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return InvalidArgument(
            fmt::format("push body: timestamp \"{}\" is not nanoseconds since the epoch",
                        ts_text.substr(0, 32)));
      uint64_t digits = 0;  // at most 19 digits: fits in 64 bits unsigned, not always signed
      for (char c : ts_text) digits = digits * 10 + static_cast<uint64_t>(c - '0');
      if (digits > static_cast<uint64_t>(INT64_MAX))
        return InvalidArgument(
            fmt::format("push body: timestamp \"{}\" is out of range", ts_text.substr(0, 32)));
      ns = static_cast<int64_t>(digits);
      std::vector<colstore::Column>& cols = out.columns.emplace_back();
      cols.push_back({kLineColumn, colstore::Value::String(line.get_string().value())});
      if (pair.size() == 3) {
        element md = pair.at(2).value();
        if (!md.is_object())
          return InvalidArgument("push body: structured metadata must be an object");
        object mo = md.get_object().value();
        for (auto field : mo) {
          element v = field.value;
          if (!v.is_string())
            return InvalidArgument(
                fmt::format("push body: structured metadata {} must be a string", field.key));
          if (field.key == kLineColumn)
            return InvalidArgument("push body: structured metadata may not be called \"line\"");
          cols.push_back({field.key, colstore::Value::String(v.get_string().value())});
        }
      }
      ps.records.push_back({ns, cols});
    }
  }
  return Status::Ok();
}

}  // namespace pharos::logs

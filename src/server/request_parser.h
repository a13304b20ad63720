// Internal to the server module: a Beast parser that fills connection-owned buffers, so
// that a keep-alive connection reuses its memory from one request to the next instead of
// allocating a field list per request.
#pragma once

#include <boost/beast/http/basic_parser.hpp>

#include <string>
#include <utility>
#include <vector>

#include "server/server.h"

namespace pharos::server {

/// What one request leaves behind; owned by the connection, cleared (not freed) per request.
struct RequestData {
  Method method = Method::kOther;
  std::string target;
  int version = 11;
  std::vector<std::pair<std::string, std::string>> headers;  // first header_count used
  size_t header_count = 0;
  std::string body;          // as received
  std::string decoded_body;  // after Content-Encoding
  bool expect_continue = false;

  void Clear() {
    method = Method::kOther;
    target.clear();
    header_count = 0;
    body.clear();
    decoded_body.clear();
    expect_continue = false;
  }
};

class RequestParser : public boost::beast::http::basic_parser<true> {
 public:
  explicit RequestParser(RequestData& data) : data_(data) {}

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  using verb = boost::beast::http::verb;
  using field = boost::beast::http::field;

  void on_request_impl(verb method, string_view, string_view target, int version,
                       error_code&) override {
    switch (method) {
      case verb::get: data_.method = Method::kGet; break;
      case verb::head: data_.method = Method::kHead; break;
      case verb::post: data_.method = Method::kPost; break;
      case verb::put: data_.method = Method::kPut; break;
      case verb::delete_: data_.method = Method::kDelete; break;
      case verb::patch: data_.method = Method::kPatch; break;
      case verb::options: data_.method = Method::kOptions; break;
      default: data_.method = Method::kOther;
    }
    data_.target.assign(target.data(), target.size());
    data_.version = version;
  }
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(field name, string_view name_string, string_view value, error_code&) override {
    if (data_.header_count == data_.headers.size()) data_.headers.emplace_back();
    auto& [k, v] = data_.headers[data_.header_count++];
    k.assign(name_string.data(), name_string.size());
    v.assign(value.data(), value.size());
    if (name == field::expect && value.size() == 12 && (value[0] == '1') &&
        (value.substr(3) == "-continue" || value.substr(3) == "-Continue")) {
      data_.expect_continue = true;
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(boost::optional<std::uint64_t> const& content_length,
                         error_code&) override {
    // The base parser has already checked the length against body_limit.
    if (content_length) data_.body.reserve(static_cast<size_t>(*content_length));
  }
  std::size_t on_body_impl(string_view body, error_code&) override {
    data_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    data_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  RequestData& data_;
};

}  // namespace pharos::server

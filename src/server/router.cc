#include <algorithm>

#include <fmt/format.h>

#include "common/strings.h"
#include "server/server.h"

namespace pharos::server {

std::string_view MethodName(Method m) {
  switch (m) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPost: return "POST";
    case Method::kPut: return "PUT";
    case Method::kDelete: return "DELETE";
    case Method::kPatch: return "PATCH";
    case Method::kOptions: return "OPTIONS";
    case Method::kOther: return "OTHER";
  }
  return "OTHER";
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  for (size_t i = 0; i < header_count_; ++i) {
    const auto& [k, v] = (*headers_)[i];
    if (EqualsIgnoreCase(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

namespace {

void CollectParams(std::string_view encoded, std::string_view name, std::vector<std::string>& out) {
  std::string key;
  std::string value;
  for (std::string_view pair : Split(encoded, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (!UrlDecode(pair.substr(0, eq), key, true) || key != name) continue;
    std::string_view raw = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (UrlDecode(raw, value, true)) out.push_back(value);
  }
}

}  // namespace

std::vector<std::string> Request::FormValues(std::string_view name) const {
  std::vector<std::string> out;
  CollectParams(query_, name, out);
  if (method_ == Method::kPost && body_) {
    std::string_view type = Header("Content-Type").value_or("");
    if (type.substr(0, 33) == "application/x-www-form-urlencoded") CollectParams(*body_, name, out);
  }
  return out;
}

std::optional<std::string> Request::QueryParam(std::string_view name) const {
  std::vector<std::string> values;
  CollectParams(query_, name, values);
  if (values.empty()) return std::nullopt;
  return values.front();
}

std::optional<std::string> Request::FormValue(std::string_view name) const {
  std::vector<std::string> values = FormValues(name);
  if (values.empty()) return std::nullopt;
  return values.front();
}

Response Response::JsonSuccess(std::string_view data_json) {
  Response r;
  r.body.reserve(data_json.size() + 32);
  r.body += R"({"status":"success","data":)";
  r.body += data_json;
  r.body += '}';
  return r;
}

Response Response::Error(int http_status, std::string_view error_type, std::string_view message) {
  Response r;
  r.status = http_status;
  r.body = R"({"status":"error","errorType":)";
  AppendJsonString(r.body, error_type);
  r.body += R"(,"error":)";
  AppendJsonString(r.body, message);
  r.body += '}';
  return r;
}

Response NotReady(std::string_view message) {
  Response r = Response::Error(503, "unavailable", message);
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

Response Response::FromStatus(const Status& status) {
  return Error(HttpStatusFor(status.code()), ErrorTypeFor(status.code()), status.message());
}

Response Response::Text(int http_status, std::string body, std::string content_type) {
  Response r;
  r.status = http_status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

void Response::SetText(int http_status, std::string_view text, std::string_view type) {
  status = http_status;
  body.assign(text);
  content_type.assign(type);
  headers.clear();
}

void Response::Reset() {
  status = 200;
  content_type.assign("application/json");
  body.clear();
  more_body.clear();
  headers.clear();
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 422;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kCancelled: return 499;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded: return 503;
    case StatusCode::kInternal:
    case StatusCode::kDataLoss: return 500;
  }
  return 500;
}

std::string_view ErrorTypeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return "bad_data";
    case StatusCode::kUnauthenticated: return "unauthorized";
    case StatusCode::kPermissionDenied: return "forbidden";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kAlreadyExists: return "conflict";
    case StatusCode::kFailedPrecondition: return "execution";
    case StatusCode::kResourceExhausted: return "too_many_requests";
    case StatusCode::kCancelled: return "canceled";
    case StatusCode::kDeadlineExceeded: return "timeout";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kUnimplemented: return "not_implemented";
    default: return "internal";
  }
}

void Router::Add(Entry& e, Method method, Route route) {
  route.index = next_index_++;
  e.methods.emplace_back(method, std::move(route));
}

void Router::Handle(Method method, std::string path, uint32_t required_scopes, Handler handler,
                    std::string label) {
  if (label.empty()) label = path;
  Entry& e = exact_[path];
  e.path = path;
  Add(e, method, Route{std::move(label), required_scopes, std::move(handler)});
}

void Router::HandleBlocking(Method method, std::string path, uint32_t required_scopes,
                            Handler handler, std::string label) {
  if (label.empty()) label = path;
  Entry& e = exact_[path];
  e.path = path;
  Add(e, method, Route{std::move(label), required_scopes, std::move(handler), true});
}

void Router::HandleControl(Method method, std::string path, uint32_t required_scopes,
                           Handler handler, std::string label) {
  if (label.empty()) label = path;
  Entry& e = exact_[path];
  e.path = path;
  Route route{std::move(label), required_scopes, std::move(handler), true};
  route.control = true;
  Add(e, method, std::move(route));
}

void Router::HandleWebSocket(std::string path, uint32_t required_scopes, FeedOpener open,
                             std::string label) {
  if (label.empty()) label = path;
  Entry& e = exact_[path];
  e.path = path;
  Route route{std::move(label), required_scopes, [](const Request&, Response& response) {
                response = Response::Text(400,
                                          "this route streams over a WebSocket: send a GET with "
                                          "\"Connection: Upgrade\" and \"Upgrade: websocket\"\n");
              }};
  route.open_feed = std::move(open);
  Add(e, Method::kGet, std::move(route));
}

void Router::HandlePrefix(Method method, std::string prefix, uint32_t required_scopes,
                          Handler handler, std::string label, Runs runs) {
  if (label.empty()) label = prefix + "*";
  auto it = std::find_if(prefixes_.begin(), prefixes_.end(),
                         [&prefix](const Entry& e) { return e.path == prefix; });
  if (it == prefixes_.end()) {
    prefixes_.push_back(Entry{prefix, {}});
    // Longest first, so Find takes the most specific prefix.
    std::stable_sort(prefixes_.begin(), prefixes_.end(),
                     [](const Entry& a, const Entry& b) { return a.path.size() > b.path.size(); });
    it = std::find_if(prefixes_.begin(), prefixes_.end(),
                      [&prefix](const Entry& e) { return e.path == prefix; });
  }
  Route route{std::move(label), required_scopes, std::move(handler), runs != Runs::kOnIoThread};
  route.control = runs == Runs::kControl;
  Add(*it, method, std::move(route));
}

void Router::ShapeErrors(std::string_view path, ErrorShape shape) {
  auto it = exact_.find(path);
  if (it == exact_.end()) return;
  for (auto& [method, route] : it->second.methods) route.error_shape = shape;
}

const Router::Route* Router::Pick(const Entry& e, Method method, bool& path_known,
                                  std::string& allow) const {
  path_known = true;
  const Route* get_route = nullptr;
  for (const auto& [m, route] : e.methods) {
    if (m == method) return &route;
    if (m == Method::kGet) get_route = &route;
  }
  // HEAD is answered by the GET handler, without the body.
  if (method == Method::kHead && get_route) return get_route;
  allow.clear();
  for (const auto& [m, route] : e.methods) {
    if (!allow.empty()) allow += ", ";
    allow += MethodName(m);
    if (m == Method::kGet) allow += ", HEAD";
  }
  return nullptr;
}

const Router::Route* Router::Find(Method method, std::string_view path, bool& path_known,
                                  std::string& allow) const {
  path_known = false;
  if (auto it = exact_.find(path); it != exact_.end()) {
    return Pick(it->second, method, path_known, allow);
  }
  for (const Entry& e : prefixes_) {
    if (path.substr(0, e.path.size()) == e.path) return Pick(e, method, path_known, allow);
  }
  return nullptr;
}

}  // namespace pharos::server

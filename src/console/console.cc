#include "console/console.h"

#include <string>

#include "common/strings.h"
#include "server/server.h"

namespace pharos::console {
namespace {

bool AcceptsGzip(const server::Request& req) {
  std::optional<std::string_view> ae = req.Header("Accept-Encoding");
  return ae && ToLower(*ae).find("gzip") != std::string::npos;
}

void Serve(const Asset& a, const server::Request& req, server::Response& res) {
  std::optional<std::string_view> inm = req.Header("If-None-Match");
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("ETag", std::string(a.etag));
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (inm && *inm == a.etag) {
    res.status = 304;
    res.content_type.clear();
    res.body.clear();
    return;
  }
  res.status = 200;
  res.content_type = std::string(a.content_type);
  if (AcceptsGzip(req)) {
    res.headers.emplace_back("Content-Encoding", "gzip");
    res.headers.emplace_back("Vary", "Accept-Encoding");
    res.body.assign(a.gzip_body.data(), a.gzip_body.size());
  } else {
    res.body.assign(a.body.data(), a.body.size());
  }
}

}  // namespace

void RegisterRoutes(server::Router& router) {
  for (const Asset& a : Assets()) {
    const Asset* asset = &a;
    router.Handle(
        server::Method::kGet, std::string(a.path), server::kPublic,
        [asset](const server::Request& req, server::Response& res) { Serve(*asset, req, res); },
        a.path == "/" ? "/" : "/assets");
  }
}

}  // namespace pharos::console

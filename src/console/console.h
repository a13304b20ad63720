// console: the web console (web/, built with esbuild at build time) embedded in the binary,
// and the routes that serve it on the main listener.
//
// Contract: RegisterRoutes() adds GET / (index.html) and GET /assets/<file> (app.js,
// app.css), public, answered from memory: gzip-compressed when the client accepts it,
// with Cache-Control: no-cache and an ETag (the build's content hash) so a browser
// revalidates cheaply. Nothing is read from disk or fetched at run time. The console calls
// the HTTP APIs with the token the user keeps in the browser; serving its files needs none.
#pragma once

#include <span>
#include <string_view>

namespace pharos::server {
class Router;
}

namespace pharos::console {

struct Asset {
  std::string_view path;  // "/", "/assets/app.js"
  std::string_view content_type;
  std::string_view body;
  std::string_view gzip_body;
  std::string_view etag;
};

/// The embedded files (generated from web/ by embed.py at build time).
std::span<const Asset> Assets();

void RegisterRoutes(server::Router& router);

}  // namespace pharos::console

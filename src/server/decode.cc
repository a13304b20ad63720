// Content-Encoding decoding with a hard cap on the output, so a small compressed body
// cannot expand into an unbounded allocation (a zip bomb gets 413, not an OOM).
#include <snappy.h>
#include <zlib.h>

#include <fmt/format.h>

#include "common/strings.h"
#include "server/server.h"

namespace pharos::server {
namespace {

// window_bits: 15+16 gzip, 15 zlib ("deflate" as HTTP defines it), -15 raw deflate.
Status Inflate(std::string_view input, int window_bits, uint64_t max_output, std::string& output) {
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) return Internal("zlib init failed");
  struct Closer {
    z_stream* z;
    ~Closer() { inflateEnd(z); }
  } closer{&zs};
  output.clear();
  // Start with a guess and grow, never past the cap plus one chunk.
  size_t guess = std::min<uint64_t>(max_output + 1, std::max<size_t>(input.size() * 4, 4096));
  output.resize(guess);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  zs.avail_in = static_cast<uInt>(input.size());
  size_t produced = 0;
  while (true) {
    if (produced == output.size()) {
      if (output.size() > max_output) break;
      size_t grown = std::min<uint64_t>(max_output + 1, output.size() * 2);
      output.resize(grown);
    }
    zs.next_out = reinterpret_cast<Bytef*>(output.data() + produced);
    zs.avail_out = static_cast<uInt>(output.size() - produced);
    int rc = inflate(&zs, Z_NO_FLUSH);
    produced = output.size() - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (zs.avail_in != 0) {
        // gzip allows several members back to back; accept only trailing members.
        if (window_bits == 15 + 16 && inflateReset(&zs) == Z_OK) continue;
        return InvalidArgument("trailing bytes after the compressed body");
      }
      break;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      return InvalidArgument("truncated compressed body");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return InvalidArgument(fmt::format("corrupt compressed body: {}", zs.msg ? zs.msg : "error"));
    }
  }
  if (produced > max_output) {
    return ResourceExhausted(
        fmt::format("decompressed body exceeds the limit of {} bytes", max_output));
  }
  output.resize(produced);
  return Status::Ok();
}

}  // namespace

Status DecodeBody(std::string_view encoding, std::string_view input, uint64_t max_output,
                  std::string& output) {
  std::string enc = ToLower(Trim(encoding));
  if (enc.empty() || enc == "identity") {
    output.assign(input);
    return Status::Ok();
  }
  if (enc == "gzip" || enc == "x-gzip") return Inflate(input, 15 + 16, max_output, output);
  if (enc == "deflate") {
    Status s = Inflate(input, 15, max_output, output);
    // Some clients send raw deflate under this name; try that before giving up.
    if (s.code() == StatusCode::kInvalidArgument) s = Inflate(input, -15, max_output, output);
    return s;
  }
  if (enc == "snappy") {
    size_t length = 0;
    if (!snappy::GetUncompressedLength(input.data(), input.size(), &length)) {
      return InvalidArgument("corrupt snappy body: bad length header");
    }
    if (length > max_output) {
      return ResourceExhausted(
          fmt::format("decompressed body exceeds the limit of {} bytes", max_output));
    }
    output.resize(length);
    if (!snappy::RawUncompress(input.data(), input.size(), output.data())) {
      return InvalidArgument("corrupt snappy body");
    }
    return Status::Ok();
  }
  return Unimplemented(fmt::format(
      "unsupported Content-Encoding \"{}\" (supported: gzip, deflate, snappy, identity)",
      encoding));
}

}  // namespace pharos::server

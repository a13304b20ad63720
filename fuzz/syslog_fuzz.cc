// libFuzzer target: syslog TCP streams and messages. Whatever the bytes, framing and
// parsing return messages or an error, never crash, hang or read past a frame; the
// splitter never holds more than a frame's limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "syslog/syslog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  constexpr int64_t kNow = int64_t{1'796'655'600} * 1'000'000'000;
  pharos::syslog::Message message;
  (void)pharos::syslog::ParseMessage(bytes, kNow, message);
  // The same bytes as a TCP stream, in reads of 7 bytes.
  constexpr size_t kLimit = 256;
  pharos::syslog::FrameSplitter splitter(kLimit);
  for (size_t at = 0; at < bytes.size(); at += 7) {
    pharos::Status s = splitter.Feed(bytes.substr(at, 7), [&](std::string_view frame) {
      if (frame.size() > kLimit) std::abort();
      (void)pharos::syslog::ParseMessage(frame, kNow, message);
    });
    if (!s.ok()) break;
    if (splitter.buffered() > kLimit + 16) std::abort();
  }
  return 0;
}

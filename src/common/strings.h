// Small string helpers used everywhere: JSON escaping, splitting, trimming, comparisons.
//
// Contract: pure functions, no allocation beyond their results, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pharos {

/// Appends `s` as a JSON string literal, escaped as Go's encoding/json does (so answers match
/// Prometheus's and Alertmanager's byte for byte): quotes, backslashes, control characters,
/// HTML-sensitive <, > and &, U+2028 and U+2029; each invalid UTF-8 byte becomes \ufffd.
void AppendJsonString(std::string& out, std::string_view s);
/// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..U+DFFF), nothing
/// above U+10FFFF, no truncated sequence. The one validator: what it accepts is printed by
/// AppendJsonString unchanged.
bool IsValidUtf8(std::string_view s);
std::string JsonString(std::string_view s);
/// Appends code point `cp` as UTF-8 (the caller keeps it below U+110000 and off surrogates).
void AppendUtf8(std::string& out, uint32_t cp);
/// `s` as a Go double-quoted string literal (strconv.Quote for ASCII): quotes, backslashes,
/// \n, \r, \t and other control bytes (\xNN) escaped, everything else as it is; Go's
/// parser, PromQL's and LogQL's read it back.
std::string QuoteGo(std::string_view s);
/// The longest prefix of `s` of at most `max_bytes` that does not cut a UTF-8 sequence.
std::string_view TruncateUtf8(std::string_view s, size_t max_bytes);

std::vector<std::string_view> Split(std::string_view s, char sep);
std::string_view Trim(std::string_view s);
std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

/// [a-zA-Z_:][a-zA-Z0-9_:]*, Prometheus's metric name syntax.
bool IsValidMetricName(std::string_view name);
/// [a-zA-Z_][a-zA-Z0-9_]*, Prometheus's label name syntax.
bool IsValidLabelName(std::string_view name);

/// Lower-case hex of `data`.
std::string HexEncode(std::string_view data);
/// Hex (either case) to bytes; false on an odd length or a non-hex character.
bool HexDecode(std::string_view hex, std::string& out);

/// Standard base64 with padding (RFC 4648 section 4).
std::string Base64Encode(std::string_view data);
/// Standard or URL-safe base64, padding optional. False on any other character.
bool Base64Decode(std::string_view data, std::string& out);

/// Compares without an early exit, so timing does not reveal where two secrets differ.
/// Lengths are not secret (callers compare fixed-length digests).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

/// Escapes `s` for a URL query, as Go's url.QueryEscape does: letters, digits and -_.~
/// stay, a space becomes '+', every other byte %XX.
std::string UrlQueryEscape(std::string_view s);

/// Percent-decodes a URL component; '+' becomes a space when `plus_as_space`.
/// Returns false on a malformed escape.
bool UrlDecode(std::string_view in, std::string& out, bool plus_as_space);

}  // namespace pharos

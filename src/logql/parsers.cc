// The parser stages: json, logfmt, regexp, pattern and unpack, with Loki's rules for label
// names (non-word characters become '_', a leading digit gets a '_'), clashes, empty
// values and errors (JSONParserErr, LogfmtParserErr).
#include <re2/re2.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/strings.h"
#include "logql/pipeline.h"

namespace pharos::logql {
namespace {

constexpr int kMaxJsonDepth = 64;

std::string SanitizeKey(std::string_view key, bool is_prefix) {
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.front())))
    key.remove_prefix(1);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.remove_suffix(1);
  std::string out;
  if (key.empty()) return out;
  if (is_prefix && key[0] >= '0' && key[0] <= '9') out += '_';
  for (char c : key) {
    bool word =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out += word ? c : '_';
  }
  return out;
}

// Keys one parser run has set, so that a repeated key keeps its first value.
class SeenKeys {
 public:
  bool Insert(const std::string& key) {
    if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) return false;
    keys_.push_back(key);
    return true;
  }

 private:
  std::vector<std::string> keys_;
};

// A small JSON reader over one line: strings unescaped, scalars as their raw text.
class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}

  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  char Peek() {
    Ws();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++i_;
    return true;
  }
  bool AtEnd() {
    Ws();
    return i_ >= s_.size();
  }
  size_t pos() const { return i_; }
  std::string_view Slice(size_t from) const { return s_.substr(from, i_ - from); }

  bool ReadString(std::string& out) {
    out.clear();
    if (!Consume('"')) return false;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t r = 0;
          if (!Hex4(r)) return false;
          if (r >= 0xD800 && r < 0xDC00 && s_.substr(i_, 2) == "\\u") {
            i_ += 2;
            uint32_t lo = 0;
            if (!Hex4(lo)) return false;
            if (lo >= 0xDC00 && lo < 0xE000) {
              r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              AppendUtf8(out, 0xFFFD);
              r = lo;
            }
          }
          if (r >= 0xD800 && r < 0xE000) r = 0xFFFD;
          AppendUtf8(out, r);
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  // A number, true, false or null: its raw text.
  bool ReadScalar(std::string_view& raw) {
    Ws();
    size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' ||
                              s_[i_] == '+' || s_[i_] == '.'))
      ++i_;
    raw = s_.substr(start, i_ - start);
    if (raw == "true" || raw == "false" || raw == "null") return true;
    if (raw.empty()) return false;
    return ParseGoFloat(raw).ok() && raw.find_first_of("xXpPnN_") == std::string_view::npos;
  }

  bool SkipValue(int depth) {
    if (depth > kMaxJsonDepth) return false;
    char c = Peek();
    if (c == '"') {
      std::string tmp;
      return ReadString(tmp);
    }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++i_;
      if (Consume(close)) return true;
      while (true) {
        if (c == '{') {
          std::string key;
          if (!ReadString(key) || !Consume(':')) return false;
        }
        if (!SkipValue(depth + 1)) return false;
        if (Consume(',')) continue;
        return Consume(close);
      }
    }
    std::string_view raw;
    return ReadScalar(raw);
  }

 private:
  bool Hex4(uint32_t& r) {
    if (i_ + 4 > s_.size()) return false;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_++];
      if (!std::isxdigit(static_cast<unsigned char>(h))) return false;
      r = r * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                             ? h - '0'
                                             : std::tolower(h) - 'a' + 10);
    }
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

void JsonError(LabelsBuilder& labels, JsonReader& r) {
  labels.SetErr("JSONParserErr", fmt::format("invalid JSON at offset {}", r.pos()));
}

class JsonParser : public Stage {
 public:
  bool Process(int64_t, Line& line, LabelsBuilder& labels) const override {
    JsonReader r(line.view);
    SeenKeys seen;
    std::string prefix;
    if (Peek(r) != '{' || !Flatten(r, labels, prefix, 0, seen) || !r.AtEnd()) JsonError(labels, r);
    return true;
  }

 private:
  static char Peek(JsonReader& r) { return r.Peek(); }
  static bool Flatten(JsonReader& r, LabelsBuilder& labels, std::string& prefix, int depth,
                      SeenKeys& seen) {
    if (depth > kMaxJsonDepth || !r.Consume('{')) return false;
    if (r.Consume('}')) return true;
    std::string key, value;
    while (true) {
      if (!r.ReadString(key) || !r.Consume(':')) return false;
      std::string name = prefix + SanitizeKey(key, prefix.empty());
      char c = r.Peek();
      if (c == '{') {
        size_t len = prefix.size();
        std::string nested = name + "_";
        std::swap(prefix, nested);
        bool ok = Flatten(r, labels, prefix, depth + 1, seen);
        std::swap(prefix, nested);
        prefix.resize(len);
        if (!ok) return false;
      } else if (c == '[') {
        if (!r.SkipValue(depth + 1)) return false;
      } else if (c == '"') {
        if (!r.ReadString(value)) return false;
        if (seen.Insert(name)) labels.SetParsed(name, value);
      } else {
        std::string_view raw;
        if (!r.ReadScalar(raw)) return false;
        if (raw != "null" && seen.Insert(name)) labels.SetParsed(name, raw);
      }
      if (r.Consume(',')) continue;
      return r.Consume('}');
    }
  }
};

// The value at `path` of the JSON in `r`: strings unescaped, anything else as raw text.
// Returns false when the JSON is malformed; `found` says whether the path exists.
bool Lookup(JsonReader& r, std::span<const std::string> path, int depth, std::string& out,
            bool& found) {
  if (depth > kMaxJsonDepth) return false;
  if (path.empty()) {
    char c = r.Peek();
    found = true;
    if (c == '"') return r.ReadString(out);
    size_t start = r.pos();
    if (!r.SkipValue(depth)) return false;
    out = std::string(r.Slice(start));
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.front()))) out.erase(0, 1);
    return true;
  }
  const std::string& step = path.front();
  bool index = !step.empty() && step.front() == '[';
  char c = r.Peek();
  if (c == '{' && !index) {
    r.Consume('{');
    if (r.Consume('}')) return true;
    std::string key;
    bool done = false;
    while (true) {
      if (!r.ReadString(key) || !r.Consume(':')) return false;
      if (!done && key == step) {
        if (!Lookup(r, path.subspan(1), depth + 1, out, found)) return false;
        done = true;
      } else if (!r.SkipValue(depth + 1)) {
        return false;
      }
      if (r.Consume(',')) continue;
      return r.Consume('}');
    }
  }
  if (c == '[' && index) {
    size_t want = std::stoul(step.substr(1, step.size() - 2));
    r.Consume('[');
    if (r.Consume(']')) return true;
    for (size_t k = 0;; ++k) {
      if (k == want) {
        if (!Lookup(r, path.subspan(1), depth + 1, out, found)) return false;
      } else if (!r.SkipValue(depth + 1)) {
        return false;
      }
      if (r.Consume(',')) continue;
      return r.Consume(']');
    }
  }
  return r.SkipValue(depth);
}

class JsonExtractor : public Stage {
 public:
  explicit JsonExtractor(std::vector<JsonExtraction> e) : extractions_(std::move(e)) {}
  bool Process(int64_t, Line& line, LabelsBuilder& labels) const override {
    {
      JsonReader check(line.view);
      if (check.Peek() != '{' || !check.SkipValue(0) || !check.AtEnd()) {
        JsonError(labels, check);
        return true;
      }
    }
    std::string value;
    for (const JsonExtraction& e : extractions_) {
      JsonReader r(line.view);
      bool found = false;
      value.clear();
      if (!Lookup(r, e.path, 0, value, found)) {
        JsonError(labels, r);
        return true;
      }
      labels.SetParsed(e.label, found ? value : std::string());
    }
    return true;
  }

 private:
  std::vector<JsonExtraction> extractions_;
};

// ---- logfmt ----

class LogfmtDecoder {
 public:
  explicit LogfmtDecoder(std::string_view line) : line_(line) {}
  bool Eol() const { return pos_ >= line_.size(); }
  const std::string& error() const { return error_; }
  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }

  // The next key and value; false on a syntax error (the position moves past it).
  bool Next() {
    key_ = {};
    value_ = {};
    while (pos_ < line_.size() && static_cast<unsigned char>(line_[pos_]) <= ' ') ++pos_;
    if (pos_ >= line_.size()) return true;
    size_t start = pos_;
    while (pos_ < line_.size()) {
      char c = line_[pos_];
      if (c == '=') {
        if (pos_ == start) return Fail("unexpected '='");
        key_ = line_.substr(start, pos_ - start);
        return Value();
      }
      if (c == '"') return Fail("unexpected '\"'");
      if (static_cast<unsigned char>(c) <= ' ') break;
      ++pos_;
    }
    key_ = line_.substr(start, pos_ - start);
    return true;
  }

 private:
  bool Value() {
    ++pos_;  // '='
    if (pos_ >= line_.size() || static_cast<unsigned char>(line_[pos_]) <= ' ') return true;
    if (line_[pos_] == '"') return Quoted();
    size_t start = pos_;
    while (pos_ < line_.size()) {
      char c = line_[pos_];
      if (c == '=' || c == '"') return Fail(fmt::format("unexpected '{}'", c));
      if (static_cast<unsigned char>(c) <= ' ') break;
      ++pos_;
    }
    value_ = line_.substr(start, pos_ - start);
    return true;
  }
  bool Quoted() {
    size_t start = pos_;
    bool esc = false, has_esc = false;
    for (size_t p = pos_ + 1; p < line_.size(); ++p) {
      char c = line_[p];
      if (esc) {
        esc = false;
      } else if (c == '\\') {
        esc = has_esc = true;
      } else if (c == '"') {
        pos_ = p + 1;
        if (has_esc) {
          Result<std::string> v = UnquoteGo(line_.substr(start, pos_ - start));
          if (!v.ok()) return Fail("invalid quoted value");
          unquoted_ = std::move(v).value();
          value_ = unquoted_;
        } else {
          value_ = line_.substr(start + 1, p - start - 1);
        }
        return true;
      }
    }
    pos_ = line_.size();
    return Fail("unterminated quoted value");
  }
  bool Fail(std::string what) {
    error_ = fmt::format("logfmt syntax error at pos {} on line 1: {}", pos_ + 1, what);
    // Skip the rest of the bad pair.
    while (pos_ < line_.size() && static_cast<unsigned char>(line_[pos_]) > ' ') ++pos_;
    return false;
  }

  std::string_view line_;
  size_t pos_ = 0;
  std::string_view key_;
  std::string_view value_;
  std::string unquoted_;
  std::string error_;
};

class LogfmtParser : public Stage {
 public:
  LogfmtParser(std::vector<LogfmtExtraction> extractions, bool strict, bool keep_empty)
      : extractions_(std::move(extractions)), strict_(strict), keep_empty_(keep_empty) {}
  bool Process(int64_t, Line& line, LabelsBuilder& labels) const override {
    LogfmtDecoder dec(line.view);
    SeenKeys seen;
    while (!dec.Eol()) {
      if (!dec.Next()) {
        if (strict_) {
          labels.SetErr("LogfmtParserErr", dec.error());
          return true;
        }
        continue;
      }
      if (dec.key().empty()) continue;
      std::string_view value = dec.value();
      if (value.find("\xef\xbf\xbd") != std::string_view::npos) value = {};
      if (!keep_empty_ && value.empty()) continue;
      if (extractions_.empty()) {
        std::string key = SanitizeKey(dec.key(), true);
        if (key.empty() || !seen.Insert(key)) continue;
        labels.SetParsed(key, value);
        continue;
      }
      for (const LogfmtExtraction& e : extractions_) {
        if (e.key == dec.key() && seen.Insert(e.label)) labels.SetParsed(e.label, value);
      }
    }
    return true;
  }

 private:
  std::vector<LogfmtExtraction> extractions_;
  bool strict_;
  bool keep_empty_;
};

// ---- regexp, pattern, unpack ----

class RegexpParser : public Stage {
 public:
  RegexpParser(std::unique_ptr<RE2> re, std::vector<std::pair<int, std::string>> groups)
      : re_(std::move(re)), groups_(std::move(groups)) {}
  bool Process(int64_t, Line& line, LabelsBuilder& labels) const override {
    int n = re_->NumberOfCapturingGroups() + 1;
    std::vector<re2::StringPiece> match(static_cast<size_t>(n));
    if (!re_->Match(line.view, 0, line.view.size(), RE2::UNANCHORED, match.data(), n)) return true;
    for (const auto& [index, name] : groups_) labels.SetParsed(name, match[index]);
    return true;
  }

 private:
  std::unique_ptr<RE2> re_;
  std::vector<std::pair<int, std::string>> groups_;
};

class PatternParser : public Stage {
 public:
  explicit PatternParser(Pattern p) : p_(std::move(p)) {}
  bool Process(int64_t, Line& line, LabelsBuilder& labels) const override {
    std::vector<std::string_view> captures;
    if (!p_.Extract(line.view, captures)) return true;
    for (size_t i = 0; i < captures.size(); ++i) labels.SetParsed(p_.names()[i], captures[i]);
    return true;
  }

 private:
  Pattern p_;
};

class UnpackParser : public Stage {
 public:
  bool Process(int64_t, Line& line, LabelsBuilder& labels) const override {
    JsonReader r(line.view);
    std::string key, value, entry;
    bool has_entry = false;
    auto fail = [&] {
      JsonError(labels, r);
      return true;
    };
    if (!r.Consume('{')) return fail();
    if (!r.Consume('}')) {
      while (true) {
        if (!r.ReadString(key) || !r.Consume(':')) return fail();
        if (r.Peek() == '"') {
          if (!r.ReadString(value)) return fail();
          if (key == "_entry") {
            entry = value;
            has_entry = true;
          } else {
            labels.SetParsed(SanitizeKey(key, true), value);
          }
        } else if (!r.SkipValue(1)) {
          return fail();
        }
        if (r.Consume(',')) continue;
        if (!r.Consume('}')) return fail();
        break;
      }
    }
    if (!r.AtEnd()) return fail();
    if (has_entry) line.Set(std::move(entry));
    return true;
  }
};

}  // namespace

Result<std::vector<std::string>> ParseJsonPath(std::string_view expr) {
  auto bad = [&] {
    return InvalidArgument("JSONExpressionParser: cannot parse expression " + QuoteGo(expr));
  };
  std::vector<std::string> path;
  size_t i = 0;
  auto ident = [&](std::string& out) {
    size_t start = i;
    while (i < expr.size() && expr[i] != '.' && expr[i] != '[') ++i;
    out = std::string(expr.substr(start, i - start));
    return !out.empty();
  };
  if (expr.empty()) return bad();
  if (expr[0] != '[') {
    std::string f;
    if (!ident(f)) return bad();
    path.push_back(std::move(f));
  }
  while (i < expr.size()) {
    if (expr[i] == '.') {
      ++i;
      std::string f;
      if (!ident(f)) return bad();
      path.push_back(std::move(f));
    } else if (expr[i] == '[') {
      size_t close = expr.find(']', i);
      if (close == std::string_view::npos) return bad();
      std::string_view inner = expr.substr(i + 1, close - i - 1);
      if (inner.size() >= 2 && inner.front() == '"' && inner.back() == '"') {
        path.emplace_back(inner.substr(1, inner.size() - 2));
      } else if (!inner.empty() && inner.size() < 10 &&
                 std::all_of(inner.begin(), inner.end(),
                             [](char c) { return c >= '0' && c <= '9'; })) {
        path.push_back("[" + std::string(inner) + "]");
      } else {
        return bad();
      }
      i = close + 1;
    } else {
      return bad();
    }
  }
  return path;
}

StagePtr MakeJsonParser() { return std::make_shared<JsonParser>(); }
StagePtr MakeJsonExtractor(std::vector<JsonExtraction> extractions) {
  return std::make_shared<JsonExtractor>(std::move(extractions));
}
StagePtr MakeLogfmtParser(bool strict, bool keep_empty) {
  return std::make_shared<LogfmtParser>(std::vector<LogfmtExtraction>{}, strict, keep_empty);
}
StagePtr MakeLogfmtExtractor(std::vector<LogfmtExtraction> extractions, bool strict,
                             bool keep_empty) {
  return std::make_shared<LogfmtParser>(std::move(extractions), strict, keep_empty);
}
StagePtr MakeUnpackParser() { return std::make_shared<UnpackParser>(); }

Result<StagePtr> MakeRegexpParser(std::string_view regex) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(8 << 20);
  // Duplicate names are refused before RE2 sees them, with Loki's message.
  std::vector<std::string> names;
  for (size_t at = regex.find("(?P<"); at != std::string_view::npos;
       at = regex.find("(?P<", at + 1)) {
    size_t close = regex.find('>', at);
    if (close == std::string_view::npos) break;
    std::string name(regex.substr(at + 4, close - at - 4));
    if (std::find(names.begin(), names.end(), name) != names.end())
      return InvalidArgument("duplicate extracted label name '" + name + "'");
    names.push_back(std::move(name));
  }
  auto re = std::make_unique<RE2>(regex, options);
  if (!re->ok()) return InvalidArgument("error parsing regexp: " + re->error());
  std::vector<std::pair<int, std::string>> groups;
  for (const auto& [name, index] : re->NamedCapturingGroups()) {
    std::string label = SanitizeKey(name, true);
    if (label != name) return InvalidArgument("invalid extracted label name '" + name + "'");
    groups.emplace_back(index, name);
  }
  if (groups.empty()) return InvalidArgument("at least one named capture must be supplied");
  std::sort(groups.begin(), groups.end());
  return StagePtr(std::make_shared<RegexpParser>(std::move(re), std::move(groups)));
}

Result<StagePtr> MakePatternParser(std::string_view pattern) {
  Result<Pattern> p = Pattern::Parse(pattern, true);
  if (!p.ok()) return p.status();
  return StagePtr(std::make_shared<PatternParser>(std::move(p).value()));
}

}  // namespace pharos::logql

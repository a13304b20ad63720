// The Go text/template subset of line_format and label_format (see template.h).
#include "logql/template.h"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/units.h"

namespace pharos::logql {

namespace {

struct Value {
  enum Kind { kNil, kString, kInt, kFloat, kBool };
  Kind kind = kNil;
  std::string s;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  static Value Str(std::string v) {
    Value x;
    x.kind = kString;
    x.s = std::move(v);
    return x;
  }
  static Value Int(int64_t v) {
    Value x;
    x.kind = kInt;
    x.i = v;
    return x;
  }
  static Value Float(double v) {
    Value x;
    x.kind = kFloat;
    x.f = v;
    return x;
  }
  static Value Bool(bool v) {
    Value x;
    x.kind = kBool;
    x.b = v;
    return x;
  }
};

std::string FormatGoFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::string s = fmt::format("{}", v);
  return s;
}

std::string ToText(const Value& v) {
  switch (v.kind) {
    case Value::kNil: return "<no value>";
    case Value::kString: return v.s;
    case Value::kInt: return std::to_string(v.i);
    case Value::kFloat: return FormatGoFloat(v.f);
    case Value::kBool: return v.b ? "true" : "false";
  }
  return "";
}

bool Truthy(const Value& v) {
  switch (v.kind) {
    case Value::kNil: return false;
    case Value::kString: return !v.s.empty();
    case Value::kInt: return v.i != 0;
    case Value::kFloat: return v.f != 0;
    case Value::kBool: return v.b;
  }
  return false;
}

int64_t ToInt(const Value& v) {
  switch (v.kind) {
    case Value::kInt: return v.i;
    case Value::kFloat: return static_cast<int64_t>(v.f);
    case Value::kBool: return v.b ? 1 : 0;
    case Value::kString: {
      Result<double> f = ParseGoFloat(v.s);
      return f.ok() && std::isfinite(*f) ? static_cast<int64_t>(*f) : 0;
    }
    case Value::kNil: return 0;
  }
  return 0;
}

double ToFloat(const Value& v) {
  switch (v.kind) {
    case Value::kInt: return static_cast<double>(v.i);
    case Value::kFloat: return v.f;
    case Value::kBool: return v.b ? 1 : 0;
    case Value::kString: {
      Result<double> f = ParseGoFloat(v.s);
      return f.ok() ? *f : 0;
    }
    case Value::kNil: return 0;
  }
  return 0;
}

struct Context {
  const LabelsBuilder* labels;
  std::string_view line;
  int64_t ts_ns;
};

using Args = std::vector<Value>;
using Func = std::function<Result<Value>(const Args&, const Context&)>;

Status Arity(const Args& a, size_t n, std::string_view name) {
  if (a.size() == n) return Status::Ok();
  return InvalidArgument(
      fmt::format("wrong number of args for {}: want {} got {}", name, n, a.size()));
}

// Go's fmt verbs over template values.
std::string GoSprintf(std::string_view format, std::span<const Value> args) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c != '%') {
      out += c;
      continue;
    }
    size_t start = i++;
    while (i < format.size() && std::strchr("+-# 0", format[i]) != nullptr) ++i;
    while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) ++i;
    if (i < format.size() && format[i] == '.') {
      ++i;
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) ++i;
    }
    if (i >= format.size()) {
      out += "%!(NOVERB)";
      break;
    }
    char verb = format[i];
    if (verb == '%') {
      out += '%';
      continue;
    }
    std::string spec(format.substr(start, i - start));
    if (next >= args.size()) {
      out += fmt::format("%!{}(MISSING)", verb);
      continue;
    }
    const Value& v = args[next++];
    char buf[512];
    switch (verb) {
      case 'd':
        if (v.kind == Value::kInt || v.kind == Value::kBool) {
          std::snprintf(buf, sizeof buf, (spec + "lld").c_str(), static_cast<long long>(ToInt(v)));
          out += buf;
        } else {
          out +=
              fmt::format("%!d({}={})", v.kind == Value::kString ? "string" : "float64", ToText(v));
        }
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        std::snprintf(buf, sizeof buf, (spec + verb).c_str(), ToFloat(v));
        out += buf;
        break;
      case 'x':
      case 'X':
        if (v.kind == Value::kString) {
          for (unsigned char ch : v.s)
            out += verb == 'x' ? fmt::format("{:02x}", ch) : fmt::format("{:02X}", ch);
        } else {
          std::snprintf(buf, sizeof buf, (spec + "ll" + verb).c_str(),
                        static_cast<long long>(ToInt(v)));
          out += buf;
        }
        break;
      case 'q': out += QuoteGo(ToText(v)); break;
      case 't': out += ToText(v); break;
      case 's':
      case 'v': {
        std::string text = ToText(v);
        std::snprintf(buf, sizeof buf, (spec + "s").c_str(), text.c_str());
        out += text.size() < 400 ? std::string(buf) : text;
        break;
      }
      default: out += fmt::format("%!{}({})", verb, ToText(v));
    }
  }
  if (next < args.size()) {
    out += "%!(EXTRA ";
    for (size_t k = next; k < args.size(); ++k) {
      if (k > next) out += ", ";
      out += ToText(args[k]);
    }
    out += ")";
  }
  return out;
}

Result<Value> Compare(const Args& a, std::string_view op) {
  if (a.size() < 2) return InvalidArgument(std::string(op) + ": missing argument");
  const Value& x = a[0];
  for (size_t k = 1; k < a.size(); ++k) {
    const Value& y = a[k];
    int cmp;
    bool numeric_x = x.kind == Value::kInt || x.kind == Value::kFloat;
    bool numeric_y = y.kind == Value::kInt || y.kind == Value::kFloat;
    if (numeric_x && numeric_y) {
      double fx = ToFloat(x), fy = ToFloat(y);
      cmp = fx < fy ? -1 : fx > fy ? 1 : 0;
    } else if (x.kind == y.kind) {
      std::string tx = ToText(x), ty = ToText(y);
      cmp = tx < ty ? -1 : tx > ty ? 1 : 0;
    } else {
      return InvalidArgument("incompatible types for comparison");
    }
    bool holds = op == "eq"   ? cmp == 0
                 : op == "ne" ? cmp != 0
                 : op == "lt" ? cmp < 0
                 : op == "le" ? cmp <= 0
                 : op == "gt" ? cmp > 0
                              : cmp >= 0;
    if (op == "eq") {
      if (holds) return Value::Bool(true);
      continue;
    }
    return Value::Bool(holds);
  }
  return Value::Bool(false);
}

std::string TrimCutset(std::string_view s, std::string_view cutset, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left)
    while (b < e && cutset.find(s[b]) != std::string_view::npos) ++b;
  if (right)
    while (e > b && cutset.find(s[e - 1]) != std::string_view::npos) --e;
  return std::string(s.substr(b, e - b));
}

std::shared_ptr<RE2> CompileRe(const std::string& re) {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(8 << 20);
  return std::make_shared<RE2>(re, o);
}

const std::map<std::string, Func, std::less<>>& Functions() {
  static const auto* table = new std::map<std::string, Func, std::less<>>{
      {"__line__", [](const Args&, const Context& c) { return Value::Str(std::string(c.line)); }},
      {"__timestamp__",
       [](const Args&, const Context& c) { return Value::Int(c.ts_ns / 1'000'000'000); }},
      {"lower",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "lower"); !s.ok()) return s;
         std::string t = ToText(a[0]);
         for (char& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
         return Value::Str(t);
       }},
      {"upper",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "upper"); !s.ok()) return s;
         std::string t = ToText(a[0]);
         for (char& ch : t) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
         return Value::Str(t);
       }},
      {"title",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "title"); !s.ok()) return s;
         std::string t = ToText(a[0]);
         bool start = true;
         for (char& ch : t) {
           if (start) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
           start = std::isspace(static_cast<unsigned char>(ch)) != 0;
         }
         return Value::Str(t);
       }},
      {"trim",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "trim"); !s.ok()) return s;
         return Value::Str(TrimCutset(ToText(a[0]), " \t\n\r\v\f", true, true));
       }},
      {"trimSpace",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "trimSpace"); !s.ok()) return s;
         return Value::Str(TrimCutset(ToText(a[0]), " \t\n\r\v\f", true, true));
       }},
      {"trimAll",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "trimAll"); !s.ok()) return s;
         return Value::Str(TrimCutset(ToText(a[1]), ToText(a[0]), true, true));
       }},
      {"trimLeft",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "trimLeft"); !s.ok()) return s;
         return Value::Str(TrimCutset(ToText(a[1]), ToText(a[0]), true, false));
       }},
      {"trimRight",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "trimRight"); !s.ok()) return s;
         return Value::Str(TrimCutset(ToText(a[1]), ToText(a[0]), false, true));
       }},
      {"trimPrefix",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "trimPrefix"); !s.ok()) return s;
         std::string p = ToText(a[0]), t = ToText(a[1]);
         return Value::Str(t.starts_with(p) ? t.substr(p.size()) : t);
       }},
      {"trimSuffix",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "trimSuffix"); !s.ok()) return s;
         std::string p = ToText(a[0]), t = ToText(a[1]);
         return Value::Str(t.ends_with(p) ? t.substr(0, t.size() - p.size()) : t);
       }},
      {"replace",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 3, "replace"); !s.ok()) return s;
         std::string from = ToText(a[0]), to = ToText(a[1]), t = ToText(a[2]), out;
         if (from.empty()) return Value::Str(t);
         size_t at = 0;
         for (size_t f; (f = t.find(from, at)) != std::string::npos; at = f + from.size())
           out += t.substr(at, f - at) + to;
         return Value::Str(out + t.substr(at));
       }},
      {"substr",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 3, "substr"); !s.ok()) return s;
         int64_t start = ToInt(a[0]), end = ToInt(a[1]);
         std::string t = ToText(a[2]);
         int64_t n = static_cast<int64_t>(t.size());
         if (start < 0) start = 0;
         if (end < 0 || end > n) end = n;
         if (start > end) return Value::Str("");
         return Value::Str(t.substr(static_cast<size_t>(start), static_cast<size_t>(end - start)));
       }},
      {"trunc",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "trunc"); !s.ok()) return s;
         int64_t n = ToInt(a[0]);
         std::string t = ToText(a[1]);
         int64_t len = static_cast<int64_t>(t.size());
         if (n >= 0) return Value::Str(n < len ? t.substr(0, static_cast<size_t>(n)) : t);
         return Value::Str(-n < len ? t.substr(static_cast<size_t>(len + n)) : t);
       }},
      {"contains",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "contains"); !s.ok()) return s;
         return Value::Bool(ToText(a[1]).find(ToText(a[0])) != std::string::npos);
       }},
      {"hasPrefix",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "hasPrefix"); !s.ok()) return s;
         return Value::Bool(ToText(a[1]).starts_with(ToText(a[0])));
       }},
      {"hasSuffix",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "hasSuffix"); !s.ok()) return s;
         return Value::Bool(ToText(a[1]).ends_with(ToText(a[0])));
       }},
      {"repeat",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "repeat"); !s.ok()) return s;
         int64_t n = ToInt(a[0]);
         std::string t = ToText(a[1]), out;
         if (n < 0 || static_cast<uint64_t>(n) * t.size() > (1u << 20))
           return InvalidArgument("repeat: result too large");
         for (int64_t k = 0; k < n; ++k) out += t;
         return Value::Str(out);
       }},
      {"indent",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "indent"); !s.ok()) return s;
         std::string pad(static_cast<size_t>(std::clamp<int64_t>(ToInt(a[0]), 0, 1024)), ' ');
         std::string t = ToText(a[1]), out = pad;
         for (char ch : t) {
           out += ch;
           if (ch == '\n') out += pad;
         }
         return Value::Str(out);
       }},
      {"nindent",
       [](const Args& a, const Context& c) -> Result<Value> {
         Result<Value> v = Functions().at("indent")(a, c);
         if (!v.ok()) return v;
         return Value::Str("\n" + v->s);
       }},
      {"default",
       [](const Args& a, const Context&) -> Result<Value> {
         if (a.size() == 1) return a[0];
         if (Status s = Arity(a, 2, "default"); !s.ok()) return s;
         return Truthy(a[1]) ? a[1] : a[0];
       }},
      {"count",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "count"); !s.ok()) return s;
         // One group around the whole pattern, to learn where each match is.
         auto re = CompileRe("(" + ToText(a[0]) + ")");
         if (!re->ok()) return InvalidArgument("count: " + re->error());
         std::string t = ToText(a[1]);
         re2::StringPiece in(t);
         int64_t n = 0;
         re2::StringPiece m;
         while (!in.empty() && RE2::PartialMatch(in, *re, &m)) {
           ++n;
           size_t advance =
               static_cast<size_t>(m.data() - in.data()) + std::max<size_t>(m.size(), 1);
           in.remove_prefix(std::min(advance, in.size()));
         }
         return Value::Int(n);
       }},
      {"regexReplaceAll",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 3, "regexReplaceAll"); !s.ok()) return s;
         auto re = CompileRe(ToText(a[0]));
         if (!re->ok()) return InvalidArgument("regexReplaceAll: " + re->error());
         std::string t = ToText(a[1]), repl = ToText(a[2]), rewritten;
         // Go's ${1} and $1 become RE2's \1.
         for (size_t k = 0; k < repl.size(); ++k) {
           if (repl[k] == '$' && k + 1 < repl.size()) {
             size_t j = k + 1;
             bool brace = repl[j] == '{';
             if (brace) ++j;
             size_t d = j;
             while (d < repl.size() && std::isdigit(static_cast<unsigned char>(repl[d]))) ++d;
             if (d > j && (!brace || (d < repl.size() && repl[d] == '}'))) {
               rewritten += "\\" + repl.substr(j, d - j);
               k = brace ? d : d - 1;
               continue;
             }
           }
           if (repl[k] == '\\') rewritten += '\\';
           rewritten += repl[k];
         }
         RE2::GlobalReplace(&t, *re, rewritten);
         return Value::Str(t);
       }},
      {"regexReplaceAllLiteral",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 3, "regexReplaceAllLiteral"); !s.ok()) return s;
         auto re = CompileRe(ToText(a[0]));
         if (!re->ok()) return InvalidArgument("regexReplaceAllLiteral: " + re->error());
         std::string t = ToText(a[1]), repl = ToText(a[2]), escaped;
         for (char ch : repl) {
           if (ch == '\\') escaped += '\\';
           escaped += ch;
         }
         RE2::GlobalReplace(&t, *re, escaped);
         return Value::Str(t);
       }},
      {"b64enc",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "b64enc"); !s.ok()) return s;
         return Value::Str(Base64Encode(ToText(a[0])));
       }},
      {"b64dec",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "b64dec"); !s.ok()) return s;
         std::string out;
         if (!Base64Decode(ToText(a[0]), out))
           return InvalidArgument("b64dec: illegal base64 data");
         return Value::Str(out);
       }},
      {"urlencode",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "urlencode"); !s.ok()) return s;
         std::string out;
         for (unsigned char ch : ToText(a[0])) {
           if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
             out += static_cast<char>(ch);
           } else if (ch == ' ') {
             out += '+';
           } else {
             out += fmt::format("%{:02X}", ch);
           }
         }
         return Value::Str(out);
       }},
      {"urldecode",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "urldecode"); !s.ok()) return s;
         std::string t = ToText(a[0]), out;
         for (size_t k = 0; k < t.size(); ++k) {
           if (t[k] == '+') {
             out += ' ';
           } else if (t[k] == '%' && k + 2 < t.size() &&
                      std::isxdigit(static_cast<unsigned char>(t[k + 1])) &&
                      std::isxdigit(static_cast<unsigned char>(t[k + 2]))) {
             out += static_cast<char>(std::stoi(t.substr(k + 1, 2), nullptr, 16));
             k += 2;
           } else if (t[k] == '%') {
             return InvalidArgument("urldecode: invalid URL escape");
           } else {
             out += t[k];
           }
         }
         return Value::Str(out);
       }},
      {"alignLeft",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "alignLeft"); !s.ok()) return s;
         size_t n = static_cast<size_t>(std::clamp<int64_t>(ToInt(a[0]), 0, 1 << 16));
         std::string t = ToText(a[1]);
         if (t.size() >= n) return Value::Str(t.substr(0, n));
         return Value::Str(t + std::string(n - t.size(), ' '));
       }},
      {"alignRight",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 2, "alignRight"); !s.ok()) return s;
         size_t n = static_cast<size_t>(std::clamp<int64_t>(ToInt(a[0]), 0, 1 << 16));
         std::string t = ToText(a[1]);
         if (t.size() >= n) return Value::Str(t.substr(t.size() - n));
         return Value::Str(std::string(n - t.size(), ' ') + t);
       }},
      {"len",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "len"); !s.ok()) return s;
         return Value::Int(static_cast<int64_t>(ToText(a[0]).size()));
       }},
      {"printf",
       [](const Args& a, const Context&) -> Result<Value> {
         if (a.empty()) return InvalidArgument("wrong number of args for printf");
         return Value::Str(GoSprintf(ToText(a[0]), std::span(a).subspan(1)));
       }},
      {"print",
       [](const Args& a, const Context&) -> Result<Value> {
         std::string out;
         for (size_t k = 0; k < a.size(); ++k) {
           // Go's fmt.Sprint puts a space between operands when neither is a string.
           if (k > 0 && a[k].kind != Value::kString && a[k - 1].kind != Value::kString) out += ' ';
           out += ToText(a[k]);
         }
         return Value::Str(out);
       }},
      {"not",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "not"); !s.ok()) return s;
         return Value::Bool(!Truthy(a[0]));
       }},
      {"and",
       [](const Args& a, const Context&) -> Result<Value> {
         if (a.empty()) return InvalidArgument("wrong number of args for and");
         for (const Value& v : a) {
           if (!Truthy(v)) return v;
         }
         return a.back();
       }},
      {"or",
       [](const Args& a, const Context&) -> Result<Value> {
         if (a.empty()) return InvalidArgument("wrong number of args for or");
         for (const Value& v : a) {
           if (Truthy(v)) return v;
         }
         return a.back();
       }},
      {"eq", [](const Args& a, const Context&) { return Compare(a, "eq"); }},
      {"ne", [](const Args& a, const Context&) { return Compare(a, "ne"); }},
      {"lt", [](const Args& a, const Context&) { return Compare(a, "lt"); }},
      {"le", [](const Args& a, const Context&) { return Compare(a, "le"); }},
      {"gt", [](const Args& a, const Context&) { return Compare(a, "gt"); }},
      {"ge", [](const Args& a, const Context&) { return Compare(a, "ge"); }},
      {"int",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "int"); !s.ok()) return s;
         return Value::Int(ToInt(a[0]));
       }},
      {"float64",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "float64"); !s.ok()) return s;
         return Value::Float(ToFloat(a[0]));
       }},
      {"unixEpoch",
       [](const Args&, const Context& c) -> Result<Value> {
         return Value::Int(c.ts_ns / 1'000'000'000);
       }},
      {"unixEpochMillis",
       [](const Args&, const Context& c) -> Result<Value> {
         return Value::Int(c.ts_ns / 1'000'000);
       }},
      {"unixEpochNanos",
       [](const Args&, const Context& c) -> Result<Value> { return Value::Int(c.ts_ns); }},
      {"bytes",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "bytes"); !s.ok()) return s;
         Result<double> v = ParseHumanBytes(ToText(a[0]));
         return Value::Float(v.ok() ? *v : 0);
       }},
      {"duration",
       [](const Args& a, const Context&) -> Result<Value> {
         if (Status s = Arity(a, 1, "duration"); !s.ok()) return s;
         Result<double> v = ParseGoDuration(ToText(a[0]));
         return Value::Float(v.ok() ? *v : 0);
       }},
  };
  return *table;
}

// Integer and float arithmetic: add sub mul div mod max min and their f forms, ceil,
// floor, round.
Result<Value> Arithmetic(std::string_view name, const Args& a) {
  if (name == "ceil" || name == "floor" || name == "round") {
    if (Status s = Arity(a, 1, name); !s.ok()) return s;
    double v = ToFloat(a[0]);
    return Value::Float(name == "ceil"    ? std::ceil(v)
                        : name == "floor" ? std::floor(v)
                                          : std::round(v));
  }
  if (a.size() < 2) return InvalidArgument(fmt::format("wrong number of args for {}", name));
  bool floats = name.ends_with('f') && name != "div" && name != "mod";
  std::string_view op = floats ? name.substr(0, name.size() - 1) : name;
  if (floats) {
    double acc = ToFloat(a[0]);
    for (size_t k = 1; k < a.size(); ++k) {
      double v = ToFloat(a[k]);
      if (op == "add") acc += v;
      if (op == "sub") acc -= v;
      if (op == "mul") acc *= v;
      if (op == "div") acc /= v;
      if (op == "max") acc = std::max(acc, v);
      if (op == "min") acc = std::min(acc, v);
    }
    return Value::Float(acc);
  }
  int64_t acc = ToInt(a[0]);
  for (size_t k = 1; k < a.size(); ++k) {
    int64_t v = ToInt(a[k]);
    if ((op == "div" || op == "mod") && v == 0)
      return InvalidArgument("runtime error: integer divide by zero");
    if (op == "add") acc += v;
    if (op == "sub") acc -= v;
    if (op == "mul") acc *= v;
    if (op == "div") acc /= v;
    if (op == "mod") acc %= v;
    if (op == "max") acc = std::max(acc, v);
    if (op == "min") acc = std::min(acc, v);
  }
  return Value::Int(acc);
}

bool IsArithmetic(std::string_view name) {
  static const char* kNames[] = {"add",  "sub",  "mul",  "div",  "mod",  "max",  "min",   "addf",
                                 "subf", "mulf", "divf", "maxf", "minf", "ceil", "floor", "round"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

}  // namespace

// ---- the tree ----

struct Pipe;

struct Operand {
  enum Kind { kField, kDot, kLiteral, kFunc, kSub };
  Kind kind = kLiteral;
  std::string name;  // field or function name
  Value literal;
  std::shared_ptr<const Pipe> sub;
};

struct Cmd {
  std::vector<Operand> operands;
};

struct Pipe {
  std::vector<Cmd> cmds;
};

struct TemplateNode {
  enum Kind { kList, kText, kAction, kIf };
  Kind kind = kList;
  std::string text;
  Pipe pipe;
  std::vector<std::shared_ptr<const TemplateNode>> list;  // kList; kIf: then branch
  std::shared_ptr<const TemplateNode> otherwise;          // kIf: else branch
};

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<std::shared_ptr<TemplateNode>> ParseList(std::string_view& stop_keyword) {
    auto list = std::make_shared<TemplateNode>();
    while (pos_ < text_.size()) {
      size_t open = text_.find("{{", pos_);
      std::string literal(text_.substr(
          pos_, open == std::string_view::npos ? std::string_view::npos : open - pos_));
      if (open == std::string_view::npos) {
        pos_ = text_.size();
      } else {
        pos_ = open + 2;
        if (pos_ + 1 < text_.size() + 1 && text_.substr(pos_, 2) == "- ") {
          while (!literal.empty() && std::isspace(static_cast<unsigned char>(literal.back())))
            literal.pop_back();
          pos_ += 1;
        }
      }
      if (!literal.empty()) AddText(*list, std::move(literal));
      if (open == std::string_view::npos) break;
      Result<std::string_view> body = ActionBody();
      if (!body.ok()) return body.status();
      std::string_view b = Trim(*body);
      if (b.starts_with("/*")) continue;
      std::string_view word = b.substr(0, b.find_first_of(" \t\n("));
      if (word == "end" || word == "else") {
        stop_keyword = b;
        return list;
      }
      if (word == "if") {
        Result<std::shared_ptr<TemplateNode>> node = ParseIf(b.substr(2));
        if (!node.ok()) return node.status();
        list->list.push_back(std::move(node).value());
        continue;
      }
      if (word == "range" || word == "with" || word == "define" || word == "template" ||
          word == "block")
        return Error(fmt::format("\"{}\" is not supported in Loki templates here", word));
      Result<Pipe> pipe = ParsePipe(b);
      if (!pipe.ok()) return pipe.status();
      auto action = std::make_shared<TemplateNode>();
      action->kind = TemplateNode::kAction;
      action->pipe = std::move(pipe).value();
      list->list.push_back(std::move(action));
    }
    stop_keyword = {};
    return list;
  }

  bool uses_line() const { return uses_line_; }

 private:
  static std::string_view Trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  }
  Status Error(std::string_view what) const {
    return InvalidArgument(fmt::format("template: line:1: {}", what));
  }
  void AddText(TemplateNode& list, std::string text) {
    auto t = std::make_shared<TemplateNode>();
    t->kind = TemplateNode::kText;
    t->text = std::move(text);
    list.list.push_back(std::move(t));
  }

  // The text of an action up to its "}}" (strings may hold braces); applies " -}}".
  Result<std::string_view> ActionBody() {
    size_t start = pos_;
    char quote = 0;
    for (size_t i = pos_; i < text_.size(); ++i) {
      char c = text_[i];
      if (quote != 0) {
        if (c == '\\' && quote == '"') {
          ++i;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if (c == '"' || c == '`' || c == '\'') {
        quote = c;
      } else if (c == '}' && i + 1 < text_.size() && text_[i + 1] == '}') {
        std::string_view body = text_.substr(start, i - start);
        pos_ = i + 2;
        if (body.size() >= 2 && body.substr(body.size() - 2) == " -") {
          body.remove_suffix(2);
          while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])))
            ++pos_;
        }
        return body;
      }
    }
    return Error("unclosed action");
  }

  Result<std::shared_ptr<TemplateNode>> ParseIf(std::string_view condition) {
    Result<Pipe> pipe = ParsePipe(Trim(condition));
    if (!pipe.ok()) return pipe.status();
    auto node = std::make_shared<TemplateNode>();
    node->kind = TemplateNode::kIf;
    node->pipe = std::move(pipe).value();
    std::string_view stop;
    Result<std::shared_ptr<TemplateNode>> then = ParseList(stop);
    if (!then.ok()) return then.status();
    node->list = std::move(then.value()->list);
    if (stop.empty()) return Error("unexpected EOF");
    if (stop.starts_with("else")) {
      std::string_view rest = Trim(stop.substr(4));
      if (rest.starts_with("if ")) {
        Result<std::shared_ptr<TemplateNode>> nested = ParseIf(rest.substr(3));
        if (!nested.ok()) return nested.status();
        node->otherwise = std::move(nested).value();
        return node;  // the nested if consumed the {{end}}
      }
      Result<std::shared_ptr<TemplateNode>> other = ParseList(stop);
      if (!other.ok()) return other.status();
      node->otherwise = std::move(other).value();
      if (stop != "end") return Error("expected end; found " + std::string(stop));
    }
    return node;
  }

  Result<Pipe> ParsePipe(std::string_view s) {
    Pipe pipe;
    size_t i = 0;
    Cmd cmd;
    auto skip = [&] {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    };
    while (true) {
      skip();
      if (i >= s.size()) break;
      char c = s[i];
      if (c == '|') {
        if (cmd.operands.empty()) return Error("missing command");
        pipe.cmds.push_back(std::move(cmd));
        cmd = {};
        ++i;
        continue;
      }
      Operand op;
      if (c == '"' || c == '`') {
        size_t end = i + 1;
        while (end < s.size() && s[end] != c) {
          if (c == '"' && s[end] == '\\') ++end;
          ++end;
        }
        if (end >= s.size()) return Error("unterminated quoted string");
        Result<std::string> text = UnquoteGo(s.substr(i, end + 1 - i));
        if (!text.ok()) return Error("invalid syntax in string");
        op.literal = Value::Str(std::move(text).value());
        i = end + 1;
      } else if (c == '(') {
        int depth = 0;
        size_t end = i;
        for (; end < s.size(); ++end) {
          if (s[end] == '(') ++depth;
          if (s[end] == ')' && --depth == 0) break;
        }
        if (end >= s.size()) return Error("unclosed left paren");
        Result<Pipe> sub = ParsePipe(s.substr(i + 1, end - i - 1));
        if (!sub.ok()) return sub.status();
        op.kind = Operand::kSub;
        op.sub = std::make_shared<Pipe>(std::move(sub).value());
        i = end + 1;
      } else if (c == '.') {
        size_t end = i + 1;
        while (end < s.size() &&
               (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_'))
          ++end;
        op.kind = end == i + 1 ? Operand::kDot : Operand::kField;
        op.name = std::string(s.substr(i + 1, end - i - 1));
        i = end;
      } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
        size_t end = i + 1;
        while (end < s.size() && !std::isspace(static_cast<unsigned char>(s[end])) &&
               s[end] != ')' && s[end] != '|')
          ++end;
        std::string_view num = s.substr(i, end - i);
        bool integer = num.find_first_of(".eEpP") == std::string_view::npos;
        Result<double> v = ParseGoFloat(num);
        if (!v.ok()) return Error(fmt::format("bad number syntax: \"{}\"", num));
        if (integer && std::abs(*v) >= 9.2e18)
          return Error(fmt::format("number out of range: \"{}\"", num));
        op.literal = integer ? Value::Int(static_cast<int64_t>(*v)) : Value::Float(*v);
        i = end;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t end = i + 1;
        while (end < s.size() &&
               (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_'))
          ++end;
        std::string name(s.substr(i, end - i));
        i = end;
        if (name == "true" || name == "false") {
          op.literal = Value::Bool(name == "true");
        } else if (name == "nil") {
          op.literal = Value();
        } else {
          if (!Functions().contains(name) && !IsArithmetic(name))
            return Error(fmt::format("function \"{}\" not defined", name));
          if (name == "__line__") uses_line_ = true;
          op.kind = Operand::kFunc;
          op.name = std::move(name);
        }
      } else {
        return Error(fmt::format("unexpected \"{}\" in command", c));
      }
      cmd.operands.push_back(std::move(op));
    }
    if (cmd.operands.empty()) return Error("missing value for command");
    pipe.cmds.push_back(std::move(cmd));
    return pipe;
  }

  std::string_view text_;
  size_t pos_ = 0;
  bool uses_line_ = false;
};

Result<Value> EvalPipe(const Pipe& pipe, const Context& ctx);

Result<Value> EvalOperand(const Operand& op, const Context& ctx) {
  switch (op.kind) {
    case Operand::kLiteral: return op.literal;
    case Operand::kDot: return Value::Str("map[]");
    case Operand::kField: {
      const std::string* v = ctx.labels->Get(op.name);
      return Value::Str(v == nullptr ? std::string() : *v);
    }
    case Operand::kSub: return EvalPipe(*op.sub, ctx);
    case Operand::kFunc: {
      Args none;
      if (IsArithmetic(op.name)) return Arithmetic(op.name, none);
      return Functions().at(op.name)(none, ctx);
    }
  }
  return Value();
}

Result<Value> EvalPipe(const Pipe& pipe, const Context& ctx) {
  Value carried;
  bool has_carried = false;
  for (const Cmd& cmd : pipe.cmds) {
    const Operand& head = cmd.operands[0];
    if (head.kind != Operand::kFunc) {
      if (cmd.operands.size() > 1 || has_carried)
        return InvalidArgument("can't give argument to non-function");
      Result<Value> v = EvalOperand(head, ctx);
      if (!v.ok()) return v;
      carried = std::move(v).value();
      has_carried = true;
      continue;
    }
    Args args;
    for (size_t k = 1; k < cmd.operands.size(); ++k) {
      Result<Value> v = EvalOperand(cmd.operands[k], ctx);
      if (!v.ok()) return v;
      args.push_back(std::move(v).value());
    }
    if (has_carried) args.push_back(std::move(carried));
    Result<Value> v = IsArithmetic(head.name) ? Arithmetic(head.name, args)
                                              : Functions().at(head.name)(args, ctx);
    if (!v.ok())
      return InvalidArgument(fmt::format("error calling {}: {}", head.name, v.status().message()));
    carried = std::move(v).value();
    has_carried = true;
  }
  return carried;
}

Status Run(const TemplateNode& node, const Context& ctx, std::string& out) {
  switch (node.kind) {
    case TemplateNode::kText: out += node.text; return Status::Ok();
    case TemplateNode::kAction: {
      Result<Value> v = EvalPipe(node.pipe, ctx);
      if (!v.ok()) return v.status();
      out += ToText(*v);
      if (out.size() > (1u << 20)) return InvalidArgument("template output too large");
      return Status::Ok();
    }
    case TemplateNode::kIf: {
      Result<Value> v = EvalPipe(node.pipe, ctx);
      if (!v.ok()) return v.status();
      if (Truthy(*v)) {
        for (const auto& child : node.list) {
          if (Status s = Run(*child, ctx, out); !s.ok()) return s;
        }
      } else if (node.otherwise) {
        return Run(*node.otherwise, ctx, out);
      }
      return Status::Ok();
    }
    case TemplateNode::kList:
      for (const auto& child : node.list) {
        if (Status s = Run(*child, ctx, out); !s.ok()) return s;
      }
      return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace

Result<Template> Template::Parse(std::string_view text) {
  Parser parser(text);
  std::string_view stop;
  Result<std::shared_ptr<TemplateNode>> root = parser.ParseList(stop);
  if (!root.ok()) return root.status();
  if (!stop.empty())
    return InvalidArgument(fmt::format("template: line:1: unexpected {{{{{}}}}}", stop));
  Template t;
  t.root_ = std::move(root).value();
  t.uses_line_ = parser.uses_line();
  return t;
}

Result<std::string> Template::Execute(const LabelsBuilder& labels, std::string_view line,
                                      int64_t ts_ns) const {
  Context ctx{&labels, line, ts_ns};
  std::string out;
  if (Status s = Run(*root_, ctx, out); !s.ok()) return s;
  return out;
}

// ---- line_format and label_format ----

namespace {

class LineFormat : public Stage {
 public:
  explicit LineFormat(Template t) : t_(std::move(t)) {}
  bool Process(int64_t ts, Line& line, LabelsBuilder& labels) const override {
    Result<std::string> out = t_.Execute(labels, line.view, ts);
    if (!out.ok()) {
      labels.SetErr("TemplateFormatErr", out.status().message());
      return true;
    }
    line.Set(std::move(out).value());
    return true;
  }

 private:
  Template t_;
};

class LabelFormatStage : public Stage {
 public:
  struct Compiled {
    LabelFormat format;
    std::optional<Template> tmpl;
  };
  explicit LabelFormatStage(std::vector<Compiled> formats) : formats_(std::move(formats)) {}
  bool Process(int64_t ts, Line& line, LabelsBuilder& labels) const override {
    // Every template sees the labels as they were before this stage.
    std::vector<std::pair<std::string, std::string>> sets;
    std::vector<std::string> renamed;
    for (const Compiled& c : formats_) {
      if (c.tmpl) {
        Result<std::string> out = c.tmpl->Execute(labels, line.view, ts);
        if (!out.ok()) {
          labels.SetErr("TemplateFormatErr", out.status().message());
          continue;
        }
        sets.emplace_back(c.format.dst, std::move(out).value());
      } else {
        const std::string* v = labels.Get(c.format.src);
        sets.emplace_back(c.format.dst, v == nullptr ? std::string() : *v);
        renamed.push_back(c.format.src);
      }
    }
    for (const std::string& src : renamed) labels.Delete(src);
    for (auto& [dst, value] : sets) {
      if (value.empty()) {
        labels.Delete(dst);
      } else {
        labels.Set(dst, value);
      }
    }
    return true;
  }

 private:
  std::vector<Compiled> formats_;
};

}  // namespace

Result<StagePtr> MakeLineFormat(std::string_view tmpl) {
  Result<Template> t = Template::Parse(tmpl);
  if (!t.ok()) return t.status();
  return StagePtr(std::make_shared<LineFormat>(std::move(t).value()));
}

Result<StagePtr> MakeLabelFormat(std::vector<LabelFormat> formats) {
  std::vector<LabelFormatStage::Compiled> compiled;
  for (LabelFormat& f : formats) {
    for (const auto& c : compiled) {
      if (c.format.dst == f.dst)
        return InvalidArgument(fmt::format(
            "multiple label name '{}' not allowed in a single format operation", f.dst));
    }
    LabelFormatStage::Compiled c{std::move(f), std::nullopt};
    if (c.format.is_template) {
      Result<Template> t = Template::Parse(c.format.tmpl);
      if (!t.ok()) return t.status();
      c.tmpl = std::move(t).value();
    }
    compiled.push_back(std::move(c));
  }
  return StagePtr(std::make_shared<LabelFormatStage>(std::move(compiled)));
}

}  // namespace pharos::logql

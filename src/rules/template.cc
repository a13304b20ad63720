#include "rules/template.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>

#include <fmt/format.h>

#include "common/strings.h"

namespace pharos::rules {

constexpr size_t kMaxOutputBytes = 64 * 1024;
// Parentheses, {{if}}/{{with}} blocks and {{else if}} links nest at most this deep: parsing
// and executing recurse once per level, and a hostile template must not exhaust the stack.
constexpr int kMaxNesting = 100;

// ---- values ----

namespace {

struct Val {
  enum Kind { kNil, kBool, kNum, kStr, kMap } kind = kNil;
  bool b = false;
  double d = 0;
  std::string s;
  const model::Labels* map = nullptr;

  static Val Bool(bool v) {
    Val x;
    x.kind = kBool;
    x.b = v;
    return x;
  }
  static Val Num(double v) {
    Val x;
    x.kind = kNum;
    x.d = v;
    return x;
  }
  static Val Str(std::string v) {
    Val x;
    x.kind = kStr;
    x.s = std::move(v);
    return x;
  }
  static Val Map(const model::Labels* m) {
    Val x;
    x.kind = kMap;
    x.map = m;
    return x;
  }
};

bool Truthy(const Val& v) {
  switch (v.kind) {
    case Val::kNil: return false;
    case Val::kBool: return v.b;
    case Val::kNum: return v.d != 0;
    case Val::kStr: return !v.s.empty();
    case Val::kMap: return v.map && !v.map->empty();
  }
  return false;
}

std::string GoG(double v, int precision) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, v);
  return buf;
}

}  // namespace

std::string GoFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  // Shortest round-trip digits, then Go's %g layout: exponent form when the decimal
  // exponent is < -4 or >= 6 (strconv uses precision 6 for this when formatting shortest).
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, end);  // d.ddde[+-]xx
  size_t e = sci.find('e');
  int exp = std::stoi(sci.substr(e + 1));
  bool negative = sci[0] == '-';
  std::string mantissa = sci.substr(negative ? 1 : 0, e - (negative ? 1 : 0));
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out = negative ? "-" : "";
  if (exp < -4 || exp >= 6) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', std::abs(exp));
    return out;
  }
  if (exp < 0) {
    out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
    out += digits + std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0');
  } else {
    out += digits.substr(0, static_cast<size_t>(exp) + 1) + "." +
           digits.substr(static_cast<size_t>(exp) + 1);
  }
  return out;
}

std::string Humanize(double v) {
  if (v == 0 || std::isnan(v) || std::isinf(v)) return GoG(v, 4);
  if (std::abs(v) >= 1) {
    const char* prefix = "";
    for (const char* p : {"k", "M", "G", "T", "P", "E", "Z", "Y"}) {
      if (std::abs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
    return GoG(v, 4) + prefix;
  }
  const char* prefix = "";
  for (const char* p : {"m", "u", "n", "p", "f", "a", "z", "y"}) {
    if (std::abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return GoG(v, 4) + prefix;
}

std::string Humanize1024(double v) {
  if (std::abs(v) <= 1 || std::isnan(v) || std::isinf(v)) return GoG(v, 4);
  const char* prefix = "";
  for (const char* p : {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"}) {
    if (std::abs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return GoG(v, 4) + prefix;
}

std::string HumanizeDuration(double v) {
  if (std::isnan(v) || std::isinf(v)) return GoG(v, 4);
  if (v == 0) return GoG(v, 4) + "s";
  if (std::abs(v) >= 1) {
    std::string sign;
    if (v < 0) {
      sign = "-";
      v = -v;
    }
    auto duration = static_cast<int64_t>(v);
    int64_t seconds = duration % 60;
    int64_t minutes = (duration / 60) % 60;
    int64_t hours = (duration / 3600) % 24;
    int64_t days = duration / 86400;
    if (days != 0) return fmt::format("{}{}d {}h {}m {}s", sign, days, hours, minutes, seconds);
    if (hours != 0) return fmt::format("{}{}h {}m {}s", sign, hours, minutes, seconds);
    if (minutes != 0) return fmt::format("{}{}m {}s", sign, minutes, seconds);
    return sign + GoG(v, 4) + "s";
  }
  const char* prefix = "";
  for (const char* p : {"m", "u", "n", "p", "f", "a", "z", "y"}) {
    if (std::abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return GoG(v, 4) + prefix + "s";
}

std::string HumanizePercentage(double ratio) { return GoG(ratio * 100, 4) + "%"; }

namespace {

std::string HumanizeTimestamp(double seconds) {
  if (std::isnan(seconds) || std::isinf(seconds)) return GoG(seconds, 4);
  auto whole = static_cast<time_t>(std::floor(seconds));
  double frac = seconds - std::floor(seconds);
  std::tm tm{};
  gmtime_r(&whole, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = buf;
  auto nanos = static_cast<int64_t>(std::llround(frac * 1e9));
  if (nanos > 0) {
    std::string n = fmt::format("{:09d}", nanos);
    while (!n.empty() && n.back() == '0') n.pop_back();
    out += "." + n;
  }
  return out + " +0000 UTC";
}

std::string Print(const Val& v) {
  switch (v.kind) {
    case Val::kNil: return "<no value>";
    case Val::kBool: return v.b ? "true" : "false";
    case Val::kNum: return GoFloat(v.d);
    case Val::kStr: return v.s;
    case Val::kMap: {
      std::string out = "map[";
      if (v.map) {
        for (size_t i = 0; i < v.map->size(); ++i) {
          if (i) out += ' ';
          out += (*v.map)[i].name + ":" + (*v.map)[i].value;
        }
      }
      return out + "]";
    }
  }
  return "";
}

}  // namespace

// ---- syntax ----

struct Pipeline;

struct Operand {
  enum Kind { kField, kFunc, kString, kNumber, kBool, kPipe } kind = kString;
  std::string var;                // kField: "" for '.', else the variable ("$labels")
  std::vector<std::string> path;  // kField: field names after the variable or dot
  std::string text;               // kFunc: the name; kString: the value
  double number = 0;
  bool boolean = false;
  std::shared_ptr<Pipeline> pipe;  // kPipe
};

struct Command {
  std::vector<Operand> args;
};

struct Pipeline {
  std::string declare;  // "$x" for {{ $x := ... }}
  std::vector<Command> commands;
};

struct TemplateNode {
  enum Kind { kList, kText, kAction, kIf, kWith } kind = kList;
  std::string text;
  Pipeline pipe;
  std::vector<TemplateNode> children;  // kList: the items; kIf/kWith: [then, else]
};

namespace {

const std::vector<std::string_view>& FunctionNames() {
  static const std::vector<std::string_view> kNames = {"humanize",
                                                       "humanize1024",
                                                       "humanizeDuration",
                                                       "humanizePercentage",
                                                       "humanizeTimestamp",
                                                       "printf",
                                                       "toUpper",
                                                       "toLower",
                                                       "title",
                                                       "reReplaceAll",
                                                       "match",
                                                       "stripPort",
                                                       "stripDomain",
                                                       "safeHtml",
                                                       "eq",
                                                       "ne",
                                                       "lt",
                                                       "le",
                                                       "gt",
                                                       "ge",
                                                       "and",
                                                       "or",
                                                       "not",
                                                       "len",
                                                       "index",
                                                       "print",
                                                       "urlquery"};
  return kNames;
}

bool IsFunction(std::string_view name) {
  for (std::string_view f : FunctionNames()) {
    if (f == name) return true;
  }
  return false;
}

class ActionParser {
 public:
  ActionParser(std::string_view text, size_t base) : s_(text), base_(base) {}

  Status ParsePipeline(Pipeline& out, bool allow_declare) {
    SkipSpace();
    if (allow_declare && Peek() == '$') {
      size_t save = i_;
      std::string var = ReadVariable();
      SkipSpace();
      if (s_.substr(i_, 2) == ":=" || (Peek() == '=' && s_.substr(i_, 2) != "==")) {
        i_ += s_[i_] == ':' ? 2 : 1;
        out.declare = var;
      } else {
        i_ = save;
      }
    }
    while (true) {
      Command cmd;
      PHAROS_RETURN_IF_ERROR(ParseCommand(cmd));
      out.commands.push_back(std::move(cmd));
      SkipSpace();
      if (Peek() == '|') {
        ++i_;
        continue;
      }
      break;
    }
    return Status::Ok();
  }

  bool AtEnd() {
    SkipSpace();
    return i_ >= s_.size();
  }
  Status Error(std::string what) const {
    return InvalidArgument(fmt::format("template: at offset {}: {}", base_ + i_, what));
  }

 private:
  char Peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  static bool IsIdent(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
  std::string ReadVariable() {
    size_t start = i_++;
    while (i_ < s_.size() && IsIdent(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }
  void ReadPath(std::vector<std::string>& path) {
    while (Peek() == '.' && i_ + 1 < s_.size() && IsIdent(s_[i_ + 1])) {
      size_t start = ++i_;
      while (i_ < s_.size() && IsIdent(s_[i_])) ++i_;
      path.emplace_back(s_.substr(start, i_ - start));
    }
  }

  Status ParseCommand(Command& cmd) {
    while (true) {
      SkipSpace();
      char c = Peek();
      if (c == '\0' || c == '|' || c == ')') break;
      Operand op;
      PHAROS_RETURN_IF_ERROR(ParseOperand(op));
      cmd.args.push_back(std::move(op));
    }
    if (cmd.args.empty()) return Error("missing value for command");
    for (size_t i = 1; i < cmd.args.size(); ++i) {
      if (cmd.args[i].kind == Operand::kFunc) {
        // A function name in argument position is a call with no arguments only for
        // functions that take none; Prometheus's helpers all take arguments.
        return Error(
            fmt::format("function \"{}\" used as an argument; wrap it in ( )", cmd.args[i].text));
      }
    }
    return Status::Ok();
  }

  Status ParseOperand(Operand& op) {
    char c = Peek();
    if (c == '"') {
      op.kind = Operand::kString;
      ++i_;
      while (i_ < s_.size() && s_[i_] != '"') {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
          char e = s_[++i_];
          switch (e) {
            case 'n': op.text += '\n'; break;
            case 't': op.text += '\t'; break;
            case '\\': op.text += '\\'; break;
            case '"': op.text += '"'; break;
            default: op.text += '\\'; op.text += e;
          }
          ++i_;
          continue;
        }
        op.text += s_[i_++];
      }
      if (i_ >= s_.size()) return Error("unterminated quoted string");
      ++i_;
      return Status::Ok();
    }
    if (c == '`') {
      op.kind = Operand::kString;
      size_t end = s_.find('`', i_ + 1);
      if (end == std::string_view::npos) return Error("unterminated raw quoted string");
      op.text = std::string(s_.substr(i_ + 1, end - i_ - 1));
      i_ = end + 1;
      return Status::Ok();
    }
    if (c == '(') {
      if (++depth_ > kMaxNesting) {
        return Error(fmt::format("parentheses nest deeper than {}", kMaxNesting));
      }
      ++i_;
      op.kind = Operand::kPipe;
      op.pipe = std::make_shared<Pipeline>();
      PHAROS_RETURN_IF_ERROR(ParsePipeline(*op.pipe, false));
      --depth_;
      SkipSpace();
      if (Peek() != ')') return Error("unclosed left paren");
      ++i_;
      ReadPath(op.path);
      return Status::Ok();
    }
    if (c == '$') {
      op.kind = Operand::kField;
      op.var = ReadVariable();
      ReadPath(op.path);
      return Status::Ok();
    }
    if (c == '.') {
      op.kind = Operand::kField;
      if (i_ + 1 < s_.size() && IsIdent(s_[i_ + 1])) {
        ReadPath(op.path);
      } else {
        ++i_;
      }
      return Status::Ok();
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
      size_t start = i_++;
      while (i_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' || s_[i_] == '_' ||
              ((s_[i_] == '-' || s_[i_] == '+') && (s_[i_ - 1] == 'e' || s_[i_ - 1] == 'E'))))
        ++i_;
      std::string text(s_.substr(start, i_ - start));
      char* end = nullptr;
      op.number = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size()) return Error("bad number syntax: " + text);
      op.kind = Operand::kNumber;
      return Status::Ok();
    }
    if (IsIdent(c)) {
      size_t start = i_;
      while (i_ < s_.size() && IsIdent(s_[i_])) ++i_;
      std::string word(s_.substr(start, i_ - start));
      if (word == "true" || word == "false") {
        op.kind = Operand::kBool;
        op.boolean = word == "true";
        return Status::Ok();
      }
      if (word == "nil") return Error("nil is not a command");
      if (!IsFunction(word)) {
        return Error(fmt::format("function \"{}\" not defined", word));
      }
      op.kind = Operand::kFunc;
      op.text = word;
      return Status::Ok();
    }
    return Error(fmt::format("unexpected \"{}\" in command", c));
  }

  std::string_view s_;
  size_t base_;
  size_t i_ = 0;
  int depth_ = 0;
};

// Splits the text into text and actions, building the tree with if/with/else/end.
class TreeBuilder {
 public:
  explicit TreeBuilder(std::string_view text) : s_(text) {}

  Result<TemplateNode> Build(bool& plain) {
    TemplateNode root;
    std::string_view terminator;
    PHAROS_RETURN_IF_ERROR(ParseList(root, terminator));
    if (!terminator.empty()) {
      return InvalidArgument(fmt::format("template: unexpected {{{{{}}}}}", terminator));
    }
    plain = plain_;
    return root;
  }

 private:
  // Reads nodes into `list` until {{end}} or {{else...}}; `terminator` gets that action's
  // text ("" at the end of input).
  Status ParseList(TemplateNode& list, std::string_view& terminator) {
    while (pos_ < s_.size()) {
      size_t open = s_.find("{{", pos_);
      std::string_view text =
          s_.substr(pos_, open == std::string_view::npos ? s_.npos : open - pos_);
      if (open == std::string_view::npos) {
        AddText(list, text);
        pos_ = s_.size();
        break;
      }
      plain_ = false;
      bool trim_left = open + 2 < s_.size() && s_[open + 2] == '-' && open + 3 < s_.size() &&
                       std::isspace(static_cast<unsigned char>(s_[open + 3]));
      if (trim_left) {
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
          text.remove_suffix(1);
      }
      AddText(list, text);
      size_t body_start = open + (trim_left ? 3 : 2);
      size_t close = s_.find("}}", body_start);
      if (close == std::string_view::npos) {
        return InvalidArgument(fmt::format("template: at offset {}: unclosed action", open));
      }
      bool trim_right = close > body_start && s_[close - 1] == '-' && close - 1 > body_start &&
                        std::isspace(static_cast<unsigned char>(s_[close - 2]));
      size_t body_end = trim_right ? close - 1 : close;
      // A comment may contain "}}" only at its end: find "*/}}" for comments.
      std::string_view body = Trim(s_.substr(body_start, body_end - body_start));
      if (body.substr(0, 2) == "/*") {
        size_t end = s_.find("*/", body_start);
        if (end == std::string_view::npos) {
          return InvalidArgument(fmt::format("template: at offset {}: unclosed comment", open));
        }
        close = s_.find("}}", end);
        if (close == std::string_view::npos) {
          return InvalidArgument(fmt::format("template: at offset {}: unclosed action", open));
        }
        trim_right = close > 0 && s_[close - 1] == '-';
      }
      pos_ = close + 2;
      if (trim_right) {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      }
      if (body.substr(0, 2) == "/*") continue;
      std::string_view keyword = body.substr(0, body.find_first_of(" \t\n"));
      if (keyword == "end" || keyword == "else") {
        terminator = body;
        return Status::Ok();
      }
      if (keyword == "if" || keyword == "with") {
        TemplateNode node;
        node.kind = keyword == "if" ? TemplateNode::kIf : TemplateNode::kWith;
        PHAROS_RETURN_IF_ERROR(ParseBranches(node, body.substr(keyword.size()), body_start));
        list.children.push_back(std::move(node));
        continue;
      }
      if (keyword == "range" || keyword == "define" || keyword == "template" ||
          keyword == "block") {
        return InvalidArgument(
            fmt::format("template: at offset {}: \"{}\" is not supported", open, keyword));
      }
      TemplateNode node;
      node.kind = TemplateNode::kAction;
      ActionParser parser(body, body_start);
      PHAROS_RETURN_IF_ERROR(parser.ParsePipeline(node.pipe, true));
      if (!parser.AtEnd()) return parser.Error("unexpected text after the pipeline");
      list.children.push_back(std::move(node));
    }
    terminator = {};
    return Status::Ok();
  }

  // A block's condition and branches, one level deeper.
  Status ParseBranches(TemplateNode& node, std::string_view condition, size_t offset) {
    if (depth_ >= kMaxNesting) {
      return InvalidArgument(
          fmt::format("template: at offset {}: blocks nest deeper than {}", offset, kMaxNesting));
    }
    ++depth_;
    Status status = ParseBranchesAt(node, condition, offset);
    --depth_;
    return status;
  }

  Status ParseBranchesAt(TemplateNode& node, std::string_view condition, size_t offset) {
    ActionParser parser(condition, offset);
    PHAROS_RETURN_IF_ERROR(parser.ParsePipeline(node.pipe, true));
    if (!parser.AtEnd()) return parser.Error("unexpected text after the condition");
    node.children.resize(2);
    std::string_view terminator;
    PHAROS_RETURN_IF_ERROR(ParseList(node.children[0], terminator));
    if (terminator.empty()) return InvalidArgument("template: unexpected EOF: missing {{end}}");
    if (terminator == "end") return Status::Ok();
    std::string_view rest = Trim(terminator.substr(4));
    if (rest.empty()) {  // {{else}}
      PHAROS_RETURN_IF_ERROR(ParseList(node.children[1], terminator));
      if (terminator != "end") return InvalidArgument("template: expected {{end}} after {{else}}");
      return Status::Ok();
    }
    // {{else if ...}} / {{else with ...}}: a nested branch that shares the {{end}}.
    std::string_view keyword = rest.substr(0, rest.find_first_of(" \t\n"));
    if (keyword != "if" && keyword != "with") {
      return InvalidArgument(fmt::format("template: unexpected \"{}\" after else", keyword));
    }
    TemplateNode nested;
    nested.kind = keyword == "if" ? TemplateNode::kIf : TemplateNode::kWith;
    PHAROS_RETURN_IF_ERROR(ParseBranches(nested, rest.substr(keyword.size()), offset));
    node.children[1].children.push_back(std::move(nested));
    return Status::Ok();
  }

  static std::string_view Trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  }
  static void AddText(TemplateNode& list, std::string_view text) {
    if (text.empty()) return;
    TemplateNode t;
    t.kind = TemplateNode::kText;
    t.text = std::string(text);
    list.children.push_back(std::move(t));
  }

  std::string_view s_;
  size_t pos_ = 0;
  bool plain_ = true;
  int depth_ = 0;
};

// ---- execution ----

class Executor {
 public:
  explicit Executor(const TemplateData& data) : data_(data) {
    vars_.emplace_back("$labels", Val::Map(data.labels));
    vars_.emplace_back("$value", Val::Num(data.value));
    vars_.emplace_back("$externalLabels", Val::Map(data.external_labels));
    vars_.emplace_back("$externalURL", Val::Str(data.external_url));
    vars_.emplace_back("$", Val{});  // the root, resolved by field access
  }

  Status Run(const TemplateNode& node, std::string& out) {
    switch (node.kind) {
      case TemplateNode::kList:
        for (const TemplateNode& child : node.children) PHAROS_RETURN_IF_ERROR(Run(child, out));
        break;
      case TemplateNode::kText: out += node.text; break;
      case TemplateNode::kAction: {
        Result<Val> v = EvalPipeline(node.pipe);
        if (!v.ok()) return v.status();
        if (node.pipe.declare.empty()) out += Print(*v);
        break;
      }
      case TemplateNode::kIf:
      case TemplateNode::kWith: {
        Result<Val> v = EvalPipeline(node.pipe);
        if (!v.ok()) return v.status();
        size_t scope = vars_.size();
        bool take = Truthy(*v);
        std::optional<Val> saved_dot;
        if (take && node.kind == TemplateNode::kWith) {
          saved_dot = dot_;
          dot_ = *v;
        }
        Status s = Run(node.children[take ? 0 : 1], out);
        if (saved_dot) dot_ = *saved_dot;
        vars_.resize(scope);
        PHAROS_RETURN_IF_ERROR(s);
        break;
      }
    }
    if (out.size() > kMaxOutputBytes) {
      return ResourceExhausted(
          fmt::format("template: expansion exceeds {} bytes", kMaxOutputBytes));
    }
    return Status::Ok();
  }

 private:
  Result<Val> EvalPipeline(const Pipeline& p) {
    std::optional<Val> piped;
    for (const Command& cmd : p.commands) {
      Result<Val> v = EvalCommand(cmd, piped);
      if (!v.ok()) return v.status();
      piped = std::move(*v);
    }
    Val result = piped ? *piped : Val{};
    if (!p.declare.empty()) {
      bool found = false;
      for (auto& [name, value] : vars_) {
        if (name == p.declare) {
          value = result;
          found = true;
        }
      }
      if (!found) vars_.emplace_back(p.declare, result);
    }
    return result;
  }

  Result<Val> EvalCommand(const Command& cmd, const std::optional<Val>& piped) {
    const Operand& first = cmd.args[0];
    if (first.kind != Operand::kFunc) {
      if (cmd.args.size() > 1 || piped) {
        return InvalidArgument("template: can't give argument to non-function");
      }
      return EvalOperand(first);
    }
    std::vector<Val> args;
    for (size_t i = 1; i < cmd.args.size(); ++i) {
      Result<Val> v = EvalOperand(cmd.args[i]);
      if (!v.ok()) return v.status();
      args.push_back(std::move(*v));
    }
    if (piped) args.push_back(*piped);
    return Call(first.text, args);
  }

  Result<Val> EvalOperand(const Operand& op) {
    switch (op.kind) {
      case Operand::kString: return Val::Str(op.text);
      case Operand::kNumber: return Val::Num(op.number);
      case Operand::kBool: return Val::Bool(op.boolean);
      case Operand::kFunc: return Call(op.text, {});
      case Operand::kPipe: {
        Result<Val> v = EvalPipeline(*op.pipe);
        if (!v.ok()) return v;
        return Walk(*v, op.path, 0);
      }
      case Operand::kField: {
        if (op.var.empty() || op.var == "$") {
          if (op.path.empty()) return dot_ ? *dot_ : RootField("");
          if (dot_ && op.var.empty()) return Walk(*dot_, op.path, 0);
          Result<Val> root = RootField(op.path[0]);
          if (!root.ok()) return root;
          return Walk(*root, op.path, 1);
        }
        for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
          if (it->first == op.var) return Walk(it->second, op.path, 0);
        }
        return InvalidArgument(fmt::format("template: undefined variable \"{}\"", op.var));
      }
    }
    return Val{};
  }

  Result<Val> RootField(std::string_view name) {
    if (name == "Labels") return Val::Map(data_.labels);
    if (name == "Value") return Val::Num(data_.value);
    if (name == "ExternalLabels") return Val::Map(data_.external_labels);
    if (name == "ExternalURL") return Val::Str(data_.external_url);
    if (name.empty()) return Val::Map(data_.labels);
    return InvalidArgument(fmt::format("template: can't evaluate field {}", name));
  }

  static Result<Val> Walk(Val v, const std::vector<std::string>& path, size_t from) {
    for (size_t i = from; i < path.size(); ++i) {
      if (v.kind != Val::kMap) {
        return InvalidArgument(
            fmt::format("template: can't evaluate field {} in a non-map value", path[i]));
      }
      std::string found;
      if (v.map) {
        for (const model::Label& l : *v.map) {
          if (l.name == path[i]) found = l.value;
        }
      }
      v = Val::Str(found);
    }
    return v;
  }

  static Result<double> ToNumber(const Val& v, std::string_view fn) {
    if (v.kind == Val::kNum) return v.d;
    if (v.kind == Val::kStr) {
      char* end = nullptr;
      double d = std::strtod(v.s.c_str(), &end);
      if (!v.s.empty() && end == v.s.c_str() + v.s.size()) return d;
    }
    return InvalidArgument(
        fmt::format("template: {}: cannot convert \"{}\" to a number", fn, Print(v)));
  }

  static Result<int> Compare(const Val& a, const Val& b, std::string_view fn) {
    if (a.kind == Val::kNum && b.kind == Val::kNum) return a.d < b.d ? -1 : (a.d > b.d ? 1 : 0);
    if (a.kind == Val::kStr && b.kind == Val::kStr)
      return a.s.compare(b.s) < 0 ? -1 : (a.s == b.s ? 0 : 1);
    if (a.kind == Val::kBool && b.kind == Val::kBool) return a.b == b.b ? 0 : 1;
    return InvalidArgument(fmt::format("template: {}: incompatible types for comparison", fn));
  }

  Result<std::string> Printf(const std::vector<Val>& args) {
    if (args.empty() || args[0].kind != Val::kStr) {
      return InvalidArgument("template: printf: the first argument must be a format string");
    }
    const std::string& f = args[0].s;
    std::string out;
    size_t next = 1;
    for (size_t i = 0; i < f.size(); ++i) {
      if (f[i] != '%') {
        out += f[i];
        continue;
      }
      size_t start = i++;
      while (i < f.size() && std::strchr("+-# 0123456789.", f[i])) ++i;
      if (i >= f.size()) return InvalidArgument("template: printf: incomplete verb");
      char verb = f[i];
      if (verb == '%') {
        out += '%';
        continue;
      }
      if (next >= args.size()) {
        out += fmt::format("%!{}(MISSING)", verb);
        continue;
      }
      const Val& a = args[next++];
      std::string spec(f.substr(start, i - start));
      char buf[512];
      switch (verb) {
        case 'v':
        case 's': out += Print(a); break;
        case 'q': out += '"' + Print(a) + '"'; break;
        case 'd': {
          Result<double> d = ToNumber(a, "printf");
          if (!d.ok()) return d.status();
          std::snprintf(buf, sizeof buf, (spec + "lld").c_str(), static_cast<long long>(*d));
          out += buf;
          break;
        }
        case 'f':
        case 'e':
        case 'g':
        case 'F':
        case 'E':
        case 'G': {
          Result<double> d = ToNumber(a, "printf");
          if (!d.ok()) return d.status();
          if (std::isnan(*d) || std::isinf(*d)) {
            out += GoFloat(*d);
            break;
          }
          std::snprintf(buf, sizeof buf, (spec + verb).c_str(), *d);
          out += buf;
          break;
        }
        default: out += fmt::format("%!{}({})", verb, Print(a));
      }
    }
    return out;
  }

  Result<Val> Call(const std::string& fn, const std::vector<Val>& args) {
    auto want = [&](size_t n) -> Status {
      if (args.size() != n) {
        return InvalidArgument(fmt::format("template: wrong number of args for {}: want {} got {}",
                                           fn, n, args.size()));
      }
      return Status::Ok();
    };
    auto number_fn = [&](std::string (*f)(double)) -> Result<Val> {
      PHAROS_RETURN_IF_ERROR(want(1));
      Result<double> d = ToNumber(args[0], fn);
      if (!d.ok()) return d.status();
      return Val::Str(f(*d));
    };
    if (fn == "humanize") return number_fn(Humanize);
    if (fn == "humanize1024") return number_fn(Humanize1024);
    if (fn == "humanizeDuration") return number_fn(HumanizeDuration);
    if (fn == "humanizePercentage") return number_fn(HumanizePercentage);
    if (fn == "humanizeTimestamp") return number_fn(HumanizeTimestamp);
    if (fn == "printf") {
      Result<std::string> s = Printf(args);
      if (!s.ok()) return s.status();
      return Val::Str(*s);
    }
    if (fn == "print") {
      std::string out;
      for (const Val& a : args) out += Print(a);
      return Val::Str(out);
    }
    if (fn == "toUpper" || fn == "toLower" || fn == "title" || fn == "stripPort" ||
        fn == "stripDomain" || fn == "safeHtml" || fn == "urlquery") {
      PHAROS_RETURN_IF_ERROR(want(1));
      std::string s = Print(args[0]);
      if (fn == "toUpper") {
        for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      } else if (fn == "toLower") {
        for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      } else if (fn == "title") {
        bool start = true;
        for (char& c : s) {
          if (start && std::isalpha(static_cast<unsigned char>(c)))
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          start = !std::isalnum(static_cast<unsigned char>(c)) && c != '\'';
        }
      } else if (fn == "stripPort") {
        if (!s.empty() && s[0] == '[') {
          size_t close = s.find(']');
          if (close != std::string::npos) s = s.substr(1, close - 1);
        } else if (std::count(s.begin(), s.end(), ':') == 1) {
          s = s.substr(0, s.find(':'));
        }
      } else if (fn == "stripDomain") {
        std::string port;
        size_t colon = s.rfind(':');
        if (colon != std::string::npos && s.find(':') == colon) {
          port = s.substr(colon);
          s = s.substr(0, colon);
        }
        size_t dot = s.find('.');
        bool ip = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
        });
        if (dot != std::string::npos && !ip) s = s.substr(0, dot);
        s += port;
      } else if (fn == "urlquery") {
        s = UrlQueryEscape(s);
      }
      return Val::Str(s);
    }
    if (fn == "reReplaceAll" || fn == "match") {
      PHAROS_RETURN_IF_ERROR(want(fn == "match" ? 2 : 3));
      RE2 re(Print(args[0]), RE2::Quiet);
      if (!re.ok()) {
        return InvalidArgument(fmt::format("template: {}: bad regexp: {}", fn, re.error()));
      }
      if (fn == "match") return Val::Bool(RE2::PartialMatch(Print(args[1]), re));
      std::string text = Print(args[2]);
      // Go's ReplaceAllString expands $1 and ${1}; RE2 uses \1, so translate.
      std::string repl;
      const std::string tmpl = Print(args[1]);
      for (size_t i = 0; i < tmpl.size(); ++i) {
        if (tmpl[i] == '\\') {
          repl += "\\\\";
        } else if (tmpl[i] == '$' && i + 1 < tmpl.size()) {
          size_t j = i + 1;
          bool braced = tmpl[j] == '{';
          if (braced) ++j;
          size_t k = j;
          while (k < tmpl.size() && std::isdigit(static_cast<unsigned char>(tmpl[k]))) ++k;
          if (k > j && (!braced || (k < tmpl.size() && tmpl[k] == '}'))) {
            repl += "\\" + tmpl.substr(j, k - j);
            i = braced ? k : k - 1;
          } else {
            repl += '$';
          }
        } else {
          repl += tmpl[i];
        }
      }
      RE2::GlobalReplace(&text, re, repl);
      return Val::Str(text);
    }
    if (fn == "eq" || fn == "ne" || fn == "lt" || fn == "le" || fn == "gt" || fn == "ge") {
      if (args.size() < 2)
        return InvalidArgument(fmt::format("template: {}: missing argument", fn));
      if (fn == "eq") {
        for (size_t i = 1; i < args.size(); ++i) {
          Result<int> c = Compare(args[0], args[i], fn);
          if (!c.ok()) return c.status();
          if (*c == 0) return Val::Bool(true);
        }
        return Val::Bool(false);
      }
      PHAROS_RETURN_IF_ERROR(want(2));
      Result<int> c = Compare(args[0], args[1], fn);
      if (!c.ok()) return c.status();
      if (fn == "ne") return Val::Bool(*c != 0);
      if (fn == "lt") return Val::Bool(*c < 0);
      if (fn == "le") return Val::Bool(*c <= 0);
      if (fn == "gt") return Val::Bool(*c > 0);
      return Val::Bool(*c >= 0);
    }
    if (fn == "and" || fn == "or") {
      if (args.empty()) return InvalidArgument(fmt::format("template: {}: missing argument", fn));
      for (size_t i = 0; i + 1 < args.size(); ++i) {
        if (Truthy(args[i]) != (fn == "and")) return args[i];
      }
      return args.back();
    }
    if (fn == "not") {
      PHAROS_RETURN_IF_ERROR(want(1));
      return Val::Bool(!Truthy(args[0]));
    }
    if (fn == "len") {
      PHAROS_RETURN_IF_ERROR(want(1));
      if (args[0].kind == Val::kStr) return Val::Num(static_cast<double>(args[0].s.size()));
      if (args[0].kind == Val::kMap) {
        return Val::Num(args[0].map ? static_cast<double>(args[0].map->size()) : 0);
      }
      return InvalidArgument("template: len of a value that has no length");
    }
    if (fn == "index") {
      PHAROS_RETURN_IF_ERROR(want(2));
      return Walk(args[0], {Print(args[1])}, 0);
    }
    return InvalidArgument(fmt::format("template: function \"{}\" not defined", fn));
  }

  const TemplateData& data_;
  std::vector<std::pair<std::string, Val>> vars_;
  std::optional<Val> dot_;
};

}  // namespace

Result<Template> Template::Parse(std::string_view text) {
  Template t;
  t.text_ = std::string(text);
  TreeBuilder builder(t.text_);
  bool plain = true;
  Result<TemplateNode> root = builder.Build(plain);
  if (!root.ok()) return root.status();
  t.plain_ = plain;
  t.root_ = std::make_shared<TemplateNode>(std::move(*root));
  return t;
}

Result<std::string> Template::Execute(const TemplateData& data) const {
  if (plain_) return text_;
  std::string out;
  Executor ex(data);
  Status s = ex.Run(*root_, out);
  if (!s.ok()) return s;
  return out;
}

}  // namespace pharos::rules

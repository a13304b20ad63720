// The LogQL subset the log store answers: a stream selector and line filters.
#include <re2/re2.h>

#include <fmt/format.h>

#include "logs/logs.h"
#include "promql/promql.h"

namespace pharos::logs {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A double-quoted string with Go escapes, or a raw `backquoted` string, at `pos`.
Result<std::string> ReadString(std::string_view text, size_t& pos) {
  if (pos >= text.size()) return InvalidArgument("expected a string at the end of the query");
  char quote = text[pos];
  if (quote != '"' && quote != '`') {
    return InvalidArgument(fmt::format("parse error at {}: expected a quoted string, found \"{}\"",
                                       pos + 1, text.substr(pos, 16)));
  }
  size_t start = pos++;
  std::string out;
  while (pos < text.size() && text[pos] != quote) {
    char c = text[pos++];
    if (quote == '"' && c == '\\') {
      if (pos >= text.size()) break;
      char e = text[pos++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '\\': out += '\\'; break;
        case '"': out += '"'; break;
        default:  // keep unknown escapes for regexes (\d, \.)
          out += '\\';
          out += e;
      }
    } else {
      out += c;
    }
  }
  if (pos >= text.size())
    return InvalidArgument(fmt::format("parse error at {}: unterminated string", start + 1));
  ++pos;
  return out;
}

}  // namespace

bool LineFilter::Matches(std::string_view line) const {
  switch (op) {
    case Op::kContains: return line.find(text) != std::string_view::npos;
    case Op::kNotContains: return line.find(text) == std::string_view::npos;
    case Op::kRegex: return RE2::PartialMatch(line, *re);
    case Op::kNotRegex: return !RE2::PartialMatch(line, *re);
  }
  return false;
}

Result<LogQuery> ParseLogQuery(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size() && IsSpace(text[pos])) ++pos;
  if (pos >= text.size() || text[pos] != '{')
    return InvalidArgument("parse error at 1: a log query starts with a stream selector {...}");
  // The selector ends at the first '}' outside a string.
  size_t end = pos + 1;
  char in_string = 0;
  for (; end < text.size(); ++end) {
    char c = text[end];
    if (in_string) {
      if (c == '\\' && in_string == '"') {
        ++end;
      } else if (c == in_string) {
        in_string = 0;
      }
    } else if (c == '"' || c == '`' || c == '\'') {
      in_string = c;
    } else if (c == '}') {
      break;
    }
  }
  if (end >= text.size()) return InvalidArgument("parse error: unclosed stream selector");
  LogQuery q;
  Result<std::vector<model::Matcher>> selector =
      promql::ParseSeriesSelector(text.substr(pos, end + 1 - pos));
  if (!selector.ok()) return selector.status();
  q.selector = std::move(selector).value();
  pos = end + 1;
  while (true) {
    while (pos < text.size() && IsSpace(text[pos])) ++pos;
    if (pos >= text.size()) break;
    std::string_view op = text.substr(pos, 2);
    LineFilter f;
    if (op == "|=") {
      f.op = LineFilter::Op::kContains;
    } else if (op == "!=") {
      f.op = LineFilter::Op::kNotContains;
    } else if (op == "|~") {
      f.op = LineFilter::Op::kRegex;
    } else if (op == "!~") {
      f.op = LineFilter::Op::kNotRegex;
    } else {
      return InvalidArgument(fmt::format(
          "unsupported LogQL at {}: \"{}\" (Pharos answers stream selectors with line filters "
          "|= != |~ !~ so far; parsers, label filters, formatting and metric queries are not "
          "implemented yet)",
          pos + 1, text.substr(pos, 24)));
    }
    pos += 2;
    while (pos < text.size() && IsSpace(text[pos])) ++pos;
    Result<std::string> s = ReadString(text, pos);
    if (!s.ok()) return s.status();
    f.text = std::move(s).value();
    if (f.op == LineFilter::Op::kRegex || f.op == LineFilter::Op::kNotRegex) {
      RE2::Options options;
      options.set_log_errors(false);
      options.set_max_mem(8 << 20);  // a bounded automaton: a regex bomb is refused, not run
      auto re = std::make_shared<RE2>(f.text, options);
      if (!re->ok()) {
        return InvalidArgument(
            fmt::format("invalid regular expression \"{}\": {}", f.text, re->error()));
      }
      f.re = std::move(re);
    }
    q.filters.push_back(std::move(f));
  }
  return q;
}

}  // namespace pharos::logs

// promql/lexer.h (internal): PromQL tokens. The lexer turns the whole query into tokens
// up front; the parser decides from context whether an identifier is a keyword, a
// function, a metric or a label name, as Prometheus's grammar does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "promql/promql.h"

namespace pharos::promql {

enum class Tok {
  kEof,
  kIdentifier,  // names, keywords; may contain ':' (metric names)
  kNumber,
  kDuration,  // 5m, 1h30m
  kString,    // value holds the unquoted text
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kLBracket,
  kRBracket,
  kComma,
  kColon,
  kAt,
  kAssign,    // =
  kNeq,       // !=
  kRegexEq,   // =~
  kRegexNeq,  // !~
  kEqlEql,    // ==
  kLss,
  kGtr,
  kLte,
  kGte,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
};

struct Token {
  Tok kind = Tok::kEof;
  int pos = 0;  // byte offset
  int end = 0;
  std::string text;  // raw text; for strings, the unquoted value
};

/// Tokens of `query`, ending with kEof. Errors carry Prometheus's "line:col: parse error".
Result<std::vector<Token>> Lex(std::string_view query);

/// How a token is named in "unexpected ..." messages, e.g. "<op:+>", "identifier \"x\"".
std::string DescribeToken(const Token& token);

/// "1:5: parse error: <message>" for a byte offset in `query`.
Status ParseError(std::string_view query, int offset, std::string_view message);

}  // namespace pharos::promql

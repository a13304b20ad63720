// Internal to traces: TraceQL, Tempo's trace query language (the subset docs/traceql-compat.md
// lists): spanset filters on intrinsics and span, resource and unscoped attributes;
// spanset operators && || > >> ~; a pipeline of count(), avg(), min(), max(), sum()
// comparisons and select(). Parse errors name the position and what was expected.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/model.h"

namespace re2 {
class RE2;
}

namespace pharos::traces::traceql {

enum class Intrinsic {
  kNone,  // an attribute
  kName,
  kStatus,
  kStatusMessage,
  kDuration,
  kKind,
  kRootName,
  kRootServiceName,
  kTraceDuration,
};

struct Field {
  enum class Scope { kSpan, kResource, kAny, kIntrinsic };
  Scope scope = Scope::kAny;
  std::string name;  // the attribute's key
  Intrinsic intrinsic = Intrinsic::kNone;
  std::string ToString() const;
};

struct Static {
  enum class Type { kString, kNumber, kDuration, kBool, kStatus, kKind, kNil };
  Type type = Type::kNil;
  std::string s;     // string
  double n = 0;      // number; duration in nanoseconds
  bool b = false;    // bool
  int32_t code = 0;  // status (0 unset, 1 ok, 2 error) or kind (SpanKind)
};

enum class Op { kEq, kNe, kGt, kGe, kLt, kLe, kRegex, kNotRegex };

/// A condition inside { }.
struct Expr {
  enum class Kind { kTrue, kCompare, kAnd, kOr, kNot };
  Kind kind = Kind::kTrue;
  Field field;
  Op op = Op::kEq;
  Static value;
  std::shared_ptr<const re2::RE2> re;
  std::unique_ptr<Expr> lhs, rhs;
};

/// Spansets and the operators between them.
struct Spanset {
  enum class Kind { kFilter, kAnd, kOr, kChild, kDescendant, kSibling };
  Kind kind = Kind::kFilter;
  std::unique_ptr<Expr> filter;
  std::unique_ptr<Spanset> lhs, rhs;
};

struct Stage {
  enum class Kind { kCount, kAvg, kMin, kMax, kSum, kSelect };
  Kind kind = Kind::kCount;
  Field field;                // avg, min, max, sum
  Op op = Op::kGt;            // count, avg, ...
  Static value;               // count, avg, ...
  std::vector<Field> fields;  // select
};

struct Query {
  std::unique_ptr<Spanset> spansets;
  std::vector<Stage> stages;
};

Result<Query> Parse(std::string_view text);

/// One trace as TraceQL reads it: its spans with their resources (parents by span id).
struct Trace {
  struct Span {
    const model::Span* span;
    const model::Resource* resource;
    int parent = -1;  // index in spans, or -1
  };
  std::vector<Span> spans;
  int root = -1;  // the span without a parent (the earliest of several)
  int64_t start_ns = 0, end_ns = 0;
  static Trace From(std::span<const model::ResourceSpans> groups);
};

/// The spans (indices into trace.spans, sorted) the query yields on the trace: empty when
/// the trace does not match.
std::vector<size_t> Evaluate(const Query& query, const Trace& trace);

/// Whether one span matches any spanset filter of the query (a superset of the spans of
/// matching traces: a trace matches only if one of its spans does).
bool AnyFilterMatches(const Query& query, const model::Resource& resource, const model::Span& span);

/// The value of a field on a span (kNil when absent), for select() and the answers.
Static FieldValue(const Field& field, const Trace& trace, size_t span);

/// The fields a query reads (for the attributes shown with each matched span).
std::vector<Field> ReferencedFields(const Query& query);

}  // namespace pharos::traces::traceql

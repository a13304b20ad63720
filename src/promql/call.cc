// Function calls over instant vectors and scalars; range functions are in range_functions.cc.
#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <unordered_map>

#include "common/regexp.h"
#include "promql/eval.h"

namespace pharos::promql {
namespace {

bool IsLeValid(const std::string* le, double& bound) {
  if (le == nullptr || le->empty()) return false;
  const std::string& s = *le;
  std::string l = s;
  for (char& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (l == "+inf" || l == "inf") {
    bound = INFINITY;
    return true;
  }
  if (l == "-inf") {
    bound = -INFINITY;
    return true;
  }
  if (l == "nan") {
    bound = NAN;
    return true;
  }
  char* end = nullptr;
  bound = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

struct Bucket {
  double upper;
  double count;
};

// Sorts buckets by bound and adds up those with the same bound, in place. False when there
// is no +Inf bucket (the histogram is unusable).
bool SortAndCoalesce(std::vector<Bucket>& buckets) {
  std::sort(buckets.begin(), buckets.end(),
            [](const Bucket& a, const Bucket& b) { return a.upper < b.upper; });
  if (buckets.empty() || !std::isinf(buckets.back().upper) || buckets.back().upper < 0) {
    return false;
  }
  size_t n = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (n > 0 && buckets[n - 1].upper == buckets[i].upper) {
      buckets[n - 1].count += buckets[i].count;
    } else {
      buckets[n++] = buckets[i];
    }
  }
  buckets.resize(n);
  return true;
}

// Prometheus's BucketQuantile for classic histograms. `forced` reports a monotonicity fix.
double BucketQuantile(double q, std::vector<Bucket>& buckets, bool& forced) {
  forced = false;
  if (std::isnan(q)) return NAN;
  if (q < 0) return -INFINITY;
  if (q > 1) return INFINITY;
  if (!SortAndCoalesce(buckets)) return NAN;
  // Monotonicity, ignoring tiny floating point differences.
  double prev = buckets[0].count;
  for (size_t i = 1; i < buckets.size(); ++i) {
    double cur = buckets[i].count;
    if (cur == prev) continue;
    if (std::abs(cur - prev) <= 1e-12 * std::max(std::abs(cur), std::abs(prev))) {
      buckets[i].count = prev;
      continue;
    }
    if (cur < prev) {
      buckets[i].count = prev;
      forced = true;
      continue;
    }
    prev = cur;
  }
  if (buckets.size() < 2) return NAN;
  double observations = buckets.back().count;
  if (observations == 0) return NAN;
  double rank = q * observations;
  size_t b = 0;
  while (b < buckets.size() - 1 && buckets[b].count < rank) ++b;
  if (b == buckets.size() - 1) return buckets[buckets.size() - 2].upper;
  if (b == 0 && buckets[0].upper <= 0) return buckets[0].upper;
  double start = 0;
  double end = buckets[b].upper;
  double count = buckets[b].count;
  if (b > 0) {
    start = buckets[b - 1].upper;
    count -= buckets[b - 1].count;
    rank -= buckets[b - 1].count;
  }
  return start + (end - start) * (rank / count);
}

// The share of observations between lower and upper, interpolating linearly inside
// finite buckets (the first bucket starts at 0 when its bound is positive) and not at all
// inside buckets of infinite width.
double BucketFraction(double lower, double upper, std::vector<Bucket>& buckets) {
  if (!SortAndCoalesce(buckets)) return NAN;
  const std::vector<Bucket>& merged = buckets;
  double total = merged.back().count;
  if (total == 0 || std::isnan(lower) || std::isnan(upper)) return NAN;
  if (lower >= upper) return 0;
  // A bucket of infinite width contributes nothing: a bound inside it moves to the
  // bucket's finite edge.
  auto rank_at = [&](double x) {
    if (x == -INFINITY) return 0.0;
    if (x == INFINITY) return total;
    double prev_count = 0;
    for (size_t i = 0; i < merged.size(); ++i) {
      double hi = merged[i].upper;
      double lo = i > 0 ? merged[i - 1].upper : (hi > 0 ? 0.0 : -INFINITY);
      if (x >= hi) {
        prev_count = merged[i].count;
        continue;
      }
      if (x <= lo) return prev_count;
      if (std::isinf(lo)) return merged[i].count;
      if (std::isinf(hi)) return prev_count;
      return prev_count + (merged[i].count - prev_count) * (x - lo) / (hi - lo);
    }
    return total;
  };
  return (rank_at(upper) - rank_at(lower)) / total;
}

// "0.25", "1.0": how histogram_quantiles labels each quantile.
std::string QuantileLabel(double q) {
  std::string s = FormatFloat(q);
  if (s.find_first_of(".eENI") == std::string::npos) s += ".0";
  return s;
}

// Go's math.Max / math.Min: NaN wins.
double GoMax(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return NAN;
  return a > b ? a : b;
}
double GoMin(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return NAN;
  return a < b ? a : b;
}

// Natural order, as sort_by_label uses: digit runs compare as numbers ("2" < "10").
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t ei = i, ej = j;
      while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
      while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
      std::string_view na(a.data() + i, ei - i), nb(b.data() + j, ej - j);
      while (na.size() > 1 && na[0] == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb[0] == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ei;
      j = ej;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

double DatePart(FuncId id, double v) {
  if (std::isnan(v) || std::isinf(v)) return NAN;
  time_t secs = static_cast<time_t>(std::floor(v));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  switch (id) {
    case FuncId::kDayOfMonth: return tm.tm_mday;
    case FuncId::kDayOfWeek: return tm.tm_wday;
    case FuncId::kDayOfYear: return tm.tm_yday + 1;
    case FuncId::kHour: return tm.tm_hour;
    case FuncId::kMinute: return tm.tm_min;
    case FuncId::kMonth: return tm.tm_mon + 1;
    case FuncId::kYear: return tm.tm_year + 1900;
    case FuncId::kDaysInMonth: {
      static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      int y = tm.tm_year + 1900;
      bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
      return tm.tm_mon == 1 && leap ? 29 : kDays[tm.tm_mon];
    }
    default: return NAN;
  }
}

double Math(FuncId id, double x) {
  switch (id) {
    case FuncId::kAbs: return std::abs(x);
    case FuncId::kCeil: return std::ceil(x);
    case FuncId::kFloor: return std::floor(x);
    case FuncId::kExp: return std::exp(x);
    case FuncId::kSqrt: return std::sqrt(x);
    case FuncId::kLn: return std::log(x);
    case FuncId::kLog2: return std::log2(x);
    case FuncId::kLog10: return std::log10(x);
    case FuncId::kSgn: return x > 0 ? 1.0 : x < 0 ? -1.0 : x;
    case FuncId::kAcos: return std::acos(x);
    case FuncId::kAcosh: return std::acosh(x);
    case FuncId::kAsin: return std::asin(x);
    case FuncId::kAsinh: return std::asinh(x);
    case FuncId::kAtan: return std::atan(x);
    case FuncId::kAtanh: return std::atanh(x);
    case FuncId::kCos: return std::cos(x);
    case FuncId::kCosh: return std::cosh(x);
    case FuncId::kSin: return std::sin(x);
    case FuncId::kSinh: return std::sinh(x);
    case FuncId::kTan: return std::tan(x);
    case FuncId::kTanh: return std::tanh(x);
    case FuncId::kDeg: return x * 180 / M_PI;
    case FuncId::kRad: return x * M_PI / 180;
    default: return NAN;
  }
}

const Expr* Unparen(const Expr* e) {
  while (e->kind == NodeKind::kParen) e = static_cast<const ParenExpr*>(e)->expr.get();
  return e;
}

}  // namespace

Result<Value> Evaluator::EvalClassicHistogram(const CallExpr& c, std::vector<Value>& args) {
  FuncId id = c.func->id;
  Value out;
  out.type = ValueType::kVector;
  size_t vec_arg = id == FuncId::kHistogramQuantile ? 1 : id == FuncId::kHistogramFraction ? 2 : 0;
  std::vector<std::vector<double>> phis;  // one list per output quantile
  std::vector<std::string> phi_labels;
  if (id == FuncId::kHistogramQuantile) {
    phis.push_back(args[0].scalar);
  } else if (id == FuncId::kHistogramQuantiles) {
    for (size_t i = 2; i < args.size(); ++i) {
      phis.push_back(args[i].scalar);
      phi_labels.push_back(QuantileLabel(args[i].scalar.empty() ? NAN : args[i].scalar[0]));
    }
  }
  for (size_t k = 0; k < phis.size(); ++k) {
    const Expr& at = id == FuncId::kHistogramQuantile ? *c.args[0] : *c.args[2 + k];
    for (double q : phis[k]) {
      if (std::isnan(q) || q < 0 || q > 1) {
        ctx_.Warn(at,
                  fmt::format("quantile value should be between 0 and 1, got {}", FormatFloat(q)));
        break;
      }
    }
  }
  // Buckets grouped by their labels without `le` (the name is kept until the end, so that
  // two histograms that differ only in name still collide as in Prometheus).
  struct Group {
    model::Labels labels;
    std::vector<std::pair<double, const Series*>> buckets;
  };
  std::unordered_map<std::string, size_t> index;
  std::vector<Group> groups;
  for (const Series& s : args[vec_arg].vec) {
    double bound;
    const std::string* le = GetLabel(s.labels, "le");
    if (!IsLeValid(le, bound)) {
      ctx_.Warn(*c.args[vec_arg], fmt::format("bucket label \"le\" is missing or has a malformed "
                                              "value of \"{}\" for metric name \"{}\"",
                                              le ? *le : "", MetricName(s.labels)));
      continue;
    }
    model::Labels labels = s.labels;
    SetLabel(labels, "le", "");
    auto [it, inserted] = index.emplace(LabelsKey(labels), groups.size());
    if (inserted) groups.push_back({std::move(labels), {}});
    groups[it->second].buckets.emplace_back(bound, &s);
  }
  std::vector<Bucket> buckets;
  size_t outputs = id == FuncId::kHistogramFraction ? 1 : phis.size();
  for (Group& g : groups) {
    for (size_t k = 0; k < outputs; ++k) {
      model::Labels labels = g.labels;
      if (id == FuncId::kHistogramQuantiles) SetLabel(labels, args[1].str, phi_labels[k]);
      Series o = MakeSeries(std::move(labels), n_);
      o.drop_name = true;
      bool any = false;
      for (int i = 0; i < n_; ++i) {
        buckets.clear();
        for (const auto& [bound, s] : g.buckets) {
          if (s->has[i]) buckets.push_back({bound, s->v[i]});
        }
        if (buckets.empty()) continue;
        if (id == FuncId::kHistogramFraction) {
          o.v[i] = BucketFraction(args[0].scalar[i], args[1].scalar[i], buckets);
        } else {
          bool forced;
          o.v[i] = BucketQuantile(phis[k][i], buckets, forced);
          if (forced) {
            ctx_.Info(*c.args[vec_arg],
                      fmt::format("input to histogram_quantile needed to be fixed for "
                                  "monotonicity (see https://prometheus.io/docs/prometheus/"
                                  "latest/querying/functions/#histogram_quantile) for metric "
                                  "name \"{}\"",
                                  MetricName(g.labels)));
          }
        }
        o.has[i] = 1;
        any = true;
      }
      if (any) out.vec.push_back(std::move(o));
    }
  }
  return out;
}

Result<Value> Evaluator::EvalCall(const CallExpr& c, const SeriesSink* sink) {
  FuncId id = c.func->id;
  if (IsRangeFunction(id)) return EvalRangeCall(c, sink);
  Value out;
  out.type = c.func->ret;

  switch (id) {
    case FuncId::kTime:
      for (int i = 0; i < n_; ++i) out.scalar.push_back(static_cast<double>(Ts(i)) / 1000.0);
      return out;
    case FuncId::kPi: out.scalar.assign(n_, M_PI); return out;
    case FuncId::kMinOf:
    case FuncId::kMaxOf: {
      Result<Value> a = Eval(*c.args[0]);
      if (!a.ok()) return a;
      Result<Value> b = Eval(*c.args[1]);
      if (!b.ok()) return b;
      out.scalar.resize(n_);
      for (int i = 0; i < n_; ++i) {
        double x = a->scalar[i], y = b->scalar[i];
        out.scalar[i] = id == FuncId::kMinOf ? GoMin(x, y) : GoMax(x, y);
      }
      return out;
    }
    case FuncId::kStep:
      out.scalar.assign(n_, static_cast<double>(ctx_.query_step) / 1000.0);
      return out;
    case FuncId::kRange:
      out.scalar.assign(n_, static_cast<double>(ctx_.query_end - ctx_.query_start) / 1000.0);
      return out;
    case FuncId::kStart:
      out.scalar.assign(n_, static_cast<double>(ctx_.query_start) / 1000.0);
      return out;
    case FuncId::kEnd:
      out.scalar.assign(n_, static_cast<double>(ctx_.query_end) / 1000.0);
      return out;
    case FuncId::kTimestamp: {
      const Expr* arg = Unparen(c.args[0].get());
      Result<Value> v = arg->kind == NodeKind::kVectorSelector
                            ? EvalVectorSelector(*static_cast<const VectorSelector*>(arg), true)
                            : Eval(*arg);
      if (!v.ok()) return v;
      for (Series& s : v->vec) {
        if (arg->kind != NodeKind::kVectorSelector) {
          for (int i = 0; i < n_; ++i) s.v[i] = static_cast<double>(Ts(i)) / 1000.0;
        }
        s.drop_name = true;
      }
      return v;
    }
    case FuncId::kInfo: return EvalInfo(c);
    case FuncId::kHistogramCount:
    case FuncId::kHistogramSum:
    case FuncId::kHistogramAvg:
    case FuncId::kHistogramStddev:
    case FuncId::kHistogramStdvar: {
      // These read native histograms, which the store does not keep yet: over float series
      // they select nothing, as in Prometheus.
      for (const ExprPtr& a : c.args) {
        Result<Value> v = Eval(*a);
        if (!v.ok()) return v;
      }
      return out;
    }
    default: break;
  }

  std::vector<Value> args;
  for (const ExprPtr& a : c.args) {
    Result<Value> v = Eval(*a);
    if (!v.ok()) return v;
    args.push_back(std::move(*v));
  }
  PHAROS_RETURN_IF_ERROR(ctx_.CheckDeadline());

  switch (id) {
    case FuncId::kVector: {
      Series s = MakeSeries({}, n_);
      s.v = args[0].scalar;
      s.has.assign(n_, 1);
      out.vec.push_back(std::move(s));
      return out;
    }
    case FuncId::kScalar: {
      out.scalar.assign(n_, NAN);
      for (int i = 0; i < n_; ++i) {
        int found = 0;
        for (const Series& s : args[0].vec) {
          if (s.has[i]) {
            ++found;
            out.scalar[i] = s.v[i];
          }
        }
        if (found != 1) out.scalar[i] = NAN;
      }
      return out;
    }
    case FuncId::kAbsent: {
      Series s = MakeSeries(AbsentLabelsFor(c.args[0].get()), n_);
      bool any = false;
      for (int i = 0; i < n_; ++i) {
        bool present = false;
        for (const Series& in : args[0].vec) present |= in.has[i] != 0;
        if (!present) {
          s.v[i] = 1;
          s.has[i] = 1;
          any = true;
        }
      }
      if (any) out.vec.push_back(std::move(s));
      return out;
    }
    case FuncId::kSort:
    case FuncId::kSortDesc:
    case FuncId::kSortByLabel:
    case FuncId::kSortByLabelDesc: {
      out = std::move(args[0]);
      if (n_ > 1) {
        ctx_.Warn(c,
                  "sort is ineffective for range queries since results are always ordered "
                  "by labels");
        return out;
      }
      bool desc = id == FuncId::kSortDesc || id == FuncId::kSortByLabelDesc;
      if (id == FuncId::kSort || id == FuncId::kSortDesc) {
        std::stable_sort(out.vec.begin(), out.vec.end(), [&](const Series& a, const Series& b) {
          double x = a.v[0], y = b.v[0];
          if (std::isnan(x)) return false;
          if (std::isnan(y)) return true;
          return desc ? x > y : x < y;
        });
        return out;
      }
      std::vector<std::string> by;
      for (size_t i = 1; i < args.size(); ++i) by.push_back(args[i].str);
      std::stable_sort(out.vec.begin(), out.vec.end(), [&](const Series& a, const Series& b) {
        for (const std::string& l : by) {
          const std::string* x = GetLabel(a.labels, l);
          const std::string* y = GetLabel(b.labels, l);
          std::string xs = x ? *x : "";
          std::string ys = y ? *y : "";
          if (xs != ys) return desc ? NaturalLess(ys, xs) : NaturalLess(xs, ys);
        }
        return desc ? LabelsKey(b.labels) < LabelsKey(a.labels)
                    : LabelsKey(a.labels) < LabelsKey(b.labels);
      });
      return out;
    }
    case FuncId::kLabelReplace: {
      const std::string& dst = args[1].str;
      const std::string& repl = args[2].str;
      const std::string& src = args[3].str;
      const std::string& regex = args[4].str;
      RE2::Options opts;
      opts.set_log_errors(false);
      opts.set_dot_nl(true);
      RE2 re("^(?:" + regex + ")$", opts);
      if (!re.ok()) {
        return FailedPrecondition(
            fmt::format("invalid regular expression in label_replace(): {}", regex));
      }
      if (!ValidLabelName(dst)) {
        return FailedPrecondition(
            fmt::format("invalid destination label name in label_replace(): {}", dst));
      }
      out = std::move(args[0]);
      std::vector<re2::StringPiece> groups(re.NumberOfCapturingGroups() + 1);
      for (Series& s : out.vec) {
        const std::string* v = GetLabel(s.labels, src);
        std::string value = v ? *v : "";
        if (re.Match(value, 0, value.size(), RE2::UNANCHORED, groups.data(),
                     static_cast<int>(groups.size()))) {
          std::string res = ExpandRegexTemplate(repl, re, groups);
          SetLabel(s.labels, dst, res);
          if (dst == "__name__") s.drop_name = false;
        }
      }
      return out;
    }
    case FuncId::kLabelJoin: {
      const std::string& dst = args[1].str;
      const std::string& sep = args[2].str;
      if (!ValidLabelName(dst)) {
        return FailedPrecondition(
            fmt::format("invalid destination label name in label_join(): {}", dst));
      }
      for (size_t i = 3; i < args.size(); ++i) {
        if (!ValidLabelName(args[i].str)) {
          return FailedPrecondition(
              fmt::format("invalid source label name in label_join(): {}", args[i].str));
        }
      }
      out = std::move(args[0]);
      for (Series& s : out.vec) {
        std::string joined;
        for (size_t i = 3; i < args.size(); ++i) {
          if (i > 3) joined += sep;
          const std::string* v = GetLabel(s.labels, args[i].str);
          if (v) joined += *v;
        }
        SetLabel(s.labels, dst, joined);
        if (dst == "__name__") s.drop_name = false;
      }
      return out;
    }
    case FuncId::kHistogramQuantile:
    case FuncId::kHistogramQuantiles:
    case FuncId::kHistogramFraction: return EvalClassicHistogram(c, args);
    default: break;
  }

  // Element-wise functions of one vector (and scalar parameters).
  Value in;
  if (args.empty()) {
    // Date functions default to vector(time()).
    Series s = MakeSeries({}, n_);
    for (int i = 0; i < n_; ++i) {
      s.v[i] = static_cast<double>(Ts(i)) / 1000.0;
      s.has[i] = 1;
    }
    in.type = ValueType::kVector;
    in.vec.push_back(std::move(s));
  } else {
    in = std::move(args[0]);
  }
  out.vec = std::move(in.vec);
  if (id == FuncId::kClamp) {
    // An empty result wherever max < min.
    for (Series& s : out.vec) {
      for (int i = 0; i < n_; ++i) {
        if (args[2].scalar[i] < args[1].scalar[i]) s.has[i] = 0;
      }
    }
  }
  for (Series& s : out.vec) {
    s.drop_name = true;
    for (int i = 0; i < n_; ++i) {
      if (!s.has[i]) continue;
      double& x = s.v[i];
      switch (id) {
        case FuncId::kClamp: x = GoMax(args[1].scalar[i], GoMin(args[2].scalar[i], x)); break;
        case FuncId::kClampMin: x = GoMax(args[1].scalar[i], x); break;
        case FuncId::kClampMax: x = GoMin(args[1].scalar[i], x); break;
        case FuncId::kRound: {
          double to = args.size() > 1 ? args[1].scalar[i] : 1;
          double inv = 1.0 / to;
          x = std::floor(x * inv + 0.5) / inv;
          break;
        }
        case FuncId::kDayOfMonth:
        case FuncId::kDayOfWeek:
        case FuncId::kDayOfYear:
        case FuncId::kDaysInMonth:
        case FuncId::kHour:
        case FuncId::kMinute:
        case FuncId::kMonth:
        case FuncId::kYear: x = DatePart(id, x); break;
        default: x = Math(id, x);
      }
    }
  }
  DropEmptySeries(out.vec);
  return out;
}

}  // namespace pharos::promql

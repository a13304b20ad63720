#include "promql/functions.h"

#include <string>
#include <unordered_map>

namespace pharos::promql {
namespace {

constexpr ValueType S = ValueType::kScalar;
constexpr ValueType V = ValueType::kVector;
constexpr ValueType M = ValueType::kMatrix;
constexpr ValueType Str = ValueType::kString;

const std::vector<FunctionDef>& Table() {
  static const std::vector<FunctionDef> table = {
      {"abs", FuncId::kAbs, {V}, 0, V},
      {"absent", FuncId::kAbsent, {V}, 0, V},
      {"absent_over_time", FuncId::kAbsentOverTime, {M}, 0, V},
      {"acos", FuncId::kAcos, {V}, 0, V},
      {"acosh", FuncId::kAcosh, {V}, 0, V},
      {"asin", FuncId::kAsin, {V}, 0, V},
      {"asinh", FuncId::kAsinh, {V}, 0, V},
      {"atan", FuncId::kAtan, {V}, 0, V},
      {"atanh", FuncId::kAtanh, {V}, 0, V},
      {"avg_over_time", FuncId::kAvgOverTime, {M}, 0, V},
      {"ceil", FuncId::kCeil, {V}, 0, V},
      {"changes", FuncId::kChanges, {M}, 0, V},
      {"clamp", FuncId::kClamp, {V, S, S}, 0, V},
      {"clamp_max", FuncId::kClampMax, {V, S}, 0, V},
      {"clamp_min", FuncId::kClampMin, {V, S}, 0, V},
      {"cos", FuncId::kCos, {V}, 0, V},
      {"cosh", FuncId::kCosh, {V}, 0, V},
      {"count_over_time", FuncId::kCountOverTime, {M}, 0, V},
      {"days_in_month", FuncId::kDaysInMonth, {V}, 1, V},
      {"day_of_month", FuncId::kDayOfMonth, {V}, 1, V},
      {"day_of_week", FuncId::kDayOfWeek, {V}, 1, V},
      {"day_of_year", FuncId::kDayOfYear, {V}, 1, V},
      {"deg", FuncId::kDeg, {V}, 0, V},
      {"delta", FuncId::kDelta, {M}, 0, V},
      {"deriv", FuncId::kDeriv, {M}, 0, V},
      {"exp", FuncId::kExp, {V}, 0, V},
      {"floor", FuncId::kFloor, {V}, 0, V},
      {"histogram_avg", FuncId::kHistogramAvg, {V}, 0, V},
      {"histogram_count", FuncId::kHistogramCount, {V}, 0, V},
      {"histogram_fraction", FuncId::kHistogramFraction, {S, S, V}, 0, V},
      {"histogram_quantile", FuncId::kHistogramQuantile, {S, V}, 0, V},
      {"histogram_quantiles", FuncId::kHistogramQuantiles, {V, Str, S}, -1, V, true},
      {"histogram_sum", FuncId::kHistogramSum, {V}, 0, V},
      {"histogram_stddev", FuncId::kHistogramStddev, {V}, 0, V},
      {"histogram_stdvar", FuncId::kHistogramStdvar, {V}, 0, V},
      {"double_exponential_smoothing", FuncId::kDoubleExponentialSmoothing, {M, S, S}, 0, V, true},
      {"hour", FuncId::kHour, {V}, 1, V},
      {"idelta", FuncId::kIdelta, {M}, 0, V},
      {"increase", FuncId::kIncrease, {M}, 0, V},
      {"info", FuncId::kInfo, {V, V}, 1, V, true},
      {"irate", FuncId::kIrate, {M}, 0, V},
      {"label_replace", FuncId::kLabelReplace, {V, Str, Str, Str, Str}, 0, V},
      {"label_join", FuncId::kLabelJoin, {V, Str, Str}, -1, V},
      {"last_over_time", FuncId::kLastOverTime, {M}, 0, V},
      {"first_over_time", FuncId::kFirstOverTime, {M}, 0, V, true},
      {"ln", FuncId::kLn, {V}, 0, V},
      {"log10", FuncId::kLog10, {V}, 0, V},
      {"log2", FuncId::kLog2, {V}, 0, V},
      {"mad_over_time", FuncId::kMadOverTime, {M}, 0, V, true},
      {"max_over_time", FuncId::kMaxOverTime, {M}, 0, V},
      {"min_over_time", FuncId::kMinOverTime, {M}, 0, V},
      {"ts_of_min_over_time", FuncId::kTsOfMinOverTime, {M}, 0, V, true},
      {"ts_of_max_over_time", FuncId::kTsOfMaxOverTime, {M}, 0, V, true},
      {"ts_of_last_over_time", FuncId::kTsOfLastOverTime, {M}, 0, V, true},
      {"ts_of_first_over_time", FuncId::kTsOfFirstOverTime, {M}, 0, V, true},
      {"minute", FuncId::kMinute, {V}, 1, V},
      {"month", FuncId::kMonth, {V}, 1, V},
      {"pi", FuncId::kPi, {}, 0, S},
      {"step", FuncId::kStep, {}, 0, S, true},
      {"min_of", FuncId::kMinOf, {S, S}, 0, S, true},
      {"max_of", FuncId::kMaxOf, {S, S}, 0, S, true},
      {"range", FuncId::kRange, {}, 0, S, true},
      {"start", FuncId::kStart, {}, 0, S, true},
      {"end", FuncId::kEnd, {}, 0, S, true},
      {"predict_linear", FuncId::kPredictLinear, {M, S}, 0, V},
      {"present_over_time", FuncId::kPresentOverTime, {M}, 0, V},
      {"quantile_over_time", FuncId::kQuantileOverTime, {S, M}, 0, V},
      {"rad", FuncId::kRad, {V}, 0, V},
      {"rate", FuncId::kRate, {M}, 0, V},
      {"resets", FuncId::kResets, {M}, 0, V},
      {"round", FuncId::kRound, {V, S}, 1, V},
      {"scalar", FuncId::kScalar, {V}, 0, S},
      {"sgn", FuncId::kSgn, {V}, 0, V},
      {"sin", FuncId::kSin, {V}, 0, V},
      {"sinh", FuncId::kSinh, {V}, 0, V},
      {"sort", FuncId::kSort, {V}, 0, V},
      {"sort_desc", FuncId::kSortDesc, {V}, 0, V},
      {"sort_by_label", FuncId::kSortByLabel, {V, Str}, -1, V, true, 1},
      {"sort_by_label_desc", FuncId::kSortByLabelDesc, {V, Str}, -1, V, true, 1},
      {"sqrt", FuncId::kSqrt, {V}, 0, V},
      {"stddev_over_time", FuncId::kStddevOverTime, {M}, 0, V},
      {"stdvar_over_time", FuncId::kStdvarOverTime, {M}, 0, V},
      {"sum_over_time", FuncId::kSumOverTime, {M}, 0, V},
      {"tan", FuncId::kTan, {V}, 0, V},
      {"tanh", FuncId::kTanh, {V}, 0, V},
      {"time", FuncId::kTime, {}, 0, S},
      {"timestamp", FuncId::kTimestamp, {V}, 0, V},
      {"vector", FuncId::kVector, {S}, 0, V},
      {"year", FuncId::kYear, {V}, 1, V},
  };
  return table;
}

}  // namespace

const FunctionDef* FindFunction(std::string_view name) {
  static const std::unordered_map<std::string_view, const FunctionDef*> index = [] {
    std::unordered_map<std::string_view, const FunctionDef*> m;
    for (const FunctionDef& f : Table()) m[f.name] = &f;
    return m;
  }();
  auto it = index.find(name);
  return it == index.end() ? nullptr : it->second;
}

bool IsRangeFunction(FuncId id) {
  switch (id) {
    case FuncId::kRate:
    case FuncId::kIncrease:
    case FuncId::kDelta:
    case FuncId::kIrate:
    case FuncId::kIdelta:
    case FuncId::kDeriv:
    case FuncId::kPredictLinear:
    case FuncId::kChanges:
    case FuncId::kResets:
    case FuncId::kAbsentOverTime:
    case FuncId::kPresentOverTime:
    case FuncId::kAvgOverTime:
    case FuncId::kMinOverTime:
    case FuncId::kMaxOverTime:
    case FuncId::kSumOverTime:
    case FuncId::kCountOverTime:
    case FuncId::kLastOverTime:
    case FuncId::kFirstOverTime:
    case FuncId::kQuantileOverTime:
    case FuncId::kStddevOverTime:
    case FuncId::kStdvarOverTime:
    case FuncId::kMadOverTime:
    case FuncId::kDoubleExponentialSmoothing:
    case FuncId::kTsOfMinOverTime:
    case FuncId::kTsOfMaxOverTime:
    case FuncId::kTsOfLastOverTime:
    case FuncId::kTsOfFirstOverTime: return true;
    default: return false;
  }
}

}  // namespace pharos::promql

#include "promql/functions.h"

#include <string>
#include <unordered_map>

namespace pharos::promql {
namespace {

constexpr ValueType kS = ValueType::kScalar;
constexpr ValueType kV = ValueType::kVector;
constexpr ValueType kM = ValueType::kMatrix;
constexpr ValueType kStr = ValueType::kString;

const std::vector<FunctionDef>& Table() {
  static const std::vector<FunctionDef> table = {
      {"abs", FuncId::kAbs, {kV}, 0, kV},
      {"absent", FuncId::kAbsent, {kV}, 0, kV},
      {"absent_over_time", FuncId::kAbsentOverTime, {kM}, 0, kV},
      {"acos", FuncId::kAcos, {kV}, 0, kV},
      {"acosh", FuncId::kAcosh, {kV}, 0, kV},
      {"asin", FuncId::kAsin, {kV}, 0, kV},
      {"asinh", FuncId::kAsinh, {kV}, 0, kV},
      {"atan", FuncId::kAtan, {kV}, 0, kV},
      {"atanh", FuncId::kAtanh, {kV}, 0, kV},
      {"avg_over_time", FuncId::kAvgOverTime, {kM}, 0, kV},
      {"ceil", FuncId::kCeil, {kV}, 0, kV},
      {"changes", FuncId::kChanges, {kM}, 0, kV},
      {"clamp", FuncId::kClamp, {kV, kS, kS}, 0, kV},
      {"clamp_max", FuncId::kClampMax, {kV, kS}, 0, kV},
      {"clamp_min", FuncId::kClampMin, {kV, kS}, 0, kV},
      {"cos", FuncId::kCos, {kV}, 0, kV},
      {"cosh", FuncId::kCosh, {kV}, 0, kV},
      {"count_over_time", FuncId::kCountOverTime, {kM}, 0, kV},
      {"days_in_month", FuncId::kDaysInMonth, {kV}, 1, kV},
      {"day_of_month", FuncId::kDayOfMonth, {kV}, 1, kV},
      {"day_of_week", FuncId::kDayOfWeek, {kV}, 1, kV},
      {"day_of_year", FuncId::kDayOfYear, {kV}, 1, kV},
      {"deg", FuncId::kDeg, {kV}, 0, kV},
      {"delta", FuncId::kDelta, {kM}, 0, kV},
      {"deriv", FuncId::kDeriv, {kM}, 0, kV},
      {"exp", FuncId::kExp, {kV}, 0, kV},
      {"floor", FuncId::kFloor, {kV}, 0, kV},
      {"histogram_avg", FuncId::kHistogramAvg, {kV}, 0, kV},
      {"histogram_count", FuncId::kHistogramCount, {kV}, 0, kV},
      {"histogram_fraction", FuncId::kHistogramFraction, {kS, kS, kV}, 0, kV},
      {"histogram_quantile", FuncId::kHistogramQuantile, {kS, kV}, 0, kV},
      {"histogram_quantiles", FuncId::kHistogramQuantiles, {kV, kStr, kS}, -1, kV, true},
      {"histogram_sum", FuncId::kHistogramSum, {kV}, 0, kV},
      {"histogram_stddev", FuncId::kHistogramStddev, {kV}, 0, kV},
      {"histogram_stdvar", FuncId::kHistogramStdvar, {kV}, 0, kV},
      {"double_exponential_smoothing",
       FuncId::kDoubleExponentialSmoothing,
       {kM, kS, kS},
       0,
       kV,
       true},
      {"hour", FuncId::kHour, {kV}, 1, kV},
      {"idelta", FuncId::kIdelta, {kM}, 0, kV},
      {"increase", FuncId::kIncrease, {kM}, 0, kV},
      {"info", FuncId::kInfo, {kV, kV}, 1, kV, true},
      {"irate", FuncId::kIrate, {kM}, 0, kV},
      {"label_replace", FuncId::kLabelReplace, {kV, kStr, kStr, kStr, kStr}, 0, kV},
      {"label_join", FuncId::kLabelJoin, {kV, kStr, kStr}, -1, kV},
      {"last_over_time", FuncId::kLastOverTime, {kM}, 0, kV},
      {"first_over_time", FuncId::kFirstOverTime, {kM}, 0, kV, true},
      {"ln", FuncId::kLn, {kV}, 0, kV},
      {"log10", FuncId::kLog10, {kV}, 0, kV},
      {"log2", FuncId::kLog2, {kV}, 0, kV},
      {"mad_over_time", FuncId::kMadOverTime, {kM}, 0, kV, true},
      {"max_over_time", FuncId::kMaxOverTime, {kM}, 0, kV},
      {"min_over_time", FuncId::kMinOverTime, {kM}, 0, kV},
      {"ts_of_min_over_time", FuncId::kTsOfMinOverTime, {kM}, 0, kV, true},
      {"ts_of_max_over_time", FuncId::kTsOfMaxOverTime, {kM}, 0, kV, true},
      {"ts_of_last_over_time", FuncId::kTsOfLastOverTime, {kM}, 0, kV, true},
      {"ts_of_first_over_time", FuncId::kTsOfFirstOverTime, {kM}, 0, kV, true},
      {"minute", FuncId::kMinute, {kV}, 1, kV},
      {"month", FuncId::kMonth, {kV}, 1, kV},
      {"pi", FuncId::kPi, {}, 0, kS},
      {"step", FuncId::kStep, {}, 0, kS, true},
      {"min_of", FuncId::kMinOf, {kS, kS}, 0, kS, true},
      {"max_of", FuncId::kMaxOf, {kS, kS}, 0, kS, true},
      {"range", FuncId::kRange, {}, 0, kS, true},
      {"start", FuncId::kStart, {}, 0, kS, true},
      {"end", FuncId::kEnd, {}, 0, kS, true},
      {"predict_linear", FuncId::kPredictLinear, {kM, kS}, 0, kV},
      {"present_over_time", FuncId::kPresentOverTime, {kM}, 0, kV},
      {"quantile_over_time", FuncId::kQuantileOverTime, {kS, kM}, 0, kV},
      {"rad", FuncId::kRad, {kV}, 0, kV},
      {"rate", FuncId::kRate, {kM}, 0, kV},
      {"resets", FuncId::kResets, {kM}, 0, kV},
      {"round", FuncId::kRound, {kV, kS}, 1, kV},
      {"scalar", FuncId::kScalar, {kV}, 0, kS},
      {"sgn", FuncId::kSgn, {kV}, 0, kV},
      {"sin", FuncId::kSin, {kV}, 0, kV},
      {"sinh", FuncId::kSinh, {kV}, 0, kV},
      {"sort", FuncId::kSort, {kV}, 0, kV},
      {"sort_desc", FuncId::kSortDesc, {kV}, 0, kV},
      {"sort_by_label", FuncId::kSortByLabel, {kV, kStr}, -1, kV, true, 1},
      {"sort_by_label_desc", FuncId::kSortByLabelDesc, {kV, kStr}, -1, kV, true, 1},
      {"sqrt", FuncId::kSqrt, {kV}, 0, kV},
      {"stddev_over_time", FuncId::kStddevOverTime, {kM}, 0, kV},
      {"stdvar_over_time", FuncId::kStdvarOverTime, {kM}, 0, kV},
      {"sum_over_time", FuncId::kSumOverTime, {kM}, 0, kV},
      {"tan", FuncId::kTan, {kV}, 0, kV},
      {"tanh", FuncId::kTanh, {kV}, 0, kV},
      {"time", FuncId::kTime, {}, 0, kS},
      {"timestamp", FuncId::kTimestamp, {kV}, 0, kV},
      {"vector", FuncId::kVector, {kS}, 0, kV},
      {"year", FuncId::kYear, {kV}, 1, kV},
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

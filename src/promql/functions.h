// promql/functions.h (internal): the table of PromQL functions, their signatures as the
// parser checks them, and the kind of evaluation each needs.
#pragma once

#include <string_view>
#include <vector>

#include "promql/ast.h"

namespace pharos::promql {

enum class FuncId {
  // instant-vector -> instant-vector, one value at a time
  kAbs,
  kCeil,
  kFloor,
  kExp,
  kSqrt,
  kLn,
  kLog2,
  kLog10,
  kSgn,
  kRound,
  kClamp,
  kClampMin,
  kClampMax,
  kAcos,
  kAcosh,
  kAsin,
  kAsinh,
  kAtan,
  kAtanh,
  kCos,
  kCosh,
  kSin,
  kSinh,
  kTan,
  kTanh,
  kDeg,
  kRad,
  kTimestamp,
  // date functions over an optional vector
  kDayOfMonth,
  kDayOfWeek,
  kDayOfYear,
  kDaysInMonth,
  kHour,
  kMinute,
  kMonth,
  kYear,
  // scalar-valued and special
  kTime,
  kPi,
  kScalar,
  kVector,
  kSort,
  kSortDesc,
  kSortByLabel,
  kSortByLabelDesc,
  kLabelReplace,
  kLabelJoin,
  kAbsent,
  kHistogramQuantile,
  kHistogramQuantiles,
  kStart,
  kEnd,
  kStep,
  kMinOf,
  kMaxOf,
  kRange,
  // range-vector functions
  kRate,
  kIncrease,
  kDelta,
  kIrate,
  kIdelta,
  kDeriv,
  kPredictLinear,
  kChanges,
  kResets,
  kAbsentOverTime,
  kPresentOverTime,
  kAvgOverTime,
  kMinOverTime,
  kMaxOverTime,
  kSumOverTime,
  kCountOverTime,
  kLastOverTime,
  kFirstOverTime,
  kQuantileOverTime,
  kStddevOverTime,
  kStdvarOverTime,
  kMadOverTime,
  kDoubleExponentialSmoothing,
  kTsOfMinOverTime,
  kTsOfMaxOverTime,
  kTsOfLastOverTime,
  kTsOfFirstOverTime,
  // native histogram functions (the store keeps classic histograms only; see the skip list)
  kHistogramCount,
  kHistogramSum,
  kHistogramAvg,
  kHistogramFraction,
  kHistogramStddev,
  kHistogramStdvar,
  kInfo,
};

struct FunctionDef {
  std::string_view name;
  FuncId id;
  std::vector<ValueType> args;
  int variadic = 0;  // 0: exactly args; >0: up to that many trailing optional; -1: unbounded
  ValueType ret;
  bool experimental = false;
  int min_args = -1;  // for unbounded variadics: fewer than args.size() allowed (-1: no)
};

/// nullptr when no function has that name.
const FunctionDef* FindFunction(std::string_view name);

/// Functions that take a range vector and compute one value per window.
bool IsRangeFunction(FuncId id);

}  // namespace pharos::promql

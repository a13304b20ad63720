// Aggregation operators. Series are grouped once per query by their grouping labels; each
// group is then aggregated step by step over the members present at that step.
#include <fmt/format.h>
#define XXH_INLINE_ALL  // header-only: no run-time library
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "promql/eval.h"

namespace pharos::promql {
namespace {

model::Labels GroupLabels(const model::Labels& labels, const AggregateExpr& a) {
  model::Labels out;
  for (const model::Label& l : labels) {
    bool listed = std::find(a.grouping.begin(), a.grouping.end(), l.name) != a.grouping.end();
    bool name_like = l.name == "__name__" || l.name == "__type__" || l.name == "__unit__";
    if (a.without ? (listed || name_like) : !listed) continue;
    out.push_back(l);
  }
  return out;
}

// The k of topk/bottomk/limitk at one step.
Status ParamToK(double p, int64_t& k) {
  if (std::isnan(p)) return FailedPrecondition("Parameter value is NaN");
  if (p >= 9.2e18) return FailedPrecondition(fmt::format("Scalar value {} overflows int64", p));
  if (p <= -9.2e18) {
    k = std::numeric_limits<int64_t>::min();
    return Status::Ok();
  }
  k = static_cast<int64_t>(p);
  return Status::Ok();
}

// A series' position in [0, 1] for limit_ratio: its xxHash64 over "name\xffvalue\xff..."
// (Prometheus's stable label hash) divided by the largest 64-bit value, so the same series
// are picked at every step and by every query.
double RatioPosition(const model::Labels& labels) {
  std::string buf;
  for (const model::Label& l : labels) {
    buf += l.name;
    buf += '\xff';
    buf += l.value;
    buf += '\xff';
  }
  return static_cast<double>(XXH64(buf.data(), buf.size(), 0)) /
         static_cast<double>(std::numeric_limits<uint64_t>::max());
}

// One group of a streaming aggregation: per-step state for exactly the operator's needs
// (sum: 17 bytes a step, count: 8, min and max: 9, stddev: 24), folded in input order as
// the batch path does, so results are bit-identical.
struct StreamGroup {
  model::Labels labels;
  bool drop_name = false;
  std::vector<double> count;
  std::vector<double> a;  // sum, min/max result, or Welford mean
  std::vector<double> b;  // Kahan compensation, or Welford m2
  std::vector<MeanAccumulator> mean;
};

bool Streams(AggOp op) {
  switch (op) {
    case AggOp::kSum:
    case AggOp::kAvg:
    case AggOp::kCount:
    case AggOp::kGroup:
    case AggOp::kMin:
    case AggOp::kMax:
    case AggOp::kStddev:
    case AggOp::kStdvar: return true;
    default: return false;
  }
}

}  // namespace

// sum, avg, count, group, min, max, stddev and stdvar fold each input series into its
// group as the selector or range function below produces it: memory is the groups, not
// the input series.
Result<Value> Evaluator::EvalStreamingAggregate(const AggregateExpr& a) {
  std::unordered_map<std::string, size_t> group_of_key;
  std::vector<StreamGroup> groups;
  const AggOp op = a.op;
  SeriesSink fold = [&](Series&& s) -> Status {
    model::Labels gl = GroupLabels(s.labels, a);
    auto [it, inserted] = group_of_key.emplace(LabelsKey(gl), groups.size());
    if (inserted) {
      PHAROS_RETURN_IF_ERROR(ctx_.AddSamples(n_));
      StreamGroup g;
      g.labels = std::move(gl);
      g.count.assign(n_, 0);
      if (op == AggOp::kAvg) {
        g.mean.resize(n_);
      } else if (op != AggOp::kCount && op != AggOp::kGroup) {
        g.a.assign(n_, 0);
        if (op != AggOp::kMin && op != AggOp::kMax) g.b.assign(n_, 0);
      }
      groups.push_back(std::move(g));
    }
    StreamGroup& g = groups[it->second];
    if (GetLabel(g.labels, "__name__") != nullptr) g.drop_name |= s.drop_name;
    for (int i = 0; i < n_; ++i) {
      if (!s.has[i]) continue;
      double f = s.v[i];
      double count = ++g.count[i];
      switch (op) {
        case AggOp::kSum: KahanAdd(f, g.a[i], g.b[i]); break;
        case AggOp::kAvg: g.mean[i].Add(f); break;
        case AggOp::kMin:
          if (count == 1 || g.a[i] > f || std::isnan(g.a[i])) g.a[i] = f;
          break;
        case AggOp::kMax:
          if (count == 1 || g.a[i] < f || std::isnan(g.a[i])) g.a[i] = f;
          break;
        case AggOp::kStddev:
        case AggOp::kStdvar: {
          double delta = f - g.a[i];
          g.a[i] += delta / count;
          g.b[i] += delta * (f - g.a[i]);
          break;
        }
        default: break;
      }
    }
    return Status::Ok();
  };
  Result<Value> in = EvalStreaming(*a.expr, fold);
  if (!in.ok()) return in;
  // A node that does not stream hands back its series: fold them the same way.
  for (Series& s : in->vec) PHAROS_RETURN_IF_ERROR(fold(std::move(s)));
  in->vec.clear();
  PHAROS_RETURN_IF_ERROR(ctx_.CheckDeadline());
  Value out;
  out.type = ValueType::kVector;
  out.vec.reserve(groups.size());
  for (StreamGroup& g : groups) {
    Series o = MakeSeries(std::move(g.labels), n_);
    o.drop_name = g.drop_name;
    bool any = false;
    for (int i = 0; i < n_; ++i) {
      double count = g.count[i];
      if (count == 0) continue;
      double result = 0;
      switch (op) {
        case AggOp::kSum: result = std::isinf(g.a[i]) ? g.a[i] : g.a[i] + g.b[i]; break;
        case AggOp::kAvg: result = g.mean[i].Value(); break;
        case AggOp::kCount: result = count; break;
        case AggOp::kGroup: result = 1; break;
        case AggOp::kMin:
        case AggOp::kMax: result = g.a[i]; break;
        case AggOp::kStdvar: result = g.b[i] / count; break;
        case AggOp::kStddev: result = std::sqrt(g.b[i] / count); break;
        default: break;
      }
      o.v[i] = result;
      o.has[i] = 1;
      any = true;
    }
    if (any) out.vec.push_back(std::move(o));
  }
  return out;
}

Result<Value> Evaluator::EvalAggregate(const AggregateExpr& a) {
  if (!a.param && Streams(a.op)) return EvalStreamingAggregate(a);
  Value param;
  if (a.param) {
    Result<Value> p = Eval(*a.param);
    if (!p.ok()) return p;
    param = std::move(*p);
  }
  Result<Value> in = Eval(*a.expr);
  if (!in.ok()) return in;
  PHAROS_RETURN_IF_ERROR(ctx_.CheckDeadline());
  std::vector<Series>& input = in->vec;
  Value out;
  out.type = ValueType::kVector;

  if (a.op == AggOp::kQuantile) {
    for (double phi : param.scalar) {
      if (std::isnan(phi) || phi < 0 || phi > 1) {
        ctx_.Warn(*a.param, fmt::format("quantile value should be between 0 and 1, got {}",
                                        FormatFloat(phi)));
        break;
      }
    }
  }

  // Group the series.
  std::unordered_map<std::string, int> group_of_key;
  std::vector<int> group_of(input.size());
  std::vector<model::Labels> group_labels;
  std::vector<std::vector<int>> members;
  for (size_t s = 0; s < input.size(); ++s) {
    model::Labels gl = GroupLabels(input[s].labels, a);
    auto [it, inserted] = group_of_key.emplace(LabelsKey(gl), static_cast<int>(members.size()));
    if (inserted) {
      group_labels.push_back(std::move(gl));
      members.emplace_back();
    }
    group_of[s] = it->second;
    members[it->second].push_back(static_cast<int>(s));
  }
  size_t groups = members.size();

  if (a.op == AggOp::kTopk || a.op == AggOp::kBottomk || a.op == AggOp::kLimitk ||
      a.op == AggOp::kLimitRatio) {
    // Selecting operators keep the input series; each step picks members per group.
    std::vector<std::vector<uint8_t>> keep(input.size(), std::vector<uint8_t>(n_, 0));
    std::vector<std::vector<int>> order_at_first(groups);  // instant queries keep this order
    bool top = a.op == AggOp::kTopk;
    std::vector<int> present;
    for (int i = 0; i < n_; ++i) {
      double p = param.scalar[i];
      int64_t k = 0;
      double ratio = 0;
      if (a.op == AggOp::kLimitRatio) {
        if (std::isnan(p)) return FailedPrecondition("Ratio value is NaN");
        ratio = p;
        if (ratio < -1 || ratio > 1) {
          ctx_.Warn(*a.param, fmt::format("ratio value should be between -1 and 1, got {}, "
                                          "capping to {}",
                                          FormatFloat(ratio), ratio < 0 ? -1 : 1));
          ratio = ratio < 0 ? -1 : 1;
        }
      } else {
        PHAROS_RETURN_IF_ERROR(ParamToK(p, k));
        if (k < 1) continue;
      }
      for (size_t g = 0; g < groups; ++g) {
        present.clear();
        for (int s : members[g]) {
          if (input[s].has[i]) present.push_back(s);
        }
        if (present.empty()) continue;
        if (a.op == AggOp::kTopk || a.op == AggOp::kBottomk) {
          auto before = [&](int x, int y) {
            double vx = input[x].v[i];
            double vy = input[y].v[i];
            if (std::isnan(vx)) return false;
            if (std::isnan(vy)) return true;
            return top ? vx > vy : vx < vy;
          };
          size_t take = static_cast<size_t>(std::min<int64_t>(k, present.size()));
          std::stable_sort(present.begin(), present.end(), before);
          present.resize(take);
        } else if (a.op == AggOp::kLimitk) {
          size_t take = static_cast<size_t>(std::min<int64_t>(k, present.size()));
          present.resize(take);
        } else {
          std::erase_if(present, [&](int s) {
            double pos = RatioPosition(input[s].labels);
            return ratio >= 0 ? !(pos < ratio) : !(pos >= 1 + ratio);
          });
        }
        for (int s : present) keep[s][i] = 1;
        if (i == 0) order_at_first[g] = present;
      }
    }
    if (n_ == 1) {
      for (size_t g = 0; g < groups; ++g) {
        for (int s : order_at_first[g]) out.vec.push_back(std::move(input[s]));
      }
      return out;
    }
    for (size_t s = 0; s < input.size(); ++s) {
      Series& series = input[s];
      bool any = false;
      for (int i = 0; i < n_; ++i) {
        series.has[i] &= keep[s][i];
        any |= series.has[i] != 0;
      }
      if (any) out.vec.push_back(std::move(series));
    }
    return out;
  }

  if (a.op == AggOp::kCountValues) {
    const std::string& label = param.str;
    if (!ValidLabelName(label)) {
      return FailedPrecondition(fmt::format("invalid label name \"{}\"", label));
    }
    std::unordered_map<std::string, size_t> index;
    for (int i = 0; i < n_; ++i) {
      for (size_t s = 0; s < input.size(); ++s) {
        if (!input[s].has[i]) continue;
        model::Labels labels = group_labels[group_of[s]];
        SetLabel(labels, label, FormatFloat(input[s].v[i]));
        auto [it, inserted] = index.emplace(LabelsKey(labels), out.vec.size());
        if (inserted) out.vec.push_back(MakeSeries(std::move(labels), n_));
        Series& o = out.vec[it->second];
        o.v[i] = o.has[i] ? o.v[i] + 1 : 1;
        o.has[i] = 1;
      }
    }
    return out;
  }

  // quantile: the only operator left here (the others stream, or select series above).
  if (a.op != AggOp::kQuantile) return Internal("aggregation reached the quantile path");
  out.vec.reserve(groups);
  std::vector<double> values;
  for (size_t g = 0; g < groups; ++g) {
    Series o = MakeSeries(std::move(group_labels[g]), n_);
    if (GetLabel(o.labels, "__name__") != nullptr) {
      for (int s : members[g]) o.drop_name |= input[s].drop_name;
    }
    bool any = false;
    for (int i = 0; i < n_; ++i) {
      values.clear();
      for (int s : members[g]) {
        if (input[s].has[i]) values.push_back(input[s].v[i]);
      }
      if (values.empty()) continue;
      o.v[i] = Quantile(param.scalar[i], values);
      o.has[i] = 1;
      any = true;
    }
    if (any) out.vec.push_back(std::move(o));
  }
  return out;
}

}  // namespace pharos::promql

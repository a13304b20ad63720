// info(v, {data label selector}): enriches each series of v with the data labels of the
// info series (target_info by default) that share its identifying labels (instance, job),
// as read at the same time as the series' own samples. An experimental Prometheus 3
// function.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "promql/eval.h"

namespace pharos::promql {
namespace {

constexpr std::string_view kIdentifying[] = {"instance", "job"};

bool IsIdentifying(std::string_view name) {
  for (std::string_view id : kIdentifying) {
    if (name == id) return true;
  }
  return false;
}

std::string IdentityKey(const model::Labels& labels) {
  std::string key;
  for (std::string_view id : kIdentifying) {
    const std::string* v = GetLabel(labels, id);
    key += v ? *v : "";
    key += '\xff';
  }
  return key;
}

}  // namespace

std::vector<int64_t> Evaluator::ReferenceTimes(const Expr& e) const {
  const Expr* node = &e;
  std::vector<int64_t> times(n_);
  for (int i = 0; i < n_; ++i) times[i] = Ts(i);
  auto shift = [&](const TimeModifiers& tm) {
    for (int64_t& t : times) t = (tm.at != AtKind::kNone ? tm.at_ms : t) - tm.offset_ms;
  };
  while (node != nullptr) {
    switch (node->kind) {
      case NodeKind::kVectorSelector:
        shift(static_cast<const VectorSelector*>(node)->time);
        return times;
      case NodeKind::kMatrixSelector:
        shift(static_cast<const MatrixSelector*>(node)->selector->time);
        return times;
      case NodeKind::kSubquery: {
        const auto* sq = static_cast<const SubqueryExpr*>(node);
        shift(sq->time);
        node = sq->expr.get();
        break;
      }
      case NodeKind::kParen: node = static_cast<const ParenExpr*>(node)->expr.get(); break;
      case NodeKind::kUnary: node = static_cast<const UnaryExpr*>(node)->expr.get(); break;
      case NodeKind::kAggregate: node = static_cast<const AggregateExpr*>(node)->expr.get(); break;
      case NodeKind::kBinary: {
        const auto* b = static_cast<const BinaryExpr*>(node);
        node = TypeOf(*b->lhs) == ValueType::kVector ? b->lhs.get() : b->rhs.get();
        break;
      }
      case NodeKind::kCall: {
        const auto* call = static_cast<const CallExpr*>(node);
        const Expr* next = nullptr;
        for (const ExprPtr& a : call->args) {
          ValueType t = TypeOf(*a);
          if (t == ValueType::kVector || t == ValueType::kMatrix) {
            next = a.get();
            break;
          }
        }
        node = next;
        break;
      }
      default: return times;
    }
  }
  return times;
}

Result<Value> Evaluator::EvalInfo(const CallExpr& c) {
  Result<Value> base = Eval(*c.args[0]);
  if (!base.ok()) return base;

  // The info series' names (target_info unless the selector says) and the data matchers.
  std::vector<model::Matcher> name_matchers;
  std::vector<model::Matcher> data_matchers;
  if (c.args.size() > 1) {
    const Expr* sel = c.args[1].get();
    while (sel->kind == NodeKind::kParen) sel = static_cast<const ParenExpr*>(sel)->expr.get();
    if (sel->kind != NodeKind::kVectorSelector) {
      return FailedPrecondition("expected label selectors as the second argument of info()");
    }
    for (const model::Matcher& m : static_cast<const VectorSelector*>(sel)->matchers) {
      (m.name() == "__name__" ? name_matchers : data_matchers).push_back(m);
    }
  }
  bool positive = false;
  for (const model::Matcher& m : name_matchers) {
    positive |= m.type() == model::MatchType::kEqual || m.type() == model::MatchType::kRegexMatch;
  }
  if (!positive) {
    // Without a positive name matcher the candidates are the *_info metrics (target_info
    // when there is no name matcher at all).
    Result<model::Matcher> m =
        name_matchers.empty()
            ? model::Matcher::Make(model::MatchType::kEqual, "__name__", "target_info")
            : model::Matcher::Make(model::MatchType::kRegexMatch, "__name__", ".+_info");
    if (!m.ok()) return m.status();
    name_matchers.push_back(std::move(*m));
  }
  // A base series that is itself one of the requested info series passes unchanged.
  auto is_info_name = [&](const model::Labels& labels) {
    if (!positive) return false;
    std::string name = MetricName(labels);
    for (const model::Matcher& m : name_matchers) {
      if (!m.Matches(name)) return false;
    }
    return true;
  };
  bool needs_match = false;  // a data matcher refuses the empty value
  for (const model::Matcher& m : data_matchers) needs_match |= !m.Matches("");

  // The info series, read at the base series' reference times.
  VectorSelector info_sel;
  info_sel.matchers = name_matchers;
  std::vector<int64_t> ref = ReferenceTimes(*c.args[0]);
  struct Info {
    std::string identity;
    std::string name;
    model::Labels data;      // labels to add
    std::vector<double> ts;  // sample time per step (NaN: absent)
  };
  std::vector<Info> infos;
  std::unordered_map<std::string, std::vector<size_t>> by_identity;
  {
    // One selector evaluation per distinct reference time keeps @ and offset exact.
    std::unordered_map<int64_t, std::vector<int>> steps_at;
    for (int i = 0; i < n_; ++i) steps_at[ref[i]].push_back(i);
    std::unordered_map<std::string, size_t> index;
    for (const auto& [t, steps] : steps_at) {
      Evaluator once(ctx_, t, t, 1);
      Result<Value> v = once.EvalVectorSelector(info_sel, /*want_timestamps=*/true);
      if (!v.ok()) return v.status();
      for (Series& s : v->vec) {
        if (!s.has[0]) continue;
        bool ok = true;
        for (const model::Matcher& m : data_matchers) {
          const std::string* val = GetLabel(s.labels, m.name());
          ok &= m.Matches(val ? *val : "");
        }
        if (!ok) continue;
        std::string key = LabelsKey(s.labels);
        auto [it, inserted] = index.emplace(key, infos.size());
        if (inserted) {
          Info info;
          info.identity = IdentityKey(s.labels);
          info.name = MetricName(s.labels);
          for (const model::Label& l : s.labels) {
            if (l.name == "__name__" || IsIdentifying(l.name)) continue;
            if (!data_matchers.empty()) {
              bool named = false;
              for (const model::Matcher& m : data_matchers) named |= m.name() == l.name;
              if (!named) continue;
            }
            info.data.push_back(l);
          }
          info.ts.assign(n_, NAN);
          by_identity[info.identity].push_back(infos.size());
          infos.push_back(std::move(info));
        }
        for (int i : steps) infos[it->second].ts[i] = s.v[0];
      }
    }
  }

  Value out;
  out.type = ValueType::kVector;
  std::unordered_map<std::string, size_t> out_index;
  auto emit = [&](const Series& from, model::Labels labels, int i) -> Status {
    auto [it, inserted] = out_index.emplace(LabelsKey(labels), out.vec.size());
    if (inserted) {
      Series s = MakeSeries(std::move(labels), n_);
      s.drop_name = from.drop_name;
      out.vec.push_back(std::move(s));
    }
    Series& dst = out.vec[it->second];
    if (dst.has[i])
      return FailedPrecondition("vector cannot contain metrics with the same labelset");
    dst.has[i] = 1;
    dst.v[i] = from.v[i];
    return Status::Ok();
  };
  for (const Series& s : base->vec) {
    bool is_info = is_info_name(s.labels);
    auto matches = by_identity.find(IdentityKey(s.labels));
    for (int i = 0; i < n_; ++i) {
      if (!s.has[i]) continue;
      if (is_info) {
        PHAROS_RETURN_IF_ERROR(emit(s, s.labels, i));
        continue;
      }
      // Per info metric name the newest series wins; different names add their labels.
      std::vector<const Info*> best;
      if (matches != by_identity.end()) {
        for (size_t k : matches->second) {
          const Info& info = infos[k];
          if (std::isnan(info.ts[i])) continue;
          auto same = std::find_if(best.begin(), best.end(),
                                   [&](const Info* b) { return b->name == info.name; });
          if (same == best.end()) {
            best.push_back(&info);
          } else if (info.ts[i] > (*same)->ts[i]) {
            *same = &info;
          }
        }
      }
      if (best.empty()) {
        if (!needs_match) PHAROS_RETURN_IF_ERROR(emit(s, s.labels, i));
        continue;
      }
      model::Labels labels = s.labels;
      model::Labels added;
      for (const Info* info : best) {
        for (const model::Label& l : info->data) {
          if (GetLabel(s.labels, l.name) != nullptr) continue;
          const std::string* prev = GetLabel(added, l.name);
          if (prev != nullptr && *prev != l.value) {
            return FailedPrecondition(fmt::format(
                "conflicting label: {} has values \"{}\" and \"{}\" in info metrics for {}", l.name,
                *prev, l.value, model::FormatLabels(s.labels)));
          }
          SetLabel(added, l.name, l.value);
        }
      }
      for (const model::Label& l : added) SetLabel(labels, l.name, l.value);
      PHAROS_RETURN_IF_ERROR(emit(s, std::move(labels), i));
    }
  }
  return out;
}

}  // namespace pharos::promql

// Binary operators: arithmetic, comparison and set operators between scalars and vectors,
// with Prometheus's vector matching (on, ignoring, group_left, group_right).
#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <unordered_map>

#include "promql/eval.h"

namespace pharos::promql {
namespace {

// Returns the value and whether a comparison holds (always true for arithmetic).
inline double Apply(BinOp op, double l, double r, bool& keep) {
  keep = true;
  switch (op) {
    case BinOp::kAdd: return l + r;
    case BinOp::kSub: return l - r;
    case BinOp::kMul: return l * r;
    case BinOp::kDiv: return l / r;
    case BinOp::kMod: return std::fmod(l, r);
    case BinOp::kPow: return std::pow(l, r);
    case BinOp::kAtan2: return std::atan2(l, r);
    case BinOp::kEql: keep = l == r; return l;
    case BinOp::kNeq: keep = l != r; return l;
    case BinOp::kGtr: keep = l > r; return l;
    case BinOp::kLss: keep = l < r; return l;
    case BinOp::kGte: keep = l >= r; return l;
    case BinOp::kLte: keep = l <= r; return l;
    default: return NAN;
  }
}

// The labels a vector-vector operation matches on: on(...) keeps only those, ignoring(...)
// and the default drop them and __name__.
std::string Signature(const model::Labels& labels, const VectorMatching& m) {
  std::string key;
  for (const model::Label& l : labels) {
    bool listed = std::find(m.labels.begin(), m.labels.end(), l.name) != m.labels.end();
    if (m.on ? !listed : (listed || l.name == "__name__")) continue;
    key += l.name;
    key += '\xff';
    key += l.value;
    key += '\xfe';
  }
  return key;
}

std::string FormatSeriesList(const std::vector<const Series*>& series) {
  std::string out = "[";
  for (size_t i = 0; i < series.size(); ++i) {
    if (i) out += ", ";
    out += model::FormatLabels(series[i]->labels);
  }
  return out + "]";
}

}  // namespace

Result<Value> Evaluator::EvalBinary(const BinaryExpr& b) {
  Result<Value> lhs = Eval(*b.lhs);
  if (!lhs.ok()) return lhs;
  Result<Value> rhs = Eval(*b.rhs);
  if (!rhs.ok()) return rhs;
  PHAROS_RETURN_IF_ERROR(ctx_.CheckDeadline());
  bool comparison = IsComparison(b.op);

  if (lhs->type == ValueType::kScalar && rhs->type == ValueType::kScalar) {
    Value out;
    out.type = ValueType::kScalar;
    out.scalar.resize(n_);
    for (int i = 0; i < n_; ++i) {
      bool keep;
      double v = Apply(b.op, lhs->scalar[i], rhs->scalar[i], keep);
      out.scalar[i] = comparison ? (keep ? 1.0 : 0.0) : v;
    }
    return out;
  }

  if (lhs->type == ValueType::kScalar || rhs->type == ValueType::kScalar) {
    bool scalar_left = lhs->type == ValueType::kScalar;
    Value out = scalar_left ? std::move(*rhs) : std::move(*lhs);
    const std::vector<double>& sc = scalar_left ? lhs->scalar : rhs->scalar;
    for (Series& s : out.vec) {
      for (int i = 0; i < n_; ++i) {
        if (!s.has[i]) continue;
        double l = scalar_left ? sc[i] : s.v[i];
        double r = scalar_left ? s.v[i] : sc[i];
        bool keep;
        double v = Apply(b.op, l, r, keep);
        if (comparison) {
          if (b.return_bool) {
            s.v[i] = keep ? 1.0 : 0.0;
          } else if (!keep) {
            s.has[i] = 0;
          }  // else the vector's own value stays
        } else {
          s.v[i] = v;
        }
      }
      if (!comparison || b.return_bool) s.drop_name = true;
    }
    DropEmptySeries(out.vec);
    return out;
  }
  return EvalVectorBinary(b, std::move(*lhs), std::move(*rhs));
}

Result<Value> Evaluator::EvalVectorBinary(const BinaryExpr& b, Value lhs, Value rhs) {
  static const VectorMatching kDefault;
  const VectorMatching& m = b.matching ? *b.matching : kDefault;
  Value out;
  out.type = ValueType::kVector;

  if (IsSetOperator(b.op)) {
    // Per signature, the steps at which the other side has a series.
    const std::vector<Series>& other = b.op == BinOp::kOr ? lhs.vec : rhs.vec;
    std::unordered_map<std::string, std::vector<uint8_t>> present;
    for (const Series& s : other) {
      std::vector<uint8_t>& p = present[Signature(s.labels, m)];
      if (p.empty()) p.assign(n_, 0);
      for (int i = 0; i < n_; ++i) p[i] |= s.has[i];
    }
    if (b.op == BinOp::kOr) {
      out.vec = std::move(lhs.vec);
      for (Series& s : rhs.vec) {
        auto it = present.find(Signature(s.labels, m));
        if (it != present.end()) {
          for (int i = 0; i < n_; ++i) s.has[i] &= !it->second[i];
        }
        out.vec.push_back(std::move(s));
      }
    } else {
      bool keep_matching = b.op == BinOp::kAnd;
      out.vec = std::move(lhs.vec);
      for (Series& s : out.vec) {
        auto it = present.find(Signature(s.labels, m));
        for (int i = 0; i < n_; ++i) {
          bool matched = it != present.end() && it->second[i];
          if (matched != keep_matching) s.has[i] = 0;
        }
      }
    }
    DropEmptySeries(out.vec);
    return out;
  }

  // Arithmetic and comparisons. The "one" side is the right one unless group_right.
  bool swapped = m.card == Cardinality::kOneToMany;
  std::vector<Series>& many = swapped ? rhs.vec : lhs.vec;
  std::vector<Series>& one = swapped ? lhs.vec : rhs.vec;
  bool comparison = IsComparison(b.op);

  std::unordered_map<std::string, std::vector<int>> one_by_sig;
  for (int j = 0; j < static_cast<int>(one.size()); ++j) {
    one_by_sig[Signature(one[j].labels, m)].push_back(j);
  }
  // A signature may have several series on the "one" side only if they never coexist.
  for (auto& [sig, idx] : one_by_sig) {
    if (idx.size() < 2) continue;
    for (int i = 0; i < n_; ++i) {
      std::vector<const Series*> at_step;
      for (int j : idx) {
        if (one[j].has[i]) at_step.push_back(&one[j]);
      }
      if (at_step.size() > 1) {
        model::Labels group;
        for (const model::Label& l : at_step[0]->labels) {
          bool listed = std::find(m.labels.begin(), m.labels.end(), l.name) != m.labels.end();
          if (m.on && listed) group.push_back(l);
        }
        return FailedPrecondition(fmt::format(
            "found duplicate series for the match group {} on the {} hand-side of the "
            "operation: {};many-to-many matching not allowed: matching labels must be unique "
            "on one side",
            model::FormatLabels(group), swapped ? "left" : "right", FormatSeriesList(at_step)));
      }
    }
  }

  std::unordered_map<std::string, size_t> out_index;  // result labels -> out.vec
  std::unordered_map<std::string, std::vector<uint8_t>> one_to_one_used;  // per signature
  // Experimental fill modifiers: fill_left stands in for a missing series on the "many"
  // side (the left one unless group_right swaps them), fill_right for the "one" side.
  std::optional<double> fill_many = m.fill_left;
  std::optional<double> fill_one = m.fill_right;
  static const std::vector<int> kNoCandidates;
  for (Series& ms : many) {
    std::string sig = Signature(ms.labels, m);
    auto it = one_by_sig.find(sig);
    if (it == one_by_sig.end() && !fill_one) continue;
    const std::vector<int>& candidates = it == one_by_sig.end() ? kNoCandidates : it->second;
    std::vector<uint8_t>* used = nullptr;
    if (m.card == Cardinality::kOneToOne) {
      used = &one_to_one_used[sig];
      if (used->empty()) used->assign(n_, 0);
    }
    // Result labels depend on the matched "one" series only through group_x labels.
    std::unordered_map<int, size_t> out_for_one;
    for (int i = 0; i < n_; ++i) {
      if (!ms.has[i]) continue;
      int match = -1;
      for (int j : candidates) {
        if (one[j].has[i]) {
          match = j;
          break;
        }
      }
      if (match < 0 && !fill_one) continue;
      if (used != nullptr && match >= 0) {
        if ((*used)[i]) {
          return FailedPrecondition(
              "multiple matches for labels: many-to-one matching must be explicit "
              "(group_left/group_right)");
        }
        (*used)[i] = 1;
      }
      const Series* os = match >= 0 ? &one[match] : nullptr;
      double one_value = os != nullptr ? os->v[i] : *fill_one;
      double l = swapped ? one_value : ms.v[i];
      double r = swapped ? ms.v[i] : one_value;
      bool keep;
      double v = Apply(b.op, l, r, keep);
      if (comparison && !b.return_bool && !keep) continue;
      if (b.return_bool) v = keep ? 1.0 : 0.0;

      auto oit = out_for_one.find(match);
      size_t idx;
      if (oit != out_for_one.end()) {
        idx = oit->second;
      } else {
        model::Labels labels = ms.labels;
        if (m.card == Cardinality::kOneToOne) {
          if (m.on) {
            std::erase_if(labels, [&](const model::Label& lb) {
              return lb.name != "__name__" &&
                     std::find(m.labels.begin(), m.labels.end(), lb.name) == m.labels.end();
            });
            // on() keeps only the listed labels; the name goes with delayed removal below.
            bool name_listed =
                std::find(m.labels.begin(), m.labels.end(), "__name__") != m.labels.end();
            if (!name_listed) DropName(labels);
          } else {
            std::erase_if(labels, [&](const model::Label& lb) {
              return std::find(m.labels.begin(), m.labels.end(), lb.name) != m.labels.end();
            });
          }
        }
        for (const std::string& inc : m.include) {
          // A filled "one" side has no labels to join.
          const std::string* val = os != nullptr ? GetLabel(os->labels, inc) : nullptr;
          SetLabel(labels, inc, val ? *val : "");
        }
        bool drop = !comparison || b.return_bool;
        std::string key = LabelsKey(labels);
        auto [pos, inserted] = out_index.emplace(std::move(key), out.vec.size());
        if (inserted) {
          Series s = MakeSeries(std::move(labels), n_);
          s.drop_name = drop || ms.drop_name;
          out.vec.push_back(std::move(s));
        }
        idx = pos->second;
        out_for_one[match] = idx;
      }
      Series& dst = out.vec[idx];
      if (dst.has[i]) {
        return FailedPrecondition(
            "multiple matches for labels: grouping labels must ensure unique matches");
      }
      dst.has[i] = 1;
      dst.v[i] = v;
    }
  }
  if (fill_many) {
    // "One" side series with no "many" side partner at a step get one, with the labels
    // of their match group.
    std::unordered_map<std::string, std::vector<uint8_t>> many_present;
    for (const Series& ms : many) {
      std::vector<uint8_t>& p = many_present[Signature(ms.labels, m)];
      if (p.empty()) p.assign(n_, 0);
      for (int i = 0; i < n_; ++i) p[i] |= ms.has[i];
    }
    for (const Series& os : one) {
      auto pit = many_present.find(Signature(os.labels, m));
      model::Labels labels;
      for (const model::Label& l : os.labels) {
        bool listed = std::find(m.labels.begin(), m.labels.end(), l.name) != m.labels.end();
        if (m.on ? listed : (!listed && l.name != "__name__")) labels.push_back(l);
      }
      std::string key = LabelsKey(labels);
      size_t idx = out.vec.size();
      bool created = false;
      for (int i = 0; i < n_; ++i) {
        if (!os.has[i] || (pit != many_present.end() && pit->second[i])) continue;
        double l = swapped ? os.v[i] : *fill_many;
        double r = swapped ? *fill_many : os.v[i];
        bool keep;
        double v = Apply(b.op, l, r, keep);
        if (comparison && !b.return_bool && !keep) continue;
        if (b.return_bool) v = keep ? 1.0 : 0.0;
        if (!created) {
          auto [pos, inserted] = out_index.emplace(key, out.vec.size());
          if (inserted) out.vec.push_back(MakeSeries(labels, n_));
          idx = pos->second;
          created = true;
        }
        Series& dst = out.vec[idx];
        if (dst.has[i]) {
          return FailedPrecondition(
              "multiple matches for labels: grouping labels must ensure unique matches");
        }
        dst.has[i] = 1;
        dst.v[i] = v;
      }
    }
  }
  DropEmptySeries(out.vec);
  return out;
}

}  // namespace pharos::promql

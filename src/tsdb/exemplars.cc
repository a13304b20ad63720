// In-memory exemplars (tsdb.h: ExemplarStore).
#include <algorithm>

#include "tsdb/tsdb.h"

namespace pharos::tsdb {

void ExemplarStore::AppendExemplars(std::span<const model::ExemplarInput> exemplars) {
  MutexLock lock(mu_);
  for (const model::ExemplarInput& in : exemplars) {
    std::string key = model::FormatLabels(in.series);
    auto [it, added] = series_.try_emplace(key);
    if (added) {
      for (const LabelView& l : in.series)
        it->second.labels.push_back({std::string(l.name), std::string(l.value)});
    }
    ++it->second.exemplars;
    entries_.push_back({std::move(key), in.exemplar});
  }
  while (entries_.size() > capacity_) {
    auto it = series_.find(entries_.front().series_key);
    if (--it->second.exemplars == 0) series_.erase(it);  // a series without any is forgotten
    entries_.pop_front();
  }
}

std::vector<ExemplarStore::SeriesExemplars> ExemplarStore::Select(std::span<const Matcher> matchers,
                                                                  int64_t mint_ms,
                                                                  int64_t maxt_ms) {
  MutexLock lock(mu_);
  std::map<std::string, SeriesExemplars> found;
  std::map<std::string, bool> matches;  // by series key, decided once
  for (const Entry& e : entries_) {
    if (e.exemplar.t_ms < mint_ms || e.exemplar.t_ms > maxt_ms) continue;
    auto [m, added] = matches.try_emplace(e.series_key, false);
    if (added) m->second = model::MatchesAll(matchers, series_.at(e.series_key).labels);
    if (!m->second) continue;
    SeriesExemplars& s = found[e.series_key];
    if (s.series.empty()) s.series = series_.at(e.series_key).labels;
    s.exemplars.push_back(e.exemplar);
  }
  std::vector<SeriesExemplars> out;
  for (auto& [key, s] : found) out.push_back(std::move(s));
  std::sort(out.begin(), out.end(), [](const SeriesExemplars& a, const SeriesExemplars& b) {
    return model::LabelsLess(a.series, b.series);
  });
  return out;
}

}  // namespace pharos::tsdb

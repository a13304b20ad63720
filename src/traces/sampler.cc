// Tail sampling (traces.h: TailSampler), configured as the OpenTelemetry Collector's
// tail_sampling processor is.
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "common/log.h"
#include "common/units.h"
#include "traces/traces.h"

namespace pharos::traces {
namespace {

Status ConfigError(std::string_view path, std::string_view what) {
  return InvalidArgument(fmt::format("traces.tail_sampling.{}: {}", path, what));
}

std::string Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

// The keys a map may hold; anything else is refused by its path.
Status OnlyKeys(const YAML::Node& map, std::string_view path,
                std::initializer_list<std::string_view> keys) {
  if (!map.IsMap()) return ConfigError(path, "expected a map");
  for (const auto& kv : map) {
    std::string key = kv.first.as<std::string>();
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
      return ConfigError(Join(path, key), "unknown or unsupported key");
  }
  return Status::Ok();
}

template <typename T>
Status Scalar(const YAML::Node& map, std::string_view path, const char* key, T& out) {
  const YAML::Node v = map[key];
  if (!v) return Status::Ok();
  try {
    out = v.as<T>();
  } catch (const YAML::Exception&) {
    return ConfigError(Join(path, key), "wrong type");
  }
  return Status::Ok();
}

Status ParsePolicy(const YAML::Node& node, const std::string& path, SamplingPolicy& p, int depth) {
  if (depth > 8) return ConfigError(path, "policies nest too deeply");
  if (!node.IsMap()) return ConfigError(path, "expected a map");
  std::string type;
  PHAROS_RETURN_IF_ERROR(Scalar(node, path, "name", p.name));
  PHAROS_RETURN_IF_ERROR(Scalar(node, path, "type", type));
  using T = SamplingPolicy::Type;
  static const std::pair<std::string_view, T> kTypes[] = {
      {"always_sample", T::kAlwaysSample},
      {"latency", T::kLatency},
      {"status_code", T::kStatusCode},
      {"string_attribute", T::kStringAttribute},
      {"numeric_attribute", T::kNumericAttribute},
      {"probabilistic", T::kProbabilistic},
      {"rate_limiting", T::kRateLimiting},
      {"and", T::kAnd}};
  auto it = std::find_if(std::begin(kTypes), std::end(kTypes),
                         [&](const auto& t) { return t.first == type; });
  if (it == std::end(kTypes))
    return ConfigError(path + ".type",
                       fmt::format("\"{}\" is not supported (always_sample, latency, status_code, "
                                   "string_attribute, numeric_attribute, probabilistic, "
                                   "rate_limiting, and)",
                                   type));
  p.type = it->second;
  std::string section(type);
  if (p.type == T::kAlwaysSample) return OnlyKeys(node, path, {"name", "type"});
  PHAROS_RETURN_IF_ERROR(OnlyKeys(node, path, {"name", "type", section}));
  const YAML::Node body = node[section];
  std::string at = path + "." + section;
  if (!body) return ConfigError(at, "missing");
  switch (p.type) {
    case T::kLatency:
      PHAROS_RETURN_IF_ERROR(OnlyKeys(body, at, {"threshold_ms", "upper_threshold_ms"}));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "threshold_ms", p.threshold_ms));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "upper_threshold_ms", p.upper_threshold_ms));
      break;
    case T::kStatusCode: {
      PHAROS_RETURN_IF_ERROR(OnlyKeys(body, at, {"status_codes"}));
      const YAML::Node codes = body["status_codes"];
      if (!codes || !codes.IsSequence())
        return ConfigError(at + ".status_codes", "expected a list");
      for (const auto& c : codes) {
        std::string code = c.as<std::string>();
        if (code != "ERROR" && code != "OK" && code != "UNSET")
          return ConfigError(at + ".status_codes",
                             fmt::format("\"{}\" is not ERROR, OK or UNSET", code));
        p.status_codes.push_back(code == "ERROR" ? 2 : code == "OK" ? 1 : 0);
      }
      break;
    }
    case T::kStringAttribute: {
      PHAROS_RETURN_IF_ERROR(OnlyKeys(
          body, at, {"key", "values", "enabled_regex_matching", "cache_max_size", "invert_match"}));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "key", p.key));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "enabled_regex_matching", p.regex));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "invert_match", p.invert));
      const YAML::Node values = body["values"];
      if (!values || !values.IsSequence()) return ConfigError(at + ".values", "expected a list");
      for (const auto& v : values) {
        p.values.push_back(v.as<std::string>());
        if (p.regex) {
          RE2::Options options;
          options.set_log_errors(false);
          auto re = std::make_shared<RE2>(p.values.back(), options);
          if (!re->ok()) return ConfigError(at + ".values", re->error());
          p.patterns.push_back(std::move(re));
        }
      }
      if (p.key.empty()) return ConfigError(at + ".key", "required");
      break;
    }
    case T::kNumericAttribute: {
      PHAROS_RETURN_IF_ERROR(OnlyKeys(body, at, {"key", "min_value", "max_value", "invert_match"}));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "key", p.key));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "invert_match", p.invert));
      int64_t lo = INT64_MIN, hi = INT64_MAX;
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "min_value", lo));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "max_value", hi));
      p.min_value = lo;
      p.max_value = hi;
      if (p.key.empty()) return ConfigError(at + ".key", "required");
      break;
    }
    case T::kProbabilistic:
      PHAROS_RETURN_IF_ERROR(OnlyKeys(body, at, {"sampling_percentage", "hash_salt"}));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "sampling_percentage", p.percentage));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "hash_salt", p.salt));
      if (p.percentage < 0 || p.percentage > 100)
        return ConfigError(at + ".sampling_percentage", "must be between 0 and 100");
      break;
    case T::kRateLimiting:
      PHAROS_RETURN_IF_ERROR(OnlyKeys(body, at, {"spans_per_second"}));
      PHAROS_RETURN_IF_ERROR(Scalar(body, at, "spans_per_second", p.spans_per_second));
      break;
    case T::kAnd: {
      PHAROS_RETURN_IF_ERROR(OnlyKeys(body, at, {"and_sub_policy"}));
      const YAML::Node subs = body["and_sub_policy"];
      if (!subs || !subs.IsSequence() || subs.size() == 0)
        return ConfigError(at + ".and_sub_policy", "expected a list of policies");
      for (size_t i = 0; i < subs.size(); ++i) {
        PHAROS_RETURN_IF_ERROR(ParsePolicy(subs[i], fmt::format("{}.and_sub_policy[{}]", at, i),
                                           p.sub.emplace_back(), depth + 1));
      }
      break;
    }
    case T::kAlwaysSample: break;
  }
  return Status::Ok();
}

uint64_t Fnv1a(std::string_view a, std::string_view b) {
  uint64_t h = 1469598103934665603ULL;
  for (std::string_view s : {a, b})
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace

Result<SamplingOptions> ParseTailSampling(std::string_view yaml) {
  SamplingOptions out;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("traces.tail_sampling: {}", e.what()));
  }
  if (!root.IsMap()) return InvalidArgument("traces.tail_sampling: expected a map");
  PHAROS_RETURN_IF_ERROR(OnlyKeys(
      root, "", {"decision_wait", "num_traces", "expected_new_traces_per_sec", "policies"}));
  if (const YAML::Node w = root["decision_wait"]) {
    Result<double> seconds = ParseGoDuration(w.as<std::string>());
    if (!seconds.ok() || *seconds <= 0)
      return ConfigError("decision_wait", "expected a positive duration (10s)");
    out.decision_wait = std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
  }
  PHAROS_RETURN_IF_ERROR(Scalar(root, "", "num_traces", out.num_traces));
  if (out.num_traces == 0) return ConfigError("num_traces", "must be positive");
  const YAML::Node policies = root["policies"];
  if (!policies || !policies.IsSequence() || policies.size() == 0)
    return ConfigError("policies", "expected a list of policies");
  for (size_t i = 0; i < policies.size(); ++i) {
    PHAROS_RETURN_IF_ERROR(
        ParsePolicy(policies[i], fmt::format("policies[{}]", i), out.policies.emplace_back(), 0));
  }
  return out;
}

TailSampler::TailSampler(SamplingOptions options, selfmon::Registry& registry,
                         model::SpansSink& next)
    : options_(std::move(options)),
      next_(next),
      traces_(registry.AddCounter("pharos_traces_sampling_traces_total",
                                  "Traces tail sampling decided, by decision (sampled, "
                                  "not_sampled, dropped_early: over num_traces before the wait "
                                  "ended).",
                                  {"decision"})),
      late_spans_(registry.AddCounter(
          "pharos_traces_sampling_late_spans_total",
          "Spans that arrived after their trace's decision, by decision.", {"decision"})) {
  decider_ = std::thread([this] {
    MutexLock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock.native(), std::chrono::milliseconds(200));
      if (stop_) break;
      lock.Unlock();
      Decide(NowNs());
      lock.Lock();
    }
  });
}

TailSampler::~TailSampler() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (decider_.joinable()) decider_.join();
}

int64_t TailSampler::NowNs() const {
  return options_.now_ns ? options_.now_ns()
                         : std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
}

Status TailSampler::AppendOtlpSpans(std::span<const model::ResourceSpans> groups,
                                    model::RecordsAppendResult& result) {
  result = model::RecordsAppendResult();
  const int64_t now = NowNs();
  Grouped late;  // spans of traces already sampled
  uint64_t late_sampled = 0, late_dropped = 0, dropped_early = 0;
  {
    MutexLock lock(mu_);
    const uint64_t export_id = ++exports_;
    for (const model::ResourceSpans& rs : groups) {
      for (const model::ScopeSpans& ss : rs.scopes) {
        for (const model::Span& span : ss.spans) {
          ++result.accepted;
          auto decided = decided_.find(span.trace_id);
          if (decided != decided_.end()) {
            if (decided->second) {
              ++late_sampled;
              Add(late, export_id, rs, ss, span);
            } else {
              ++late_dropped;
            }
            continue;
          }
          auto [it, added] = pending_.try_emplace(span.trace_id);
          if (added) {
            it->second.first_seen_ns = now;
            order_.push_back(span.trace_id);
          }
          Add(it->second.spans_by_group, export_id, rs, ss, span);
          ++it->second.spans;
        }
      }
    }
    // Over num_traces: the oldest traces go undecided (the Collector drops them too).
    while (pending_.size() > options_.num_traces && !order_.empty()) {
      auto oldest = pending_.find(order_.front());
      if (oldest != pending_.end()) {
        Remember(oldest->first, false);
        pending_.erase(oldest);
        ++dropped_early;
      }
      order_.pop_front();
    }
  }
  if (late_sampled) late_spans_.WithLabels({"sampled"}).Inc(static_cast<double>(late_sampled));
  if (late_dropped) late_spans_.WithLabels({"not_sampled"}).Inc(static_cast<double>(late_dropped));
  if (dropped_early) traces_.WithLabels({"dropped_early"}).Inc(static_cast<double>(dropped_early));
  if (late.groups.empty()) return Status::Ok();
  model::RecordsAppendResult stored;
  Status s = next_.AppendOtlpSpans(late.groups, stored);
  result.rejected += stored.rejected;
  result.errors = std::move(stored.errors);
  return s;
}

void TailSampler::Add(Grouped& into, uint64_t export_id, const model::ResourceSpans& rs,
                      const model::ScopeSpans& ss, const model::Span& span) {
  // Spans of one export and scope go into one group; another export or scope starts one.
  if (into.export_id != export_id || into.resource != &rs || into.scope != &ss) {
    model::ResourceSpans& g = into.groups.emplace_back();
    g.resource = rs.resource;
    g.scopes.emplace_back().scope = ss.scope;
    into.export_id = export_id;
    into.resource = &rs;
    into.scope = &ss;
  }
  into.groups.back().scopes.back().spans.push_back(span);
}

void TailSampler::Remember(const std::string& trace_id, bool sampled) {
  decided_[trace_id] = sampled;
  decided_order_.push_back(trace_id);
  // Decisions are kept for as many traces again as may wait (late spans follow them).
  while (decided_order_.size() > options_.num_traces) {
    decided_.erase(decided_order_.front());
    decided_order_.pop_front();
  }
}

size_t TailSampler::Pending() {
  MutexLock lock(mu_);
  return pending_.size();
}

namespace {

// Whether a string or int attribute of the trace (its spans' or their resources') matches.
template <typename Match>
bool AnyAttribute(const std::vector<model::ResourceSpans>& groups, const std::string& key,
                  Match match) {
  for (const model::ResourceSpans& rs : groups) {
    if (const model::AnyValue* v = model::FindAttribute(rs.resource.attributes, key);
        v != nullptr && match(*v))
      return true;
    for (const model::ScopeSpans& ss : rs.scopes)
      for (const model::Span& s : ss.spans)
        if (const model::AnyValue* v = model::FindAttribute(s.attributes, key);
            v != nullptr && match(*v))
          return true;
  }
  return false;
}

}  // namespace

TailSampler::Verdict TailSampler::Judge(const SamplingPolicy& p, const TraceFacts& t) {
  using T = SamplingPolicy::Type;
  switch (p.type) {
    case T::kAlwaysSample: return Verdict::kSampled;
    case T::kLatency: {
      int64_t ms = (t.end_ns - t.start_ns) / 1'000'000;
      bool hit = ms >= p.threshold_ms && (p.upper_threshold_ms == 0 || ms < p.upper_threshold_ms);
      return hit ? Verdict::kSampled : Verdict::kNotSampled;
    }
    case T::kStatusCode:
      for (const model::ResourceSpans& rs : *t.groups)
        for (const model::ScopeSpans& ss : rs.scopes)
          for (const model::Span& s : ss.spans)
            if (std::find(p.status_codes.begin(), p.status_codes.end(), s.status_code) !=
                p.status_codes.end())
              return Verdict::kSampled;
      return Verdict::kNotSampled;
    case T::kStringAttribute: {
      bool hit = AnyAttribute(*t.groups, p.key, [&](const model::AnyValue& v) {
        if (v.type != model::AnyValue::Type::kString) return false;
        if (p.regex) {
          for (const auto& re : p.patterns)
            if (RE2::FullMatch(v.str, *re)) return true;
          return false;
        }
        return std::find(p.values.begin(), p.values.end(), v.str) != p.values.end();
      });
      if (p.invert) return hit ? Verdict::kInvertNotSampled : Verdict::kInvertSampled;
      return hit ? Verdict::kSampled : Verdict::kNotSampled;
    }
    case T::kNumericAttribute: {
      bool hit = AnyAttribute(*t.groups, p.key, [&](const model::AnyValue& v) {
        return v.type == model::AnyValue::Type::kInt && v.i >= p.min_value && v.i <= p.max_value;
      });
      if (p.invert) return hit ? Verdict::kInvertNotSampled : Verdict::kInvertSampled;
      return hit ? Verdict::kSampled : Verdict::kNotSampled;
    }
    case T::kProbabilistic: {
      // The trace id's hash against the percentage: a trace gets the same answer each time.
      double at = static_cast<double>(Fnv1a(p.salt, *t.trace_id) % 1'000'000) / 1e4;
      return at < p.percentage ? Verdict::kSampled : Verdict::kNotSampled;
    }
    case T::kRateLimiting: {
      RateWindow& w = rates_[&p];
      int64_t second = t.now_ns / 1'000'000'000;
      if (w.second != second) {
        w.second = second;
        w.spans = 0;
      }
      if (w.spans + static_cast<int64_t>(t.spans) > p.spans_per_second) return Verdict::kNotSampled;
      w.spans += static_cast<int64_t>(t.spans);
      return Verdict::kSampled;
    }
    case T::kAnd:
      for (const SamplingPolicy& sub : p.sub) {
        Verdict v = Judge(sub, t);
        if (v == Verdict::kNotSampled || v == Verdict::kInvertNotSampled)
          return Verdict::kNotSampled;
      }
      return Verdict::kSampled;
  }
  return Verdict::kNotSampled;
}

bool TailSampler::Sample(const std::string& trace_id,
                         const std::vector<model::ResourceSpans>& groups, uint64_t spans,
                         int64_t now_ns) {
  TraceFacts t{&trace_id, &groups, spans, now_ns, INT64_MAX, INT64_MIN};
  for (const model::ResourceSpans& rs : groups)
    for (const model::ScopeSpans& ss : rs.scopes)
      for (const model::Span& s : ss.spans) {
        t.start_ns = std::min(t.start_ns, static_cast<int64_t>(s.start_time_unix_nano));
        t.end_ns = std::max(t.end_ns, static_cast<int64_t>(s.end_time_unix_nano));
      }
  // As the Collector decides: an inverted "not sampled" wins over any sample.
  bool sampled = false;
  for (const SamplingPolicy& p : options_.policies) {
    Verdict v = Judge(p, t);
    if (v == Verdict::kInvertNotSampled) return false;
    sampled |= v == Verdict::kSampled || v == Verdict::kInvertSampled;
  }
  return sampled;
}

void TailSampler::Decide(int64_t now_ns) {
  const int64_t wait_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.decision_wait).count();
  std::vector<model::ResourceSpans> keep;
  uint64_t sampled = 0, not_sampled = 0;
  {
    MutexLock lock(mu_);
    while (!order_.empty()) {
      auto it = pending_.find(order_.front());
      if (it == pending_.end()) {  // dropped early
        order_.pop_front();
        continue;
      }
      if (now_ns - it->second.first_seen_ns < wait_ns) break;  // the rest are younger
      bool yes = Sample(it->first, it->second.spans_by_group.groups, it->second.spans, now_ns);
      Remember(it->first, yes);
      if (yes) {
        ++sampled;
        for (model::ResourceSpans& g : it->second.spans_by_group.groups)
          keep.push_back(std::move(g));
      } else {
        ++not_sampled;
      }
      pending_.erase(it);
      order_.pop_front();
    }
  }
  if (sampled) traces_.WithLabels({"sampled"}).Inc(static_cast<double>(sampled));
  if (not_sampled) traces_.WithLabels({"not_sampled"}).Inc(static_cast<double>(not_sampled));
  if (keep.empty()) return;
  model::RecordsAppendResult stored;
  if (Status s = next_.AppendOtlpSpans(keep, stored); !s.ok())
    LogError("storing sampled traces failed", {{"error", s.message()}});
}

}  // namespace pharos::traces

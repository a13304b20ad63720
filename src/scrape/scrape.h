// scrape: pulls metrics from targets in Prometheus's way and appends them to the TSDB.
//
// Contract:
// - Relabel() applies Prometheus relabel_configs to a label set (sorted by name) and says
//   whether it survives; regexes are RE2, fully anchored, replacements expand $1, ${1},
//   $name and ${name} as Go's regexp does.
// - A Scraper owns one thread that runs every target on its interval (spread by a
//   per-target offset), with the timeout bounding the whole HTTP exchange. Each scrape
//   writes its samples plus up, scrape_duration_seconds, scrape_samples_scraped,
//   scrape_samples_post_metric_relabeling and scrape_series_added, and a staleness marker
//   for every series that was in the previous scrape but not in this one (all of them when
//   the scrape fails or the target goes away at Stop()).
// - Targets() is safe from any thread. Stop() is idempotent and waits for the thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "ingest/ingest.h"
#include "model/model.h"
#include "selfmon/metrics.h"

namespace re2 {
class RE2;
}

namespace pharos::scrape {

struct CompiledRelabel {
  config::RelabelConfig config;
  std::shared_ptr<const re2::RE2> regex;
};

/// Compiles the regexes; errors name the step ("relabel_configs[2].regex: ...").
Result<std::vector<CompiledRelabel>> CompileRelabel(const std::vector<config::RelabelConfig>& steps,
                                                    std::string_view what);

/// Applies `steps` in order. Returns false when a keep/drop step drops the set. `labels`
/// stays sorted by name, without empty values.
bool Relabel(const std::vector<CompiledRelabel>& steps, model::Labels& labels);

struct TargetStatus {
  std::string job;
  std::string url;
  model::Labels labels;  // after relabeling: job, instance and the rest
  std::string health;    // "unknown", "up", "down"
  std::string last_error;
  int64_t last_scrape_ms = 0;
  double last_duration_seconds = 0;
  uint64_t last_samples = 0;
  Duration interval{0};
  Duration timeout{0};
};

class Scraper {
 public:
  virtual ~Scraper() = default;

  /// Builds the targets of every scrape config (relabeling them) and, when
  /// config.global.scrape_self, an in-process target that reads `self_metrics()`.
  static Result<std::unique_ptr<Scraper>> Create(const config::Config& config,
                                                 model::MetricsSink& db,
                                                 selfmon::Registry& registry,
                                                 std::function<std::string()> self_metrics,
                                                 std::string self_instance);

  virtual void Start() = 0;
  virtual void Stop() = 0;
  virtual std::vector<TargetStatus> Targets() const = 0;
  /// The # TYPE / # HELP / # UNIT of every family the last scrape of each target exposed,
  /// as /api/v1/metadata reports them (one entry per distinct type, help and unit).
  virtual std::vector<ingest::FamilyMetadata> Metadata() const = 0;
};

}  // namespace pharos::scrape

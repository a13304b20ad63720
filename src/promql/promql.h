// promql: the PromQL language. So far: series selectors, as used by match[] parameters
// (`up`, `up{job="api"}`, `{__name__=~"http_.*", code!="200"}`).
//
// Contract: pure functions; errors are InvalidArgument with the position and what was
// found, in Prometheus's words where it has them ("1:5: parse error: unexpected ...").
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"
#include "tsdb/tsdb.h"

namespace pharos::promql {

/// Parses a series selector into matchers. A bare metric name becomes __name__="name".
/// At least one matcher must not match the empty string, as Prometheus requires.
Result<std::vector<tsdb::Matcher>> ParseSeriesSelector(std::string_view text);

}  // namespace pharos::promql

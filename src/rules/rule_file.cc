// Rule files: Prometheus's YAML format, checked as promtool checks it.
#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/strings.h"
#include "logql/logql.h"
#include "promql/promql.h"
#include "rules/rules.h"
#include "rules/template.h"

namespace pharos::rules {
namespace {

class Checker {
 public:
  explicit Checker(const std::string& file) : file_(file) {}

  void Error(const YAML::Node& node, const std::string& message) {
    int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    errors_.push_back(fmt::format("{}:{}: {}", file_, line, message));
  }
  void Error(int line, const std::string& message) {
    errors_.push_back(fmt::format("{}:{}: {}", file_, line, message));
  }
  bool ok() const { return errors_.empty(); }
  std::string Joined() const {
    std::string out;
    for (const std::string& e : errors_) {
      if (!out.empty()) out += '\n';
      out += e;
    }
    return out;
  }

  bool Scalar(const YAML::Node& node, std::string_view what, std::string& out) {
    if (!node.IsScalar()) {
      Error(node, fmt::format("{} must be a string", what));
      return false;
    }
    out = node.Scalar();
    return true;
  }

  bool Duration(const YAML::Node& node, std::string_view what, int64_t& ms) {
    std::string text;
    if (!Scalar(node, what, text)) return false;
    Result<pharos::Duration> d = ParseDuration(text);
    if (!d.ok()) {
      Error(node, fmt::format("{}: not a valid duration string: \"{}\"", what, text));
      return false;
    }
    ms = d->count();
    return true;
  }

  bool Map(const YAML::Node& node, std::string_view what, LabelPairs& out) {
    if (node.IsNull()) return true;
    if (!node.IsMap()) {
      Error(node, fmt::format("{} must be a map of strings", what));
      return false;
    }
    for (const auto& kv : node) {
      if (!kv.first.IsScalar() || !(kv.second.IsScalar() || kv.second.IsNull())) {
        Error(kv.first, fmt::format("{} must be a map of strings", what));
        return false;
      }
      out.emplace_back(kv.first.Scalar(), kv.second.IsNull() ? "" : kv.second.Scalar());
    }
    return true;
  }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

void CheckTemplates(Checker& c, int line, const std::string& where, const LabelPairs& pairs,
                    std::string_view kind) {
  for (const auto& [name, text] : pairs) {
    Result<Template> t = Template::Parse(text);
    if (!t.ok()) {
      c.Error(line, fmt::format("{}: {} \"{}\": {}", where, kind, name, t.status().message()));
    }
  }
}

void ParseRule(Checker& c, const YAML::Node& node, const std::string& where, RuleSpec& rule,
               RuleLanguage language) {
  rule.line = node.Mark().line + 1;
  if (!node.IsMap()) {
    c.Error(node, where + ": a rule must be a map");
    return;
  }
  YAML::Node expr_node;
  for (const auto& kv : node) {
    std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (key == "record") {
      c.Scalar(v, "record", rule.record);
    } else if (key == "alert") {
      c.Scalar(v, "alert", rule.alert);
    } else if (key == "expr") {
      expr_node = v;
      c.Scalar(v, "expr", rule.expr);
    } else if (key == "for") {
      c.Duration(v, "for", rule.for_ms);
    } else if (key == "keep_firing_for") {
      c.Duration(v, "keep_firing_for", rule.keep_firing_for_ms);
    } else if (key == "labels") {
      c.Map(v, "labels", rule.labels);
    } else if (key == "annotations") {
      c.Map(v, "annotations", rule.annotations);
    } else {
      c.Error(kv.first, fmt::format("{}: field {} not found in a rule", where, key));
    }
  }
  std::string named = rule.name().empty() ? where : fmt::format("{}, \"{}\"", where, rule.name());
  if (!rule.record.empty() && !rule.alert.empty()) {
    c.Error(rule.line, named + ": only one of 'record' and 'alert' must be set");
  } else if (rule.record.empty() && rule.alert.empty()) {
    c.Error(rule.line, named + ": one of 'record' or 'alert' must be set");
  }
  if (rule.expr.empty()) {
    c.Error(rule.line, named + ": field 'expr' must be set in rule");
  } else if (language == RuleLanguage::kLogql) {
    Result<logql::ExprPtr> parsed = logql::ParseExpr(rule.expr);
    if (!parsed.ok()) {
      c.Error(expr_node,
              named + ": could not parse LogQL expression: " + parsed.status().message());
    } else if ((*parsed)->kind == logql::NodeKind::kLog) {
      c.Error(expr_node, named +
                             ": a log query has no value; use a metric query such as "
                             "count_over_time({...}[5m])");
    }
  } else {
    Result<promql::ExprPtr> parsed = promql::ParseExpr(rule.expr);
    if (!parsed.ok()) {
      c.Error(expr_node, named + ": could not parse expression: " + parsed.status().message());
    } else if (!rule.record.empty() || !rule.alert.empty()) {
      promql::ValueType type = promql::TypeOf(**parsed);
      if (type != promql::ValueType::kVector && type != promql::ValueType::kScalar) {
        c.Error(expr_node, named + ": the expression must return an instant vector or a scalar");
      }
    }
  }
  if (!rule.record.empty()) {
    if (!IsValidMetricName(rule.record)) {
      c.Error(rule.line, named + ": invalid recording rule name: " + rule.record);
    }
    if (!rule.annotations.empty()) {
      c.Error(rule.line, named + ": invalid field 'annotations' in recording rule");
    }
    if (rule.for_ms != 0) c.Error(rule.line, named + ": invalid field 'for' in recording rule");
    if (rule.keep_firing_for_ms != 0) {
      c.Error(rule.line, named + ": invalid field 'keep_firing_for' in recording rule");
    }
  }
  for (const auto& [name, value] : rule.labels) {
    if (!IsValidLabelName(name)) c.Error(rule.line, named + ": invalid label name: " + name);
    if (name == "__name__") c.Error(rule.line, named + ": label __name__ is not allowed");
  }
  for (const auto& [name, value] : rule.annotations) {
    if (!IsValidLabelName(name)) c.Error(rule.line, named + ": invalid annotation name: " + name);
  }
  if (!rule.alert.empty()) {
    CheckTemplates(c, rule.line, named, rule.labels, "label");
    CheckTemplates(c, rule.line, named, rule.annotations, "annotation");
  }
}

}  // namespace

Result<std::vector<GroupSpec>> ParseRuleFile(std::string_view text, const std::string& file,
                                             RuleLanguage language) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("{}:{}: {}", file, e.mark.line + 1, e.msg));
  }
  std::vector<GroupSpec> groups;
  if (root.IsNull()) return groups;
  Checker c(file);
  if (!root.IsMap()) {
    c.Error(root, "a rule file must be a map with 'groups'");
    return InvalidArgument(c.Joined());
  }
  std::set<std::string> names;
  for (const auto& top : root) {
    if (top.first.Scalar() != "groups") {
      c.Error(top.first, fmt::format("field {} not found in a rule file", top.first.Scalar()));
      continue;
    }
    if (top.second.IsNull()) continue;
    if (!top.second.IsSequence()) {
      c.Error(top.second, "groups must be a list");
      continue;
    }
    for (const YAML::Node& g : top.second) {
      GroupSpec group;
      group.file = file;
      group.line = g.Mark().line + 1;
      if (!g.IsMap()) {
        c.Error(g, "a group must be a map");
        continue;
      }
      YAML::Node rules;
      for (const auto& kv : g) {
        std::string key = kv.first.Scalar();
        if (key == "name") {
          c.Scalar(kv.second, "name", group.name);
        } else if (key == "interval") {
          c.Duration(kv.second, "interval", group.interval_ms);
        } else if (key == "query_offset") {
          c.Duration(kv.second, "query_offset", group.query_offset_ms);
        } else if (key == "limit") {
          std::string text;
          if (c.Scalar(kv.second, "limit", text)) {
            char* end = nullptr;
            long long n = std::strtoll(text.c_str(), &end, 10);
            if (text.empty() || *end != '\0' || n < 0) {
              c.Error(kv.second, "limit must be a non-negative integer");
            } else {
              group.limit = n;
            }
          }
        } else if (key == "labels") {
          c.Map(kv.second, "labels", group.labels);
        } else if (key == "rules") {
          rules = kv.second;
        } else {
          c.Error(kv.first, fmt::format("field {} not found in a rule group", key));
        }
      }
      if (group.name.empty()) {
        c.Error(group.line, "Groupname must not be empty");
      } else if (!names.insert(group.name).second) {
        c.Error(group.line,
                fmt::format("groupname: \"{}\" is repeated in the same file", group.name));
      }
      if (rules.IsDefined() && !rules.IsNull()) {
        if (!rules.IsSequence()) {
          c.Error(rules, "rules must be a list");
        } else {
          int index = 0;
          for (const YAML::Node& r : rules) {
            ++index;
            RuleSpec rule;
            ParseRule(c, r, fmt::format("group \"{}\", rule {}", group.name, index), rule,
                      language);
            group.rules.push_back(std::move(rule));
          }
        }
      }
      group.logql = language == RuleLanguage::kLogql;
      groups.push_back(std::move(group));
    }
  }
  if (!c.ok()) return InvalidArgument(c.Joined());
  return groups;
}

Result<std::vector<GroupSpec>> LoadRuleFile(const std::string& path, RuleLanguage language) {
  std::ifstream in(path);
  if (!in) return NotFound(fmt::format("{}: cannot read the rule file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseRuleFile(ss.str(), path, language);
}

Result<std::vector<std::string>> ExpandRuleFiles(const std::vector<std::string>& patterns,
                                                 const std::string& base_dir) {
  std::set<std::string> files;
  for (const std::string& pattern : patterns) {
    std::filesystem::path p(pattern);
    if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
    std::string full = p.lexically_normal().string();
    if (full.find_first_of("*?[") == std::string::npos) {
      if (!std::filesystem::exists(full)) {
        return NotFound(fmt::format("rule_files: \"{}\" does not exist", pattern));
      }
      files.insert(full);
      continue;
    }
    glob_t g{};
    int rc = ::glob(full.c_str(), 0, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) files.insert(g.gl_pathv[i]);
    }
    globfree(&g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
      return InvalidArgument(fmt::format("rule_files: bad pattern \"{}\"", pattern));
    }
  }
  return std::vector<std::string>(files.begin(), files.end());
}

std::string_view AlertStateName(AlertState state) {
  switch (state) {
    case AlertState::kInactive: return "inactive";
    case AlertState::kPending: return "pending";
    case AlertState::kFiring: return "firing";
  }
  return "inactive";
}

}  // namespace pharos::rules

// Alertmanager's configuration format, parsed and checked.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "alerting/alerting.h"
#include "common/strings.h"
#include "common/units.h"

namespace pharos::alerting {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  Status Fail(const std::string& path, const std::string& message) const {
    return InvalidArgument(fmt::format("{}: {}: {}", source_, path, message));
  }

  Status String(const YAML::Node& n, const std::string& path, std::string& out) const {
    if (!n.IsScalar()) return Fail(path, "must be a string");
    out = n.Scalar();
    return Status::Ok();
  }
  Status Bool(const YAML::Node& n, const std::string& path, bool& out) const {
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false")) {
      return Fail(path, "must be true or false");
    }
    out = n.Scalar() == "true";
    return Status::Ok();
  }
  Status Dur(const YAML::Node& n, const std::string& path, int64_t& ms) const {
    std::string text;
    PHAROS_RETURN_IF_ERROR(String(n, path, text));
    Result<Duration> d = ParseDuration(text);
    if (!d.ok()) return Fail(path, d.status().message());
    ms = d->count();
    return Status::Ok();
  }
  Status Strings(const YAML::Node& n, const std::string& path,
                 std::vector<std::string>& out) const {
    if (!n.IsSequence()) return Fail(path, "must be a list of strings");
    for (size_t i = 0; i < n.size(); ++i) {
      std::string s;
      PHAROS_RETURN_IF_ERROR(String(n[i], fmt::format("{}[{}]", path, i), s));
      out.push_back(std::move(s));
    }
    return Status::Ok();
  }
  Status Matchers(const YAML::Node& n, const std::string& path,
                  std::vector<model::Matcher>& out) const {
    std::vector<std::string> texts;
    PHAROS_RETURN_IF_ERROR(Strings(n, path, texts));
    for (size_t i = 0; i < texts.size(); ++i) {
      Result<std::vector<model::Matcher>> m = ParseMatchers(texts[i]);
      if (!m.ok()) return Fail(fmt::format("{}[{}]", path, i), m.status().message());
      for (auto& x : *m) out.push_back(std::move(x));
    }
    return Status::Ok();
  }
  // The deprecated match / match_re maps.
  Status MatchMap(const YAML::Node& n, const std::string& path, bool regex,
                  std::vector<model::Matcher>& out) const {
    if (!n.IsMap()) return Fail(path, "must be a map of label names to values");
    for (const auto& kv : n) {
      Result<model::Matcher> m =
          MakeMatcher(regex ? model::MatchType::kRegexMatch : model::MatchType::kEqual,
                      kv.first.Scalar(), kv.second.Scalar());
      if (!m.ok()) return Fail(path + "." + kv.first.Scalar(), m.status().message());
      out.push_back(std::move(*m));
    }
    return Status::Ok();
  }
  Status Auth(const YAML::Node& n, const std::string& path, HttpAuth& auth) const {
    if (!n.IsMap()) return Fail(path, "must be a map");
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      std::string p = path + "." + key;
      if (key == "bearer_token") {
        PHAROS_RETURN_IF_ERROR(String(kv.second, p, auth.bearer_token));
      } else if (key == "authorization") {
        if (kv.second["credentials"]) {
          PHAROS_RETURN_IF_ERROR(
              String(kv.second["credentials"], p + ".credentials", auth.bearer_token));
        }
      } else if (key == "basic_auth") {
        if (kv.second["username"]) {
          PHAROS_RETURN_IF_ERROR(String(kv.second["username"], p + ".username", auth.username));
        }
        if (kv.second["password"]) {
          PHAROS_RETURN_IF_ERROR(String(kv.second["password"], p + ".password", auth.password));
        }
      } else if (key == "follow_redirects" || key == "enable_http2" || key == "tls_config" ||
                 key == "proxy_url") {
        // Accepted for compatibility; Pharos's client does not use them.
      } else {
        return Fail(p, "unknown field");
      }
    }
    return Status::Ok();
  }

  Status ParseRoute(const YAML::Node& n, const std::string& path, const Route* parent,
                    Route& r) const {
    if (!n.IsMap()) return Fail(path, "must be a map");
    if (parent) {
      r.receiver = parent->receiver;
      r.group_by = parent->group_by;
      r.group_by_all = parent->group_by_all;
      r.group_wait_ms = parent->group_wait_ms;
      r.group_interval_ms = parent->group_interval_ms;
      r.repeat_interval_ms = parent->repeat_interval_ms;
    }
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      std::string p = path + "." + key;
      if (key == "receiver") {
        PHAROS_RETURN_IF_ERROR(String(kv.second, p, r.receiver));
      } else if (key == "group_by") {
        r.group_by.clear();
        r.group_by_all = false;
        std::vector<std::string> by;
        PHAROS_RETURN_IF_ERROR(Strings(kv.second, p, by));
        for (const std::string& name : by) {
          if (name == "...") {
            r.group_by_all = true;
          } else if (!IsValidLabelName(name)) {
            return Fail(p, fmt::format("invalid label name \"{}\"", name));
          } else {
            r.group_by.push_back(name);
          }
        }
      } else if (key == "continue") {
        PHAROS_RETURN_IF_ERROR(Bool(kv.second, p, r.continue_matching));
      } else if (key == "matchers") {
        PHAROS_RETURN_IF_ERROR(Matchers(kv.second, p, r.matchers));
      } else if (key == "match") {
        PHAROS_RETURN_IF_ERROR(MatchMap(kv.second, p, false, r.matchers));
      } else if (key == "match_re") {
        PHAROS_RETURN_IF_ERROR(MatchMap(kv.second, p, true, r.matchers));
      } else if (key == "group_wait") {
        PHAROS_RETURN_IF_ERROR(Dur(kv.second, p, r.group_wait_ms));
      } else if (key == "group_interval") {
        PHAROS_RETURN_IF_ERROR(Dur(kv.second, p, r.group_interval_ms));
        if (r.group_interval_ms <= 0) return Fail(p, "must be greater than 0");
      } else if (key == "repeat_interval") {
        PHAROS_RETURN_IF_ERROR(Dur(kv.second, p, r.repeat_interval_ms));
        if (r.repeat_interval_ms <= 0) return Fail(p, "must be greater than 0");
      } else if (key == "mute_time_intervals") {
        PHAROS_RETURN_IF_ERROR(Strings(kv.second, p, r.mute_time_intervals));
      } else if (key == "active_time_intervals") {
        PHAROS_RETURN_IF_ERROR(Strings(kv.second, p, r.active_time_intervals));
      } else if (key != "routes") {
        return Fail(p, "unknown field");
      }
    }
    std::string matchers = FormatMatchers(r.matchers);
    r.key = parent ? parent->key + "/" + matchers : matchers;
    if (n["routes"]) {
      const YAML::Node& routes = n["routes"];
      if (!routes.IsSequence()) return Fail(path + ".routes", "must be a list");
      for (size_t i = 0; i < routes.size(); ++i) {
        Route child;
        PHAROS_RETURN_IF_ERROR(
            ParseRoute(routes[i], fmt::format("{}.routes[{}]", path, i), &r, child));
        r.routes.push_back(std::move(child));
      }
    }
    return Status::Ok();
  }

  Status ParseReceiver(const YAML::Node& n, const std::string& path, Receiver& r,
                       const std::map<std::string, std::string>& global) const {
    if (!n.IsMap()) return Fail(path, "must be a map");
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      std::string p = path + "." + key;
      if (key == "name") {
        PHAROS_RETURN_IF_ERROR(String(kv.second, p, r.name));
      } else if (key == "webhook_configs") {
        if (!kv.second.IsSequence()) return Fail(p, "must be a list");
        for (size_t i = 0; i < kv.second.size(); ++i) {
          WebhookConfig w;
          std::string ip = fmt::format("{}[{}]", p, i);
          for (const auto& f : kv.second[i]) {
            std::string fk = f.first.Scalar();
            if (fk == "url") {
              PHAROS_RETURN_IF_ERROR(String(f.second, ip + ".url", w.url));
            } else if (fk == "send_resolved") {
              PHAROS_RETURN_IF_ERROR(Bool(f.second, ip + ".send_resolved", w.send_resolved));
            } else if (fk == "max_alerts") {
              w.max_alerts = f.second.as<uint64_t>(0);
            } else if (fk == "http_config") {
              PHAROS_RETURN_IF_ERROR(Auth(f.second, ip + ".http_config", w.auth));
            } else if (fk != "url_file" && fk != "timeout") {
              return Fail(ip + "." + fk, "unknown field");
            }
          }
          if (w.url.rfind("http://", 0) != 0 && w.url.rfind("https://", 0) != 0) {
            return Fail(ip + ".url", "must be an http:// or https:// URL");
          }
          r.webhooks.push_back(std::move(w));
        }
      } else if (key == "alertmanager_configs") {
        if (!kv.second.IsSequence()) return Fail(p, "must be a list");
        for (size_t i = 0; i < kv.second.size(); ++i) {
          AlertmanagerConfig a;
          std::string ip = fmt::format("{}[{}]", p, i);
          for (const auto& f : kv.second[i]) {
            std::string fk = f.first.Scalar();
            if (fk == "url") {
              PHAROS_RETURN_IF_ERROR(String(f.second, ip + ".url", a.url));
            } else if (fk == "send_resolved") {
              PHAROS_RETURN_IF_ERROR(Bool(f.second, ip + ".send_resolved", a.send_resolved));
            } else if (fk == "http_config") {
              PHAROS_RETURN_IF_ERROR(Auth(f.second, ip + ".http_config", a.auth));
            } else {
              return Fail(ip + "." + fk, "unknown field");
            }
          }
          if (a.url.rfind("http://", 0) != 0 && a.url.rfind("https://", 0) != 0) {
            return Fail(ip + ".url", "must be an http:// or https:// URL");
          }
          r.alertmanagers.push_back(std::move(a));
        }
      } else if (key == "email_configs") {
        if (!kv.second.IsSequence()) return Fail(p, "must be a list");
        for (size_t i = 0; i < kv.second.size(); ++i) {
          EmailConfig e;
          auto g = [&](const char* k) {
            auto it = global.find(k);
            return it == global.end() ? std::string() : it->second;
          };
          e.from = g("smtp_from");
          e.smarthost = g("smtp_smarthost");
          if (!g("smtp_hello").empty()) e.hello = g("smtp_hello");
          e.auth_username = g("smtp_auth_username");
          e.auth_password = g("smtp_auth_password");
          if (!g("smtp_require_tls").empty()) e.require_tls = g("smtp_require_tls") == "true";
          std::string ip = fmt::format("{}[{}]", p, i);
          for (const auto& f : kv.second[i]) {
            std::string fk = f.first.Scalar();
            std::string fp = ip + "." + fk;
            if (fk == "to") {
              PHAROS_RETURN_IF_ERROR(String(f.second, fp, e.to));
            } else if (fk == "from") {
              PHAROS_RETURN_IF_ERROR(String(f.second, fp, e.from));
            } else if (fk == "smarthost") {
              PHAROS_RETURN_IF_ERROR(String(f.second, fp, e.smarthost));
            } else if (fk == "hello") {
              PHAROS_RETURN_IF_ERROR(String(f.second, fp, e.hello));
            } else if (fk == "auth_username") {
              PHAROS_RETURN_IF_ERROR(String(f.second, fp, e.auth_username));
            } else if (fk == "auth_password") {
              PHAROS_RETURN_IF_ERROR(String(f.second, fp, e.auth_password));
            } else if (fk == "require_tls") {
              PHAROS_RETURN_IF_ERROR(Bool(f.second, fp, e.require_tls));
            } else if (fk == "send_resolved") {
              PHAROS_RETURN_IF_ERROR(Bool(f.second, fp, e.send_resolved));
            } else if (fk == "headers") {
              for (const auto& h : f.second)
                e.headers.emplace_back(h.first.Scalar(), h.second.Scalar());
            } else if (fk != "html" && fk != "text" && fk != "auth_identity" &&
                       fk != "auth_secret" && fk != "tls_config") {
              return Fail(fp, "unknown field");
            }
          }
          if (e.to.empty()) return Fail(ip + ".to", "missing the recipient address");
          if (e.from.empty()) return Fail(ip + ".from", "missing (set it or global.smtp_from)");
          if (e.smarthost.find(':') == std::string::npos) {
            return Fail(ip + ".smarthost", "must be host:port (set it or global.smtp_smarthost)");
          }
          r.emails.push_back(std::move(e));
        }
      } else if (key.size() > 8 && key.substr(key.size() - 8) == "_configs") {
        return Fail(p,
                    "this receiver kind is not supported by Pharos (webhook_configs, "
                    "email_configs and alertmanager_configs are)");
      } else {
        return Fail(p, "unknown field");
      }
    }
    if (r.name.empty()) return Fail(path + ".name", "a receiver needs a name");
    return Status::Ok();
  }

  Status ParseRange(const std::string& text, const std::string& path, int lo, int hi,
                    const std::vector<std::string_view>& names, std::pair<int, int>& out) const {
    auto one = [&](std::string_view s, int& v) -> Status {
      s = Trim(s);
      for (size_t i = 0; i < names.size(); ++i) {
        if (EqualsIgnoreCase(s, names[i])) {
          v = static_cast<int>(i) + lo;
          return Status::Ok();
        }
      }
      char* end = nullptr;
      std::string str(s);
      long n = std::strtol(str.c_str(), &end, 10);
      if (str.empty() || *end != '\0') return Fail(path, fmt::format("invalid value \"{}\"", str));
      if (!(n >= lo && n <= hi) && !(lo == 1 && hi == 31 && n <= -1 && n >= -31)) {
        return Fail(path, fmt::format("{} is out of range", n));
      }
      v = static_cast<int>(n);
      return Status::Ok();
    };
    size_t colon = text.find(':');
    PHAROS_RETURN_IF_ERROR(one(text.substr(0, colon), out.first));
    out.second = out.first;
    if (colon != std::string::npos) PHAROS_RETURN_IF_ERROR(one(text.substr(colon + 1), out.second));
    return Status::Ok();
  }

  Status ParseInterval(const YAML::Node& n, const std::string& path, TimeInterval& ti) const {
    static const std::vector<std::string_view> kWeekdays = {
        "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};
    static const std::vector<std::string_view> kMonths = {
        "january", "february", "march",     "april",   "may",      "june",
        "july",    "august",   "september", "october", "november", "december"};
    for (const auto& kv : n) {
      std::string key = kv.first.Scalar();
      std::string p = path + "." + key;
      if (key == "times") {
        for (size_t i = 0; i < kv.second.size(); ++i) {
          auto minutes = [&](const YAML::Node& t, const std::string& tp, int& out) -> Status {
            std::string s;
            PHAROS_RETURN_IF_ERROR(String(t, tp, s));
            int h = 0, m = 0;
            if (std::sscanf(s.c_str(), "%d:%d", &h, &m) != 2 || h < 0 || h > 24 || m < 0 ||
                m > 59 || (h == 24 && m != 0)) {
              return Fail(tp, fmt::format("invalid time \"{}\" (HH:MM)", s));
            }
            out = h * 60 + m;
            return Status::Ok();
          };
          std::pair<int, int> range;
          std::string tp = fmt::format("{}[{}]", p, i);
          PHAROS_RETURN_IF_ERROR(
              minutes(kv.second[i]["start_time"], tp + ".start_time", range.first));
          PHAROS_RETURN_IF_ERROR(minutes(kv.second[i]["end_time"], tp + ".end_time", range.second));
          if (range.second <= range.first) return Fail(tp, "end_time must be after start_time");
          ti.times.push_back(range);
        }
      } else if (key == "weekdays" || key == "days_of_month" || key == "months" || key == "years") {
        std::vector<std::string> items;
        PHAROS_RETURN_IF_ERROR(Strings(kv.second, p, items));
        for (const std::string& item : items) {
          std::pair<int, int> range;
          if (key == "weekdays") {
            PHAROS_RETURN_IF_ERROR(ParseRange(item, p, 0, 6, kWeekdays, range));
            ti.weekdays.push_back(range);
          } else if (key == "days_of_month") {
            PHAROS_RETURN_IF_ERROR(ParseRange(item, p, 1, 31, {}, range));
            ti.days_of_month.push_back(range);
          } else if (key == "months") {
            PHAROS_RETURN_IF_ERROR(ParseRange(item, p, 1, 12, kMonths, range));
            ti.months.push_back(range);
          } else {
            PHAROS_RETURN_IF_ERROR(ParseRange(item, p, 0, 9999, {}, range));
            ti.years.push_back(range);
          }
        }
      } else if (key == "location") {
        std::string loc;
        PHAROS_RETURN_IF_ERROR(String(kv.second, p, loc));
        if (loc != "UTC" && loc != "Local" && loc != "Etc/UTC") {
          return Fail(p, "only UTC is supported");
        }
      } else {
        return Fail(p, "unknown field");
      }
    }
    return Status::Ok();
  }

 private:
  std::string_view source_;
};

Status CheckRouteReceivers(const Route& r, const std::set<std::string>& receivers, const Config& c,
                           const Parser& p, const std::string& path) {
  if (!receivers.count(r.receiver)) {
    return p.Fail(path + ".receiver", fmt::format("undefined receiver \"{}\"", r.receiver));
  }
  for (const std::string& name : r.mute_time_intervals) {
    if (!c.time_intervals.count(name)) {
      return p.Fail(path + ".mute_time_intervals",
                    fmt::format("undefined time interval \"{}\"", name));
    }
  }
  for (const std::string& name : r.active_time_intervals) {
    if (!c.time_intervals.count(name)) {
      return p.Fail(path + ".active_time_intervals",
                    fmt::format("undefined time interval \"{}\"", name));
    }
  }
  for (size_t i = 0; i < r.routes.size(); ++i) {
    PHAROS_RETURN_IF_ERROR(
        CheckRouteReceivers(r.routes[i], receivers, c, p, fmt::format("{}.routes[{}]", path, i)));
  }
  return Status::Ok();
}

}  // namespace

Result<Config> ParseConfig(std::string_view yaml, std::string_view source) {
  Config c;
  Parser p(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("{}: line {}: {}", source, e.mark.line + 1, e.msg));
  }
  if (root.IsNull()) return c;
  if (!root.IsMap()) return p.Fail("", "must be a map");
  c.configured = true;
  try {
    std::map<std::string, std::string> global;
    for (const auto& kv : root) {
      std::string key = kv.first.Scalar();
      if (key == "global") {
        for (const auto& g : kv.second) {
          std::string gk = g.first.Scalar();
          if (gk == "resolve_timeout") {
            PHAROS_RETURN_IF_ERROR(p.Dur(g.second, "global.resolve_timeout", c.resolve_timeout_ms));
          } else if (g.second.IsScalar()) {
            global[gk] = g.second.Scalar();
          }
        }
      } else if (key == "external_url") {
        PHAROS_RETURN_IF_ERROR(p.String(kv.second, "external_url", c.external_url));
      } else if (key == "time_intervals" || key == "mute_time_intervals") {
        if (!kv.second.IsSequence()) return p.Fail(key, "must be a list");
        for (size_t i = 0; i < kv.second.size(); ++i) {
          const YAML::Node& n = kv.second[i];
          std::string path = fmt::format("{}[{}]", key, i);
          std::string name;
          PHAROS_RETURN_IF_ERROR(p.String(n["name"], path + ".name", name));
          if (c.time_intervals.count(name)) {
            return p.Fail(path + ".name",
                          fmt::format("time interval \"{}\" is defined twice", name));
          }
          std::vector<TimeInterval>& list = c.time_intervals[name];
          const YAML::Node& intervals = n["time_intervals"];
          if (intervals && intervals.IsSequence()) {
            for (size_t j = 0; j < intervals.size(); ++j) {
              TimeInterval ti;
              PHAROS_RETURN_IF_ERROR(
                  p.ParseInterval(intervals[j], fmt::format("{}.time_intervals[{}]", path, j), ti));
              list.push_back(std::move(ti));
            }
          }
        }
      } else if (key != "route" && key != "receivers" && key != "inhibit_rules" &&
                 key != "templates") {
        return p.Fail(key, "unknown field");
      }
    }
    if (!root["route"]) return p.Fail("route", "a route is required");
    PHAROS_RETURN_IF_ERROR(p.ParseRoute(root["route"], "route", nullptr, c.route));
    if (c.route.receiver.empty())
      return p.Fail("route.receiver", "the root route needs a receiver");
    if (!c.route.matchers.empty()) return p.Fail("route", "the root route must not have matchers");
    std::set<std::string> names;
    if (root["receivers"]) {
      const YAML::Node& rs = root["receivers"];
      if (!rs.IsSequence()) return p.Fail("receivers", "must be a list");
      for (size_t i = 0; i < rs.size(); ++i) {
        Receiver r;
        PHAROS_RETURN_IF_ERROR(p.ParseReceiver(rs[i], fmt::format("receivers[{}]", i), r, global));
        if (!names.insert(r.name).second) {
          return p.Fail(fmt::format("receivers[{}].name", i),
                        fmt::format("receiver \"{}\" is defined twice", r.name));
        }
        c.receivers.push_back(std::move(r));
      }
    }
    PHAROS_RETURN_IF_ERROR(CheckRouteReceivers(c.route, names, c, p, "route"));
    if (root["inhibit_rules"]) {
      const YAML::Node& irs = root["inhibit_rules"];
      if (!irs.IsSequence()) return p.Fail("inhibit_rules", "must be a list");
      for (size_t i = 0; i < irs.size(); ++i) {
        InhibitRule ir;
        std::string path = fmt::format("inhibit_rules[{}]", i);
        for (const auto& kv : irs[i]) {
          std::string key = kv.first.Scalar();
          std::string kp = path + "." + key;
          if (key == "source_matchers") {
            PHAROS_RETURN_IF_ERROR(p.Matchers(kv.second, kp, ir.source));
          } else if (key == "target_matchers") {
            PHAROS_RETURN_IF_ERROR(p.Matchers(kv.second, kp, ir.target));
          } else if (key == "source_match" || key == "source_match_re") {
            PHAROS_RETURN_IF_ERROR(p.MatchMap(kv.second, kp, key == "source_match_re", ir.source));
          } else if (key == "target_match" || key == "target_match_re") {
            PHAROS_RETURN_IF_ERROR(p.MatchMap(kv.second, kp, key == "target_match_re", ir.target));
          } else if (key == "equal") {
            PHAROS_RETURN_IF_ERROR(p.Strings(kv.second, kp, ir.equal));
          } else {
            return p.Fail(kp, "unknown field");
          }
        }
        c.inhibit_rules.push_back(std::move(ir));
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("{}: line {}: {}", source, e.mark.line + 1, e.msg));
  }
  return c;
}

}  // namespace pharos::alerting

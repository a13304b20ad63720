// Notification payloads: Alertmanager's webhook (version 4), its postable alerts, and the
// email message with Alertmanager's default subject.
#include <ctime>

#include <fmt/format.h>

#include "alerting/alerting.h"
#include "alerting/notify.h"
#include "common/strings.h"

namespace pharos::alerting {
namespace {

// Labels (or annotations) every alert shares with the same value.
model::Labels Common(const std::vector<Alert>& alerts, bool annotations) {
  if (alerts.empty()) return {};
  model::Labels common = annotations ? alerts[0].annotations : alerts[0].labels;
  for (size_t i = 1; i < alerts.size(); ++i) {
    const model::Labels& other = annotations ? alerts[i].annotations : alerts[i].labels;
    common.erase(std::remove_if(common.begin(), common.end(),
                                [&](const model::Label& l) {
                                  return std::find(other.begin(), other.end(), l) == other.end();
                                }),
                 common.end());
  }
  model::SortLabels(common);
  return common;
}

}  // namespace

std::string FormatTime(int64_t ms) {
  if (ms == 0) return "0001-01-01T00:00:00Z";
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int64_t frac = ms - secs * 1000;
  auto t = static_cast<time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (frac) {
    std::string f = fmt::format("{:03d}", frac);
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "Z";
}

bool AnyFiring(const Notification& n) {
  return std::any_of(n.alerts.begin(), n.alerts.end(),
                     [&](const Alert& a) { return !a.Resolved(n.now_ms); });
}

std::string WebhookPayload(const Notification& n, const std::string& external_url,
                           uint64_t max_alerts) {
  std::string out = "{\"receiver\":";
  AppendJsonString(out, n.receiver);
  out += ",\"status\":";
  out += AnyFiring(n) ? "\"firing\"" : "\"resolved\"";
  out += ",\"alerts\":[";
  size_t count = max_alerts > 0 ? std::min<size_t>(max_alerts, n.alerts.size()) : n.alerts.size();
  for (size_t i = 0; i < count; ++i) {
    const Alert& a = n.alerts[i];
    bool resolved = a.Resolved(n.now_ms);
    if (i) out += ',';
    out += "{\"status\":";
    out += resolved ? "\"resolved\"" : "\"firing\"";
    out += ",\"labels\":";
    model::AppendLabelsJson(out, a.labels);
    out += ",\"annotations\":";
    model::AppendLabelsJson(out, a.annotations);
    out += ",\"startsAt\":\"" + FormatTime(a.starts_at_ms) + "\"";
    // Alertmanager zeroes the end of alerts that have not resolved.
    out += ",\"endsAt\":\"" + FormatTime(resolved ? a.ends_at_ms : 0) + "\"";
    out += ",\"generatorURL\":";
    AppendJsonString(out, a.generator_url);
    out += ",\"fingerprint\":";
    AppendJsonString(out, a.fingerprint);
    out += '}';
  }
  out += "],\"groupLabels\":";
  model::AppendLabelsJson(out, n.group_labels);
  out += ",\"commonLabels\":";
  model::AppendLabelsJson(out, Common(n.alerts, false));
  out += ",\"commonAnnotations\":";
  model::AppendLabelsJson(out, Common(n.alerts, true));
  out += ",\"externalURL\":";
  AppendJsonString(out, external_url);
  out += ",\"version\":\"4\",\"groupKey\":";
  AppendJsonString(out, n.group_key);
  out += fmt::format(",\"truncatedAlerts\":{}}}", n.alerts.size() - count);
  return out;
}

std::string PostableAlerts(const Notification& n, int64_t firing_ends_at_ms) {
  std::string out = "[";
  for (size_t i = 0; i < n.alerts.size(); ++i) {
    const Alert& a = n.alerts[i];
    if (i) out += ',';
    out += "{\"labels\":";
    model::AppendLabelsJson(out, a.labels);
    out += ",\"annotations\":";
    model::AppendLabelsJson(out, a.annotations);
    out += ",\"startsAt\":\"" + FormatTime(a.starts_at_ms) + "\"";
    int64_t ends = a.Resolved(n.now_ms) ? a.ends_at_ms : firing_ends_at_ms;
    out += ",\"endsAt\":\"" + FormatTime(ends) + "\"";
    out += ",\"generatorURL\":";
    AppendJsonString(out, a.generator_url);
    out += '}';
  }
  return out + "]";
}

std::string EmailSubject(const Notification& n) {
  size_t firing = 0;
  for (const Alert& a : n.alerts) firing += a.Resolved(n.now_ms) ? 0 : 1;
  std::string subject = firing ? fmt::format("[FIRING:{}]", firing) : "[RESOLVED]";
  for (const model::Label& l : n.group_labels) subject += " " + l.value;
  model::Labels common = Common(n.alerts, false);
  std::vector<std::string> extra;
  for (const model::Label& l : common) {
    bool grouped = std::any_of(n.group_labels.begin(), n.group_labels.end(),
                               [&](const model::Label& g) { return g.name == l.name; });
    if (!grouped) extra.push_back(l.value);
  }
  if (!extra.empty()) {
    subject += " (";
    for (size_t i = 0; i < extra.size(); ++i) subject += (i ? " " : "") + extra[i];
    subject += ")";
  }
  return subject;
}

std::string EmailMessage(const Notification& n, const EmailConfig& config,
                         const std::string& external_url) {
  std::string body;
  for (int pass = 0; pass < 2; ++pass) {
    bool want_firing = pass == 0;
    bool header = false;
    for (const Alert& a : n.alerts) {
      if (a.Resolved(n.now_ms) == want_firing) continue;
      if (!header) {
        body += want_firing ? "Firing alerts:\r\n\r\n" : "Resolved alerts:\r\n\r\n";
        header = true;
      }
      body += "Labels:\r\n";
      for (const model::Label& l : a.labels) body += " - " + l.name + " = " + l.value + "\r\n";
      if (!a.annotations.empty()) body += "Annotations:\r\n";
      for (const model::Label& l : a.annotations) body += " - " + l.name + " = " + l.value + "\r\n";
      body += "Started: " + FormatTime(a.starts_at_ms) + "\r\n";
      if (!want_firing) body += "Ended: " + FormatTime(a.ends_at_ms) + "\r\n";
      if (!a.generator_url.empty()) body += "Source: " + a.generator_url + "\r\n";
      body += "\r\n";
    }
  }
  body += "Sent by Pharos (" + external_url + ") for receiver " + n.receiver + "\r\n";
  char date[64];
  auto t = static_cast<time_t>(n.now_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string headers;
  headers += "From: " + config.from + "\r\n";
  headers += "To: " + config.to + "\r\n";
  headers += "Subject: " + EmailSubject(n) + "\r\n";
  headers += std::string("Date: ") + date + "\r\n";
  headers +=
      fmt::format("Message-Id: <{}.{}@pharos>\r\n", n.now_ms, model::Fingerprint(n.group_labels));
  for (const auto& [name, value] : config.headers) {
    if (!EqualsIgnoreCase(name, "subject") && !EqualsIgnoreCase(name, "to") &&
        !EqualsIgnoreCase(name, "from")) {
      headers += name + ": " + value + "\r\n";
    }
  }
  headers += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n";
  return headers + "\r\n" + body;
}

std::vector<std::string> SplitAddresses(const std::string& to) {
  std::vector<std::string> out;
  for (std::string_view part : Split(to, ',')) {
    std::string_view a = Trim(part);
    size_t lt = a.find('<');
    size_t gt = a.find('>');
    if (lt != std::string_view::npos && gt != std::string_view::npos && gt > lt) {
      a = a.substr(lt + 1, gt - lt - 1);
    }
    if (!a.empty()) out.emplace_back(a);
  }
  return out;
}

}  // namespace pharos::alerting

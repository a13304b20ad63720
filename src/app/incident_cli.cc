// `pharos check-rules` and `pharos incident ...`: command-line tools for operators.
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "app/app.h"
#include "common/strings.h"
#include "net/net.h"
#include "rules/rules.h"

namespace pharos::app {

int RunCheckRules(const std::vector<std::string>& files) {
  if (files.empty() || files[0] == "--help" || files[0] == "-h") {
    std::printf(
        "Usage: pharos check-rules FILE...\n\nChecks Prometheus rule files as `promtool check "
        "rules` does. Exits 0 when every file is valid, 2 otherwise, printing file:line: reason "
        "for each problem.\n");
    return files.empty() ? 2 : 0;
  }
  bool failed = false;
  for (const std::string& file : files) {
    std::printf("Checking %s\n", file.c_str());
    Result<std::vector<rules::GroupSpec>> groups = rules::LoadRuleFile(file);
    if (!groups.ok()) {
      failed = true;
      std::printf("  FAILED:\n%s\n\n", groups.status().message().c_str());
      continue;
    }
    size_t count = 0;
    for (const rules::GroupSpec& g : *groups) count += g.rules.size();
    std::printf("  SUCCESS: %zu rules found\n\n", count);
  }
  return failed ? 2 : 0;
}

namespace {

constexpr std::string_view kIncidentUsage = R"(Usage: pharos incident COMMAND [flags]

Talks to a running Pharos server.

Commands:
  list [--state S] [--level P0..P3] [--open] [--limit N]
  show ID
  open --title TEXT [--level P0..P3] [--policy NAME]
  ack|mitigate|resolve|close ID [--note TEXT]
  note ID TEXT
  role ID ROLE PERSON        ROLE: commander, tech_lead, communications_lead

Flags for every command:
  --url URL      the server (default $PHAROS_URL or http://127.0.0.1:7070)
  --token TOKEN  an API token (default $PHAROS_TOKEN)
  --as NAME      who acts, when the server has no tokens (default $USER)
  --json         print the server's JSON answer
)";

struct Client {
  std::string url;
  std::string token;
  std::string user;
  bool json = false;

  Result<std::string> Call(const std::string& method, const std::string& path,
                           const std::string& body = "") const {
    net::HttpRequest req;
    req.method = method;
    req.url = url + path;
    req.body = body;
    req.content_type = "application/json";
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    if (!user.empty()) req.headers.emplace_back("X-Pharos-User", user);
    Result<net::HttpReply> reply = net::Fetch(req);
    if (!reply.ok()) return Unavailable(fmt::format("{}: {}", url, reply.status().message()));
    if (reply->status / 100 != 2) {
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      std::string_view error;
      if (parser.parse(reply->body).get(doc) == simdjson::SUCCESS &&
          doc["error"].get(error) == simdjson::SUCCESS) {
        return FailedPrecondition(fmt::format("HTTP {}: {}", reply->status, error));
      }
      return FailedPrecondition(fmt::format("HTTP {}: {}", reply->status, Trim(reply->body)));
    }
    return reply->body;
  }
};

std::string Str(simdjson::dom::element e, std::string_view key) {
  std::string_view v;
  if (e[key].get(v) == simdjson::SUCCESS) return std::string(v);
  return "";
}

template <typename T>
T Get(simdjson::dom::element e, std::string_view key, T fallback) {
  T v;
  return e[key].get(v) == simdjson::SUCCESS ? v : fallback;
}

std::string Remaining(simdjson::dom::element clock) {
  bool stopped = Get<bool>(clock, "stopped", false);
  bool breached = Get<bool>(clock, "breached", false);
  double seconds = Get<double>(clock, "remainingSeconds", 0);
  if (stopped) return breached ? "met late" : "met";
  if (seconds < 0) return fmt::format("BREACHED {}m ago", static_cast<int64_t>(-seconds / 60));
  return fmt::format("{}m left", static_cast<int64_t>(seconds / 60));
}

void PrintIncident(simdjson::dom::element i, bool details) {
  int64_t id = Get<int64_t>(i, "id", 0);
  if (!details) {
    std::printf("%-6lld %-3s %-13s %-18s %-18s %s\n", static_cast<long long>(id),
                Str(i, "level").c_str(), Str(i, "state").c_str(),
                Remaining(i["responseClock"]).c_str(), Remaining(i["resolutionClock"]).c_str(),
                Str(i, "title").c_str());
    return;
  }
  std::printf("INC-%lld  %s  %s\n%s\n\n", static_cast<long long>(id), Str(i, "level").c_str(),
              Str(i, "state").c_str(), Str(i, "title").c_str());
  std::printf("opened      %s by %s\n", Str(i, "createdAt").c_str(), Str(i, "createdBy").c_str());
  std::printf("response    %s (due %s)\n", Remaining(i["responseClock"]).c_str(),
              Str(i["responseClock"], "dueAt").c_str());
  std::printf("resolution  %s (due %s)\n", Remaining(i["resolutionClock"]).c_str(),
              Str(i["resolutionClock"], "dueAt").c_str());
  simdjson::dom::element roles = i["roles"];
  std::printf("commander   %s\ntech lead   %s\ncomms lead  %s\n\n", Str(roles, "commander").c_str(),
              Str(roles, "techLead").c_str(), Str(roles, "communicationsLead").c_str());
  simdjson::dom::array timeline;
  if (i["timeline"].get(timeline) == simdjson::SUCCESS) {
    std::printf("Timeline:\n");
    for (simdjson::dom::element e : timeline) {
      std::printf("  %s  %-11s %-12s %s\n", Str(e, "time").c_str(), Str(e, "kind").c_str(),
                  Str(e, "actor").c_str(), Str(e, "text").c_str());
    }
  }
}

int Fail(const Status& s) {
  std::fprintf(stderr, "pharos incident: %s\n", s.message().c_str());
  return 1;
}

}  // namespace

int RunIncidentCommand(const std::vector<std::string>& all_args) {
  if (all_args.empty() || all_args[0] == "--help" || all_args[0] == "-h") {
    std::fputs(kIncidentUsage.data(), all_args.empty() ? stderr : stdout);
    return all_args.empty() ? 2 : 0;
  }
  Client client;
  const char* env_url = std::getenv("PHAROS_URL");
  client.url = env_url ? env_url : "http://127.0.0.1:7070";
  if (const char* t = std::getenv("PHAROS_TOKEN")) client.token = t;
  if (const char* u = std::getenv("USER")) client.user = u;
  std::vector<std::string> args;
  std::map<std::string, std::string> flags;
  for (size_t i = 0; i < all_args.size(); ++i) {
    const std::string& a = all_args[i];
    if (a == "--json" || a == "--open") {
      flags[a] = "true";
    } else if (a.rfind("--", 0) == 0) {
      if (i + 1 >= all_args.size()) {
        std::fprintf(stderr, "pharos incident: %s needs a value\n", a.c_str());
        return 2;
      }
      flags[a] = all_args[++i];
    } else {
      args.push_back(a);
    }
  }
  for (const auto& [flag, value] : flags) {
    static const std::vector<std::string> kKnown = {"--url",   "--token",  "--as",   "--json",
                                                    "--state", "--level",  "--open", "--limit",
                                                    "--title", "--policy", "--note"};
    if (std::find(kKnown.begin(), kKnown.end(), flag) == kKnown.end()) {
      std::fprintf(stderr, "pharos incident: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (flags.count("--url")) client.url = flags["--url"];
  while (!client.url.empty() && client.url.back() == '/') client.url.pop_back();
  if (flags.count("--token")) client.token = flags["--token"];
  if (flags.count("--as")) client.user = flags["--as"];
  client.json = flags.count("--json") > 0;
  if (args.empty()) {
    std::fputs(kIncidentUsage.data(), stderr);
    return 2;
  }
  const std::string& cmd = args[0];
  auto need = [&](size_t n) {
    if (args.size() == n) return true;
    std::fprintf(stderr, "pharos incident %s: wrong number of arguments (see --help)\n",
                 cmd.c_str());
    return false;
  };
  auto show = [&](const Result<std::string>& body, bool list) {
    if (!body.ok()) return Fail(body.status());
    if (client.json) {
      std::printf("%s\n", body->c_str());
      return 0;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(*body).get(doc) != simdjson::SUCCESS) {
      return Fail(Internal("the server's answer is not JSON"));
    }
    if (list) {
      simdjson::dom::array items;
      if (doc["data"].get(items) != simdjson::SUCCESS) return Fail(Internal("unexpected answer"));
      std::printf("%-6s %-3s %-13s %-18s %-18s %s\n", "ID", "LVL", "STATE", "RESPONSE",
                  "RESOLUTION", "TITLE");
      for (simdjson::dom::element i : items) PrintIncident(i, false);
    } else {
      PrintIncident(doc["data"], true);
    }
    return 0;
  };
  if (cmd == "list") {
    if (!need(1)) return 2;
    std::string query;
    for (const char* f : {"--state", "--level", "--limit"}) {
      if (flags.count(f)) query += fmt::format("&{}={}", f + 2, flags[f]);
    }
    if (flags.count("--open")) query += "&open=true";
    if (!query.empty()) query[0] = '?';
    return show(client.Call("GET", "/api/v1/incidents" + query), true);
  }
  if (cmd == "show") {
    if (!need(2)) return 2;
    return show(client.Call("GET", "/api/v1/incidents/" + args[1]), false);
  }
  if (cmd == "open") {
    if (!need(1) || !flags.count("--title")) {
      std::fprintf(stderr, "pharos incident open: --title is required\n");
      return 2;
    }
    std::string body = "{\"title\":" + JsonString(flags["--title"]);
    if (flags.count("--level")) body += ",\"level\":" + JsonString(flags["--level"]);
    if (flags.count("--policy")) body += ",\"escalation_policy\":" + JsonString(flags["--policy"]);
    return show(client.Call("POST", "/api/v1/incidents", body + "}"), false);
  }
  if (cmd == "ack" || cmd == "mitigate" || cmd == "resolve" || cmd == "close") {
    if (!need(2)) return 2;
    std::string body =
        flags.count("--note") ? "{\"note\":" + JsonString(flags["--note"]) + "}" : "{}";
    return show(client.Call("POST", "/api/v1/incidents/" + args[1] + "/" + cmd, body), false);
  }
  if (cmd == "note") {
    if (!need(3)) return 2;
    return show(client.Call("POST", "/api/v1/incidents/" + args[1] + "/notes",
                            "{\"text\":" + JsonString(args[2]) + "}"),
                false);
  }
  if (cmd == "role") {
    if (!need(4)) return 2;
    return show(client.Call("PUT", "/api/v1/incidents/" + args[1] + "/roles",
                            "{\"role\":" + JsonString(args[2]) +
                                ",\"person\":" + JsonString(args[3]) + "}"),
                false);
  }
  std::fprintf(stderr, "pharos incident: unknown command \"%s\" (see --help)\n", cmd.c_str());
  return 2;
}

}  // namespace pharos::app

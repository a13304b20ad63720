// The meta schema, as ordered migrations. Append new migrations; never edit an applied one.
#include "meta/meta.h"

namespace pharos::meta {

const std::vector<std::string_view>& Migrations() {
  static const std::vector<std::string_view> kMigrations = {
      // 1: alert history, notifications and their log, silences, incidents.
      R"sql(
CREATE TABLE alert_events (
  id INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  alertname TEXT NOT NULL,
  state TEXT NOT NULL,            -- pending, firing, resolved
  labels TEXT NOT NULL,           -- JSON object
  annotations TEXT NOT NULL,      -- JSON object
  value REAL,
  rule_group TEXT NOT NULL
);
CREATE INDEX alert_events_ts ON alert_events (ts_ms);
CREATE INDEX alert_events_name ON alert_events (alertname, ts_ms);

CREATE TABLE notifications (
  id INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  receiver TEXT NOT NULL,
  integration TEXT NOT NULL,      -- webhook[0], email[1], alertmanager[0]
  group_key TEXT NOT NULL,
  status TEXT NOT NULL,           -- firing, resolved
  outcome TEXT NOT NULL,          -- sent, failed
  attempts INTEGER NOT NULL,
  alerts TEXT NOT NULL,           -- JSON array of {fingerprint, alertname, status}
  error TEXT NOT NULL
);
CREATE INDEX notifications_ts ON notifications (ts_ms);
CREATE INDEX notifications_group ON notifications (group_key, ts_ms);

-- Alertmanager's notification log: what each receiver was last told about each group.
CREATE TABLE notification_log (
  group_key TEXT NOT NULL,
  receiver TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  firing TEXT NOT NULL,           -- sorted fingerprints, comma-separated
  resolved TEXT NOT NULL,
  PRIMARY KEY (group_key, receiver)
);

CREATE TABLE silences (
  id TEXT PRIMARY KEY,
  matchers TEXT NOT NULL,         -- JSON array in Alertmanager's shape
  starts_ms INTEGER NOT NULL,
  ends_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  comment TEXT NOT NULL
);

CREATE TABLE incidents (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  level INTEGER NOT NULL,         -- 0..3 for P0..P3
  state TEXT NOT NULL,
  group_key TEXT NOT NULL,        -- "" for incidents opened by hand
  labels TEXT NOT NULL,           -- JSON object: the common labels of its alerts
  created_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  acknowledged_ms INTEGER, acknowledged_by TEXT,
  mitigated_ms INTEGER, mitigated_by TEXT,
  resolved_ms INTEGER, resolved_by TEXT,
  closed_ms INTEGER, closed_by TEXT,
  respond_by_ms INTEGER NOT NULL,
  resolve_by_ms INTEGER NOT NULL,
  response_breached INTEGER NOT NULL DEFAULT 0,
  resolution_breached INTEGER NOT NULL DEFAULT 0,
  escalation_policy TEXT NOT NULL,
  escalation_step INTEGER NOT NULL DEFAULT 0,  -- steps already notified
  next_escalation_ms INTEGER,
  commander TEXT NOT NULL DEFAULT '',
  tech_lead TEXT NOT NULL DEFAULT '',
  communications_lead TEXT NOT NULL DEFAULT '',
  postmortem TEXT
);
CREATE INDEX incidents_open ON incidents (state, group_key);

CREATE TABLE incident_events (
  id INTEGER PRIMARY KEY,
  incident_id INTEGER NOT NULL REFERENCES incidents (id),
  ts_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,             -- opened, state, role, note, alert, notification, breach, escalation
  actor TEXT NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);
)sql",
      // 2: alerts linked to incidents.
      R"sql(
CREATE TABLE incident_alerts (
  incident_id INTEGER NOT NULL REFERENCES incidents (id),
  fingerprint TEXT NOT NULL,
  labels TEXT NOT NULL,           -- JSON object
  status TEXT NOT NULL,           -- firing, resolved
  first_ms INTEGER NOT NULL,
  last_ms INTEGER NOT NULL,
  PRIMARY KEY (incident_id, fingerprint)
);
)sql",
  };
  return kMigrations;
}

}  // namespace pharos::meta

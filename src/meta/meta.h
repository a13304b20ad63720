// meta: Pharos's SQLite store for configuration-like and low-volume records: alert
// history, notifications, silences, the notification log, incidents and their timelines.
//
// Contract:
// - Store::Open() opens (or creates) one SQLite file in WAL mode with synchronous=FULL, so
//   a call that returned OK survives kill -9, and applies the schema migrations in
//   schema.cc in order (PRAGMA user_version holds the last one applied). A file written by
//   a newer Pharos (a higher user_version) is refused.
// - The store is safe for concurrent use: one connection behind a mutex. Calls are short
//   (indexed reads and single-row writes); history queries are bounded by a row limit.
// - Errors are values: SQLite failures become Internal (Unavailable when the disk is
//   full or the database is locked), with SQLite's message and the statement's purpose.
// - Values bind as typed parameters; SQL text never holds user input.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace pharos::meta {

/// One bound parameter or result column.
using Value = std::variant<std::monostate, int64_t, double, std::string>;

/// A result row: columns in SELECT order.
class Row {
 public:
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  int64_t Int(size_t i) const;
  double Double(size_t i) const;
  std::string Text(size_t i) const;
  bool IsNull(size_t i) const { return std::holds_alternative<std::monostate>(values_.at(i)); }
  size_t size() const { return values_.size(); }

 private:
  std::vector<Value> values_;
};

class Store {
 public:
  /// Opens or creates the database file at `path` and migrates it.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Runs one statement with parameters ?1, ?2, ...; returns the rows it produced.
  Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params = {});
  /// Runs one statement that produces no rows; returns the rowid of the last insert.
  Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params = {});
  /// Runs `fn` inside one transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error).
  /// `fn` may call Query and Exec; the store's lock is held throughout.
  Status Transaction(const std::function<Status()>& fn);

  /// The schema version in effect (the number of migrations applied).
  int schema_version() const { return schema_version_; }

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Result<std::vector<Row>> QueryLocked(std::string_view sql, const std::vector<Value>& params,
                                       int64_t* last_rowid);
  Status Migrate();

  sqlite3* db_;
  std::recursive_mutex mu_;  // recursive: Transaction's fn calls Query/Exec
  int schema_version_ = 0;
};

/// The ordered migrations (schema.cc); migration i brings the schema to version i + 1.
const std::vector<std::string_view>& Migrations();

}  // namespace pharos::meta

#include "meta/meta.h"

#include <sqlite3.h>

#include <fmt/format.h>

namespace pharos::meta {
namespace {

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string message = fmt::format("meta: {}: {}", what, db ? sqlite3_errmsg(db) : "");
  if (rc == SQLITE_FULL || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    return Unavailable(std::move(message));
  }
  if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) {
    return DataLoss(std::move(message));
  }
  return Internal(std::move(message));
}

// A damaged file is reported as what it is, with its path and the way out.
Status Damaged(const std::string& path, const Status& s) {
  return DataLoss(fmt::format(
      "meta: {} is damaged ({}); to recover, stop Pharos, move the file aside (mv {} {}.damaged) "
      "and start again: rule state, silences, incidents and history start empty, metrics are "
      "not affected (docs/operations.md)",
      path, s.message(), path, path));
}

}  // namespace

int64_t Row::Int(size_t i) const {
  const Value& v = values_.at(i);
  if (const auto* n = std::get_if<int64_t>(&v)) return *n;
  if (const auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  return 0;
}

double Row::Double(size_t i) const {
  const Value& v = values_.at(i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* n = std::get_if<int64_t>(&v)) return static_cast<double>(*n);
  return 0;
}

std::string Row::Text(size_t i) const {
  const Value& v = values_.at(i);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  return "";
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(db, rc, fmt::format("cannot open {}", path));
    sqlite3_close(db);
    return s;
  }
  std::unique_ptr<Store> store(new Store(db));
  sqlite3_busy_timeout(db, 5000);
  for (std::string_view pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                                  "PRAGMA foreign_keys=ON", "PRAGMA quick_check"}) {
    Result<std::vector<Row>> r = store->Query(pragma);
    if (!r.ok())
      return r.status().code() == StatusCode::kDataLoss ? Damaged(path, r.status()) : r.status();
    if (pragma == "PRAGMA quick_check" && (r->empty() || (*r)[0].Text(0) != "ok")) {
      return Damaged(path, DataLoss(r->empty() ? "quick_check failed" : (*r)[0].Text(0)));
    }
  }
  Status migrated = store->Migrate();
  if (migrated.code() == StatusCode::kDataLoss) return Damaged(path, migrated);
  PHAROS_RETURN_IF_ERROR(migrated);
  return store;
}

Store::~Store() { sqlite3_close(db_); }

Status Store::Migrate() {
  Result<std::vector<Row>> version = Query("PRAGMA user_version");
  if (!version.ok()) return version.status();
  int current = static_cast<int>((*version)[0].Int(0));
  const auto& migrations = Migrations();
  if (current > static_cast<int>(migrations.size())) {
    return FailedPrecondition(
        fmt::format("meta: the database has schema version {}, newer than this Pharos knows "
                    "({}); use a newer Pharos",
                    current, migrations.size()));
  }
  for (size_t i = static_cast<size_t>(current); i < migrations.size(); ++i) {
    std::string sql = fmt::format("BEGIN IMMEDIATE;\n{}\nPRAGMA user_version = {};\nCOMMIT;",
                                  migrations[i], i + 1);
    char* error = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
      std::string message = error ? error : "unknown error";
      sqlite3_free(error);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return Internal(fmt::format("meta: migration {} failed: {}", i + 1, message));
    }
  }
  schema_version_ = static_cast<int>(migrations.size());
  return Status::Ok();
}

Result<std::vector<Row>> Store::QueryLocked(std::string_view sql, const std::vector<Value>& params,
                                            int64_t* last_rowid) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "prepare");
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(stmt, sqlite3_finalize);
  for (size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i + 1);
    const Value& v = params[i];
    if (const auto* n = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(stmt, index, *n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(stmt, index, *d);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      rc = sqlite3_bind_text(stmt, index, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
    } else {
      rc = sqlite3_bind_null(stmt, index);
    }
    if (rc != SQLITE_OK) return SqliteError(db_, rc, "bind");
  }
  std::vector<Row> rows;
  while (true) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return SqliteError(db_, rc, "step");
    int columns = sqlite3_column_count(stmt);
    std::vector<Value> values;
    values.reserve(static_cast<size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_INTEGER:
          values.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
          break;
        case SQLITE_FLOAT: values.emplace_back(sqlite3_column_double(stmt, c)); break;
        case SQLITE_NULL: values.emplace_back(std::monostate{}); break;
        default: {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
          values.emplace_back(
              std::string(text ? text : "", static_cast<size_t>(sqlite3_column_bytes(stmt, c))));
        }
      }
    }
    rows.emplace_back(std::move(values));
  }
  if (last_rowid) *last_rowid = sqlite3_last_insert_rowid(db_);
  return rows;
}

Result<std::vector<Row>> Store::Query(std::string_view sql, const std::vector<Value>& params) {
  std::lock_guard lock(mu_);
  return QueryLocked(sql, params, nullptr);
}

Result<int64_t> Store::Exec(std::string_view sql, const std::vector<Value>& params) {
  std::lock_guard lock(mu_);
  int64_t rowid = 0;
  Result<std::vector<Row>> r = QueryLocked(sql, params, &rowid);
  if (!r.ok()) return r.status();
  return rowid;
}

Status Store::Transaction(const std::function<Status()>& fn) {
  std::lock_guard lock(mu_);
  Result<std::vector<Row>> begin = QueryLocked("BEGIN IMMEDIATE", {}, nullptr);
  if (!begin.ok()) return begin.status();
  Status s = fn();
  if (!s.ok()) {
    (void)QueryLocked("ROLLBACK", {}, nullptr);
    return s;
  }
  Result<std::vector<Row>> commit = QueryLocked("COMMIT", {}, nullptr);
  if (!commit.ok()) {
    (void)QueryLocked("ROLLBACK", {}, nullptr);
    return commit.status();
  }
  return Status::Ok();
}

}  // namespace pharos::meta

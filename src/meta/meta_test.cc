#include "meta/meta.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace pharos::meta {
namespace {

class MetaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pharos-meta-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path() const { return (dir_ / "meta.db").string(); }
  std::filesystem::path dir_;
};

TEST_F(MetaTest, MigratesAndKeepsRowsAcrossReopen) {
  {
    Result<std::unique_ptr<Store>> store = Store::Open(Path());
    ASSERT_TRUE(store.ok()) << store.status().message();
    EXPECT_EQ((*store)->schema_version(), static_cast<int>(Migrations().size()));
    Result<int64_t> id = (*store)->Exec(
        "INSERT INTO silences (id, matchers, starts_ms, ends_ms, updated_ms, created_by, comment)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        {std::string("s1"), std::string("[]"), int64_t{1}, int64_t{2}, int64_t{3},
         std::string("ann"), std::string("it's; DROP TABLE silences")});
    ASSERT_TRUE(id.ok()) << id.status().message();
  }
  Result<std::unique_ptr<Store>> reopened = Store::Open(Path());
  ASSERT_TRUE(reopened.ok());
  Result<std::vector<Row>> rows = (*reopened)->Query(
      "SELECT id, ends_ms, comment FROM silences WHERE created_by = ?1", {std::string("ann")});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Text(0), "s1");
  EXPECT_EQ((*rows)[0].Int(1), 2);
  EXPECT_EQ((*rows)[0].Text(2), "it's; DROP TABLE silences");
}

TEST_F(MetaTest, TransactionRollsBackOnError) {
  Result<std::unique_ptr<Store>> store = Store::Open(Path());
  ASSERT_TRUE(store.ok());
  Status s = (*store)->Transaction([&]() -> Status {
    Result<int64_t> r = (*store)->Exec(
        "INSERT INTO silences (id, matchers, starts_ms, ends_ms, updated_ms, created_by, comment)"
        " VALUES ('x', '[]', 0, 0, 0, '', '')");
    if (!r.ok()) return r.status();
    return InvalidArgument("abandon");
  });
  EXPECT_FALSE(s.ok());
  Result<std::vector<Row>> rows = (*store)->Query("SELECT count(*) FROM silences");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].Int(0), 0);
}

TEST_F(MetaTest, BadSqlIsAnErrorNamingSqlite) {
  Result<std::unique_ptr<Store>> store = Store::Open(Path());
  ASSERT_TRUE(store.ok());
  Result<std::vector<Row>> rows = (*store)->Query("SELECT * FROM no_such_table");
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().message().find("no such table"), std::string::npos);
}

TEST_F(MetaTest, RefusesANewerSchema) {
  {
    Result<std::unique_ptr<Store>> store = Store::Open(Path());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Query("PRAGMA user_version = 999").ok());
  }
  Result<std::unique_ptr<Store>> reopened = Store::Open(Path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.status().message().find("newer"), std::string::npos);
}

}  // namespace
}  // namespace pharos::meta

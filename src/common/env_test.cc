#include "common/env.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace pharos {
namespace {

TEST(Crc32cTest, KnownVectors) {
  // RFC 3720 test vectors.
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  std::string inc;
  for (int i = 0; i < 32; ++i) inc += static_cast<char>(i);
  EXPECT_EQ(Crc32c(inc), 0x46DD794Eu);
  // Incremental equals one shot.
  EXPECT_EQ(Crc32c("56789", Crc32c("1234")), 0xE3069283u);
}

TEST(EnvTest, AppendReadTruncateList) {
  Env* env = DefaultEnv();
  std::string dir = ::testing::TempDir() + "pharos_env_" + std::to_string(::getpid());
  ASSERT_TRUE(env->MakeDirs(dir + "/sub").ok());
  auto file = env->OpenAppend(dir + "/a");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("hello ").ok());
  ASSERT_TRUE((*file)->Append("world").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  EXPECT_EQ((*file)->Size(), 11u);
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(*env->ReadFile(dir + "/a"), "hello world");
  auto reopened = env->OpenAppend(dir + "/a");
  EXPECT_EQ((*reopened)->Size(), 11u);
  ASSERT_TRUE(env->Truncate(dir + "/a", 5).ok());
  EXPECT_EQ(*env->ReadFile(dir + "/a"), "hello");
  ASSERT_TRUE(env->WriteFile(dir + "/b", "x").ok());
  auto names = env->ListDir(dir);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "sub"}));
  EXPECT_EQ(env->ReadFile(dir + "/missing").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(env->Rename(dir + "/b", dir + "/c").ok());
  EXPECT_TRUE(env->Exists(dir + "/c"));
  EXPECT_TRUE(env->SyncDir(dir).ok());
  ASSERT_TRUE(env->RemoveAll(dir).ok());
  EXPECT_FALSE(env->Exists(dir));
}

}  // namespace
}  // namespace pharos

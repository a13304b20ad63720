#include "common/status.h"

#include <gtest/gtest.h>

namespace pharos {
namespace {

TEST(StatusTest, OkHasNoMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status s = InvalidArgument("server.listen: bad port");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.ToString(), "InvalidArgument: server.listen: bad port");
}

TEST(StatusTest, WithContextPrefixesAndKeepsCode) {
  Status s = NotFound("no such file").WithContext("config.yaml");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "config.yaml: no such file");
  EXPECT_TRUE(Status().WithContext("x").ok());
}

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  Result<int> r = Half(x);
  PHAROS_RETURN_IF_ERROR(r.status());
  *out = *r;
  return Status::Ok();
}

TEST(ResultTest, ValueOrError) {
  Result<int> good = Half(8);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 4);
  EXPECT_TRUE(good.status().ok());
  Result<int> bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "odd");
  int v = 0;
  EXPECT_TRUE(UseHalf(10, &v).ok());
  EXPECT_EQ(v, 5);
  EXPECT_EQ(UseHalf(7, &v).code(), StatusCode::kInvalidArgument);
}

TEST(ResultTest, MovesOutUniquePtr) {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(7));
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

}  // namespace
}  // namespace pharos

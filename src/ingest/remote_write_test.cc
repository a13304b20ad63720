#include <gtest/gtest.h>

#include <cstring>

#include "ingest/ingest.h"
#include "tests/support/protobuf.h"

namespace pharos::ingest {
namespace {

using pharos::testing::Pb;

std::string Label(const std::string& n, const std::string& v) {
  return Pb().Len(1, n).Len(2, v).out;
}
std::string SampleMsg(double v, int64_t t) { return Pb().Double(1, v).Int(2, t).out; }

TEST(RemoteWriteTest, DecodesTheSpecExample) {
  // The 42-byte example of REMOTE_WRITE.md section 6: up{job="a"} 1 @1000.
  const unsigned char bytes[] = {0x0a, 0x28, 0x0a, 0x0e, 0x0a, 0x08, 0x5f, 0x5f, 0x6e, 0x61, 0x6d,
                                 0x65, 0x5f, 0x5f, 0x12, 0x02, 0x75, 0x70, 0x0a, 0x08, 0x0a, 0x03,
                                 0x6a, 0x6f, 0x62, 0x12, 0x01, 0x61, 0x12, 0x0c, 0x09, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x10, 0xe8, 0x07};
  DecodedBatch batch;
  ASSERT_TRUE(
      DecodeWriteRequest(std::string_view(reinterpret_cast<const char*>(bytes), 42), batch).ok());
  ASSERT_EQ(batch.series.size(), 1u);
  ASSERT_EQ(batch.series[0].labels.size(), 2u);
  EXPECT_EQ(batch.series[0].labels[0].name, "__name__");
  EXPECT_EQ(batch.series[0].labels[0].value, "up");
  EXPECT_EQ(batch.series[0].labels[1].name, "job");
  EXPECT_EQ(batch.series[0].labels[1].value, "a");
  ASSERT_EQ(batch.series[0].samples.size(), 1u);
  EXPECT_EQ(batch.series[0].samples[0].t, 1000);
  EXPECT_EQ(batch.series[0].samples[0].v, 1.0);
}

TEST(RemoteWriteTest, ManySeriesUnknownFieldsExemplarsHistogramsMetadata) {
  Pb req;
  for (int i = 0; i < 3; ++i) {
    Pb ts;
    ts.Len(1, Label("__name__", "m")).Len(1, Label("i", std::to_string(i)));
    ts.Len(2, SampleMsg(i, 100 + i)).Len(2, SampleMsg(i + 0.5, 200 + i));
    ts.Len(3, "exemplar-bytes");
    ts.Int(99, 7);  // unknown field: skipped
    if (i == 2) ts.Len(4, "histogram-bytes");
    req.Len(1, ts.out);
  }
  req.Len(3, "metadata");
  req.Key(50, 5).out += std::string(4, '\0');  // unknown fixed32
  DecodedBatch batch;
  ASSERT_TRUE(DecodeWriteRequest(req.out, batch).ok());
  ASSERT_EQ(batch.series.size(), 3u);
  EXPECT_EQ(batch.series[2].labels[1].value, "2");
  EXPECT_EQ(batch.series[2].samples[1].t, 202);
  EXPECT_EQ(batch.series[2].samples[1].v, 2.5);
  EXPECT_EQ(batch.exemplars, 3u);
  EXPECT_EQ(batch.histograms, 1u);
  EXPECT_EQ(batch.metadata, 1u);
  // The decoder reuses its buffers.
  ASSERT_TRUE(DecodeWriteRequest("", batch).ok());
  EXPECT_TRUE(batch.series.empty());
}

TEST(RemoteWriteTest, NegativeTimestamps) {
  Pb req;
  req.Len(1, Pb().Len(1, Label("__name__", "m")).Len(2, SampleMsg(1, -5000)).out);
  DecodedBatch batch;
  ASSERT_TRUE(DecodeWriteRequest(req.out, batch).ok());
  EXPECT_EQ(batch.series[0].samples[0].t, -5000);
}

TEST(RemoteWriteTest, RejectsMalformedInput) {
  DecodedBatch batch;
  std::string truncated = Pb().Len(1, Pb().Len(1, Label("__name__", "m")).out).out;
  truncated.pop_back();
  EXPECT_EQ(DecodeWriteRequest(truncated, batch).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(DecodeWriteRequest("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", batch).ok());
  EXPECT_FALSE(DecodeWriteRequest(std::string("\x0b", 1), batch).ok());  // group wire type
  EXPECT_FALSE(DecodeWriteRequest(std::string("\x00", 1), batch).ok());  // field 0
  // A length prefix larger than what follows.
  EXPECT_FALSE(DecodeWriteRequest(std::string("\x0a\x7f\x0a", 3), batch).ok());
  // A malformed label deep inside names where.
  std::string bad_label = Pb().Len(1, Pb().Len(1, std::string("\x0a\x05xy", 4)).out).out;
  Status s = DecodeWriteRequest(bad_label, batch);
  EXPECT_NE(s.message().find("WriteRequest.timeseries[0]"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace pharos::ingest

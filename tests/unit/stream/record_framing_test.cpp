#include "stream/record_framing.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace tern::stream {
namespace {

std::string name_of(std::uint32_t t) { return "TYPE_" + std::to_string(t); }

TEST(RecordFraming, WriteThenReadRoundTrips) {
  VectorSink sink;
  RecordWriter w(sink);
  std::string a = "hello", b = "world!";
  Bytes parts[] = {as_bytes(a), as_bytes(b)};
  ASSERT_TRUE(w.write(7, parts));
  w.begin(9);
  w.append(as_bytes("abc"));
  auto span = w.reserve(16);
  std::memcpy(span.data(), "xy", 2);
  w.commit(2);
  ASSERT_TRUE(w.end());
  ASSERT_TRUE(w.write(0, Bytes{}));
  // 8+11+5 pad, 8+5+3 pad, 8
  EXPECT_EQ(sink.data().size(), 24u + 16u + 8u);

  MemorySource src(sink.data());
  RecordReader r(src, "test", name_of);
  auto r1 = r.next(1024);
  ASSERT_TRUE(r1) << r1.error().message();
  EXPECT_EQ(r1->type, 7u);
  EXPECT_EQ(as_chars(r1->body), "helloworld!");
  auto r2 = r.next(1024);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->offset, 24u);
  EXPECT_EQ(as_chars(r2->body), "abcxy");
  auto r3 = r.next(1024);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->length, 0u);
  auto r4 = r.next(1024);
  ASSERT_FALSE(r4);
  EXPECT_EQ(r4.error().code(), Errc::truncated);
}

TEST(RecordFraming, RejectsNonZeroPaddingWithOffset) {
  VectorSink sink;
  RecordWriter w(sink);
  ASSERT_TRUE(w.write(1, as_bytes("abc")));
  auto data = sink.take();
  data[8 + 3 + 2] = std::byte{0xff};
  MemorySource src(data);
  RecordReader r(src, "test", name_of);
  auto rec = r.next(1024);
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code(), Errc::invalid);
  EXPECT_NE(rec.error().message().find("offset 11"), std::string::npos) << rec.error().message();
  EXPECT_NE(rec.error().message().find("TYPE_1"), std::string::npos);
}

TEST(RecordFraming, TruncationEverywhereIsAnError) {
  VectorSink sink;
  RecordWriter w(sink);
  ASSERT_TRUE(w.write(1, as_bytes("0123456789")));
  const auto& full = sink.data();
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    MemorySource src(Bytes(full).first(cut));
    RecordReader r(src, "test", name_of);
    auto rec = r.next(1024);
    ASSERT_FALSE(rec) << cut;
    EXPECT_EQ(rec.error().code(), Errc::truncated) << cut;
  }
}

TEST(RecordFraming, EnforcesBodyLimit) {
  VectorSink sink;
  RecordWriter w(sink);
  ASSERT_TRUE(w.write(1, as_bytes("0123456789")));
  MemorySource src(sink.data());
  RecordReader r(src, "test", name_of);
  auto rec = r.next(9);
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code(), Errc::invalid);
}

}  // namespace
}  // namespace tern::stream

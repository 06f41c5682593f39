#include "stream/libxl/libxl_record_reader.hpp"

#include <gtest/gtest.h>

#include "stream/libxl/libxl_writer.hpp"

namespace tern::stream::libxl {
namespace {

// Drives a RecordReader over `b`, standing in for the libxc layer: each time
// the reader hands over (LIBXC_CONTEXT, CHECKPOINT_END) it pops the next stop
// from `stops`. Returns the first error, or "" when the stream is valid.
std::string run(const std::vector<std::byte>& b, std::vector<LibxcStop> stops, bool hvm = true) {
  MemorySource src(b);
  RecordReader r(src);
  if (auto h = r.read_header(); !h) return h.error().message();
  std::size_t next_stop = 0;
  for (;;) {
    if (r.state() == RecordReader::State::in_libxc) {
      if (next_stop == stops.size()) return "test: no libxc stop left";
      r.set_guest_is_hvm(hvm);
      if (auto ok = r.libxc_stopped(stops[next_stop++]); !ok) return ok.error().message();
      continue;
    }
    auto rec = r.next();
    if (!rec) return rec.error().message();
    if (r.state() == RecordReader::State::done) break;
  }
  if (auto ok = r.expect_end_of_input(); !ok) return ok.error().message();
  return "";
}

struct Builder {
  VectorSink sink;
  Writer w{sink};
  Builder() { EXPECT_TRUE(w.write_header()); }
  std::vector<std::byte> bytes() { return sink.data(); }
};

TEST(LibxlRecordReader, AcceptsPlainStream) {
  Builder b;
  ASSERT_TRUE(b.w.libxc_context());
  ASSERT_TRUE(b.w.emulator_xenstore_data({.emu = {}, .entries = {{"a", "b"}}}));
  std::string blob = "qemu state";
  ASSERT_TRUE(b.w.emulator_context({}, as_bytes(blob)));
  ASSERT_TRUE(b.w.end());
  EXPECT_EQ(run(b.bytes(), {LibxcStop::end}), "");
}

TEST(LibxlRecordReader, AcceptsCheckpointsAndOptionalRecords) {
  Builder b;
  ASSERT_TRUE(b.w.optional_record(0x80000010, as_bytes("future")));
  ASSERT_TRUE(b.w.libxc_context());
  ASSERT_TRUE(b.w.emulator_context({}, as_bytes("ctx")));  // after libxc CHECKPOINT #1
  ASSERT_TRUE(b.w.checkpoint_end());
  ASSERT_TRUE(b.w.checkpoint_end());                      // after libxc CHECKPOINT #2
  ASSERT_TRUE(b.w.checkpoint_state({kCheckpointSvmReady}));
  ASSERT_TRUE(b.w.end());
  EXPECT_EQ(run(b.bytes(), {LibxcStop::checkpoint, LibxcStop::checkpoint, LibxcStop::end}), "");
}

TEST(LibxlRecordReader, RejectsOrderingViolations) {
  {
    Builder b;  // no LIBXC_CONTEXT
    ASSERT_TRUE(b.w.end());
    EXPECT_NE(run(b.bytes(), {}).find("before any LIBXC_CONTEXT"), std::string::npos);
  }
  {
    Builder b;
    ASSERT_TRUE(b.w.libxc_context());
    ASSERT_TRUE(b.w.libxc_context());
    ASSERT_TRUE(b.w.end());
    EXPECT_NE(run(b.bytes(), {LibxcStop::end, LibxcStop::end}).find("second LIBXC_CONTEXT"), std::string::npos);
  }
  {
    Builder b;
    ASSERT_TRUE(b.w.checkpoint_end());
    EXPECT_NE(run(b.bytes(), {}).find("outside a checkpoint"), std::string::npos);
  }
  {
    Builder b;
    ASSERT_TRUE(b.w.libxc_context());
    ASSERT_TRUE(b.w.end());  // libxc paused at CHECKPOINT, END instead of CHECKPOINT_END
    EXPECT_NE(run(b.bytes(), {LibxcStop::checkpoint}).find("END inside a checkpoint"), std::string::npos);
  }
  {
    Builder b;
    ASSERT_TRUE(b.w.libxc_context());
    ASSERT_TRUE(b.w.emulator_context({}, as_bytes("x")));
    ASSERT_TRUE(b.w.end());
    EXPECT_NE(run(b.bytes(), {LibxcStop::end}, /*hvm=*/false).find("HVM guests"), std::string::npos);
  }
}

TEST(LibxlRecordReader, RejectsUnknownMandatoryAndTrailingData) {
  Builder b;
  ASSERT_TRUE(b.w.libxc_context());
  RecordWriter raw(b.sink);
  ASSERT_TRUE(raw.write(6, as_bytes("x")));
  auto msg = run(b.bytes(), {LibxcStop::end});
  EXPECT_NE(msg.find("offset 24: record #1 (unknown mandatory record 0x00000006)"), std::string::npos) << msg;

  Builder c;
  ASSERT_TRUE(c.w.libxc_context());
  ASSERT_TRUE(c.w.end());
  auto bytes = c.bytes();
  bytes.push_back(std::byte{0});
  msg = run(bytes, {LibxcStop::end});
  EXPECT_NE(msg.find("offset 32: 1 bytes follow the END record"), std::string::npos) << msg;
}

TEST(LibxlRecordReader, RejectsNonEmptyMarkers) {
  Builder b;
  RecordWriter raw(b.sink);
  ASSERT_TRUE(raw.write(kLibxcContext, as_bytes("x")));
  auto msg = run(b.bytes(), {LibxcStop::end});
  EXPECT_NE(msg.find("body must be empty"), std::string::npos) << msg;
}

TEST(LibxlRecordReader, TruncationAnywhereIsAnError) {
  Builder b;
  ASSERT_TRUE(b.w.libxc_context());
  ASSERT_TRUE(b.w.emulator_context({}, as_bytes("abc")));
  ASSERT_TRUE(b.w.end());
  auto full = b.bytes();
  for (std::size_t n = 0; n < full.size(); ++n) {
    std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<long>(n));
    EXPECT_NE(run(cut, {LibxcStop::end}), "") << "accepted a stream cut at " << n;
  }
}

TEST(LibxlWriter, RefusesMisuse) {
  VectorSink sink;
  Writer w(sink);
  EXPECT_FALSE(w.end());  // before header
  EXPECT_FALSE(w.write_header(Header{.options = kOptBigEndian}));
  ASSERT_TRUE(w.write_header());
  EXPECT_FALSE(w.optional_record(5, {}));
  EXPECT_FALSE(w.emulator_context({.emulator_id = 9}, {}));
  ASSERT_TRUE(w.end());
  EXPECT_FALSE(w.checkpoint_end());  // after END
}

}  // namespace
}  // namespace tern::stream::libxl

// The request handler without sockets: requests go into a connection's input
// buffer, replies and watch events are read back from its output buffer.
#include "xenstore/daemon.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace tern::xs {
namespace {

struct Msg {
  std::uint32_t type;
  std::uint32_t req;
  std::string payload;
};

void send(Daemon& d, Connection& c, Type t, std::string_view payload, std::uint32_t req = 1,
          std::uint32_t tx = 0) {
  append_message(c.in, static_cast<std::uint32_t>(t), req, tx, payload);
  ASSERT_TRUE(d.process_input(c));
}

std::vector<Msg> take(Daemon& d, Connection& c) {
  std::vector<Msg> v;
  std::string_view out(c.out);
  out.remove_prefix(c.out_sent);
  while (out.size() >= kHeaderSize) {
    auto h =
        *decode_header(std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
    v.push_back({h.type, h.req_id, std::string(out.substr(kHeaderSize, h.len))});
    out.remove_prefix(kHeaderSize + h.len);
  }
  d.consumed_output(c, c.pending_out());
  return v;
}

constexpr auto kEvent = static_cast<std::uint32_t>(Type::watch_event);
std::string s(std::string_view v) { return std::string(v); }

TEST(Daemon, OwnWatchEventPrecedesReply) {
  Daemon d;
  auto& c = d.add_connection(nullptr);
  send(d, c, Type::watch, s(std::string_view("/w\0tok\0", 7)));
  auto m = take(d, c);
  ASSERT_EQ(m.size(), 2u);  // reply, then the initial event
  EXPECT_EQ(m[0].type, static_cast<std::uint32_t>(Type::watch));
  EXPECT_EQ(m[1].payload, std::string("/w\0tok\0", 7));
  send(d, c, Type::write, std::string_view("/w/x\0v", 6), 9);
  m = take(d, c);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].type, kEvent);
  EXPECT_EQ(m[0].payload, std::string("/w/x\0tok\0", 9));
  EXPECT_EQ(m[1].req, 9u);
  send(d, c, Type::write, std::string_view("/wx\0v", 5));  // not below /w on a '/' boundary
  EXPECT_EQ(take(d, c).size(), 1u);
}

TEST(Daemon, WatchDepthAndUnwatch) {
  Daemon d;
  auto& c = d.add_connection(nullptr);
  send(d, c, Type::watch,
       std::string_view("/w\0t\0"
                        "1\0",
                        7));
  take(d, c);
  send(d, c, Type::write, std::string_view("/w/a/b\0v", 8));
  EXPECT_EQ(take(d, c).size(), 1u);  // depth 2 below: filtered
  send(d, c, Type::write, std::string_view("/w/a\0v", 6));
  EXPECT_EQ(take(d, c).size(), 2u);
  send(d, c, Type::unwatch, std::string_view("/w\0t\0", 5));
  EXPECT_EQ(take(d, c)[0].payload, std::string("OK\0", 3));
  send(d, c, Type::unwatch, std::string_view("/w\0t\0", 5));
  EXPECT_EQ(take(d, c)[0].payload, std::string("ENOENT\0", 7));
}

TEST(Daemon, RepliesInRequestOrderAcrossPipelinedRequests) {
  Daemon d;
  auto& c = d.add_connection(nullptr);
  for (std::uint32_t i = 1; i <= 50; ++i)
    append_message(c.in, static_cast<std::uint32_t>(Type::write), i, 0,
                   std::string_view("/k\0v", 4));
  append_message(c.in, static_cast<std::uint32_t>(Type::read), 51, 0, std::string_view("/k\0", 3));
  ASSERT_TRUE(d.process_input(c));
  auto m = take(d, c);
  ASSERT_EQ(m.size(), 51u);
  for (std::uint32_t i = 0; i < 51; ++i) EXPECT_EQ(m[i].req, i + 1);
  EXPECT_EQ(m[50].payload, "v");
}

TEST(Daemon, OversizedPayloadBreaksFraming) {
  Daemon d;
  auto& c = d.add_connection(nullptr);
  append_message(c.in, 2, 1, 0, std::string(kPayloadMax + 1, 'x'));
  EXPECT_FALSE(d.process_input(c));
}

TEST(Daemon, UnreadOutputPausesInputAndEventsDropConnection) {
  Daemon d;
  auto& reader = d.add_connection(nullptr);
  // A long token makes every event about 3 KiB.
  send(d, reader, Type::watch,
       "/" + std::string(1, '\0') + std::string(3000, 't') + std::string(1, '\0'));
  auto& writer = d.add_connection(nullptr);
  for (int i = 0; i < 4000 && !reader.closing; ++i) {
    std::string p = "/k" + std::to_string(i % 10) + std::string(1, '\0') + "v";
    send(d, writer, Type::write, p);
    take(d, writer);
  }
  EXPECT_TRUE(reader.closing);  // it never read its events
  EXPECT_LE(reader.pending_out(), kDropOutput + 8192);
  EXPECT_FALSE(writer.closing);
}

TEST(Daemon, UnknownTypesAndBadArguments) {
  Daemon d;
  auto& c = d.add_connection(nullptr);
  send(d, c, static_cast<Type>(20), "");
  send(d, c, static_cast<Type>(1234), "");
  send(d, c, Type::read, "/tool");  // no NUL
  send(d, c, Type::transaction_end, std::string_view("T\0", 2), 1, 42);
  auto m = take(d, c);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].payload, std::string("ENOSYS\0", 7));
  EXPECT_EQ(m[1].payload, std::string("ENOSYS\0", 7));
  EXPECT_EQ(m[2].payload, std::string("EINVAL\0", 7));
  EXPECT_EQ(m[3].payload, std::string("ENOENT\0", 7));
}

// The fuzzer feeds the daemon arbitrary CONTROL requests: with file writes
// turned off, logfile and memreport FILE are refused and create nothing.
TEST(Daemon, ControlFileWritesCanBeTurnedOff) {
  const std::string path = ::testing::TempDir() + "tern-xs-control-file-test.log";
  std::remove(path.c_str());
  Daemon d;
  d.control_may_write_files = false;
  auto& c = d.add_connection(nullptr);
  send(d, c, Type::control, std::string("logfile\0", 8) + path + std::string(1, '\0'), 1);
  send(d, c, Type::control, std::string("memreport\0", 10) + path + std::string(1, '\0'), 2);
  send(d, c, Type::control, std::string_view("memreport\0", 10), 3);
  auto m = take(d, c);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].type, static_cast<std::uint32_t>(Type::error));
  EXPECT_EQ(m[0].payload, std::string("EACCES\0", 7));
  EXPECT_EQ(m[1].type, static_cast<std::uint32_t>(Type::error));
  EXPECT_EQ(m[2].type,
            static_cast<std::uint32_t>(Type::control));  // the report as text still works
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << path << " was created";
}

}  // namespace
}  // namespace tern::xs

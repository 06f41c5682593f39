// FdSource with a busy-poll window: the data and its order are those of a
// plain blocking reader, an empty socket past the window falls back to a
// blocking read (and so to the socket's receive timeout), and a pipe simply
// ignores the setting.
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "io/input.hpp"

namespace tern::io {
namespace {

using namespace std::chrono_literals;

struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0); }
  ~SocketPair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

std::vector<std::byte> pattern(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(i * 131 + i / 977);
  return v;
}

TEST(FdSourceBusyPoll, TricklingSocketDataArrivesWholeAndInOrder) {
  SocketPair sp;
  const auto data = pattern(300 * 1024);
  std::thread writer([&] {
    for (std::size_t off = 0, k = 0; off < data.size(); off += 1000, ++k) {
      const std::size_t n = std::min<std::size_t>(1000, data.size() - off);
      ASSERT_EQ(::write(sp.fd[1], data.data() + off, n), static_cast<ssize_t>(n));
      if (k % 50 == 0) std::this_thread::sleep_for(2ms);  // gaps longer than the window
    }
    ::close(sp.fd[1]);
    sp.fd[1] = -1;
  });
  FdSource src(sp.fd[0], 4096);
  src.set_read_ahead(512);
  src.set_busy_poll(500us);
  auto head = src.read(100);
  ASSERT_TRUE(head) << head.error().message();
  ASSERT_EQ(head->size(), 100u);
  EXPECT_EQ(0, std::memcmp(head->data(), data.data(), 100));
  std::vector<std::byte> a(100 * 1024), b(data.size() - 100 - a.size());
  std::vector<MutableBytes> parts{a, b};
  auto n = src.read_into(parts);
  writer.join();
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, data.size() - 100);
  EXPECT_EQ(0, std::memcmp(a.data(), data.data() + 100, a.size()));
  EXPECT_EQ(0, std::memcmp(b.data(), data.data() + 100 + a.size(), b.size()));
  auto end = src.read(1);
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->empty());  // EOF, not an error
  EXPECT_EQ(src.offset(), data.size());
}

TEST(FdSourceBusyPoll, DataLateBeyondTheWindowIsStillRead) {
  SocketPair sp;
  std::thread writer([&] {
    std::this_thread::sleep_for(30ms);
    ASSERT_EQ(::write(sp.fd[1], "late", 4), 4);
  });
  FdSource src(sp.fd[0]);
  src.set_busy_poll(200us);
  const auto t0 = std::chrono::steady_clock::now();
  auto got = src.read(4);
  writer.join();
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->size(), 4u);
  EXPECT_EQ(0, std::memcmp(got->data(), "late", 4));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 25ms);
}

TEST(FdSourceBusyPoll, ASilentPeerStillHitsTheReceiveTimeout) {
  SocketPair sp;
  timeval tv{0, 50 * 1000};
  ASSERT_EQ(::setsockopt(sp.fd[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  FdSource src(sp.fd[0]);
  src.set_busy_poll(1000us);
  const auto t0 = std::chrono::steady_clock::now();
  auto got = src.read(1);
  EXPECT_FALSE(got);  // the link counts as dead: an error, not a hang
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(FdSourceBusyPoll, APipeIgnoresTheSetting) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const auto data = pattern(10000);
  ASSERT_EQ(::write(p[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(p[1]);
  FdSource src(p[0], 1024);
  src.set_busy_poll(1000us);
  auto a = src.read(6000);
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_EQ(a->size(), 6000u);
  EXPECT_EQ(0, std::memcmp(a->data(), data.data(), 6000));
  std::vector<std::byte> rest(4000);
  std::vector<MutableBytes> parts{rest};
  auto n = src.read_into(parts);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 4000u);
  EXPECT_EQ(0, std::memcmp(rest.data(), data.data() + 6000, 4000));
  ::close(p[0]);
}

}  // namespace
}  // namespace tern::io

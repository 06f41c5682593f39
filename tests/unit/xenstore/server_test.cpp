// The epoll server with real unix-socket clients: many requests pipelined in
// one write are answered in order; a client that pipelines and never reads
// holds bounded buffers; a flooding client does not stall another client.
// Each test runs with busy polling off (replies sent as each connection is
// served) and on (replies of a round sent together).
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "core/unique_fd.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/server.hpp"
#include "xenstore/xs_client.hpp"

namespace tern::xs {
namespace {

using Clock = std::chrono::steady_clock;

class ServerTest : public ::testing::TestWithParam<std::chrono::microseconds> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tern-server-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/socket";
    daemon_ = std::make_unique<Daemon>();
    server_ = std::make_unique<Server>(*daemon_);
    server_->set_busy_poll(GetParam());
    ASSERT_TRUE(server_->listen_at(path_));
    thread_ = std::thread([this] { (void)server_->run(stop_); });
  }
  void TearDown() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    std::filesystem::remove_all(dir_);
  }

  // A plain connected socket (blocking unless asked otherwise).
  UniqueFd raw(bool nonblocking = false) {
    UniqueFd fd(
        ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof(a.sun_path) - 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }
  SocketClient client() {
    auto c = SocketClient::connect(path_);
    EXPECT_TRUE(c) << c.error().message();
    return std::move(*c);
  }
  static std::string call(XsClient& c, Type t, std::initializer_list<std::string_view> args) {
    auto m = c.call(t, nul_joined(args));
    if (!m) return "FAIL " + m.error().message();
    std::string text = payload_text(m->payload);
    return m->hdr.type == static_cast<std::uint32_t>(Type::error) ? "ERR " + text : text;
  }
  // A number from CONTROL memreport's text, after `label`.
  static std::size_t report_number(const std::string& rep, std::string_view label) {
    auto at = rep.find(label);
    if (at == std::string::npos) return static_cast<std::size_t>(-1);
    return std::stoull(rep.substr(at + label.size()));
  }

  std::string dir_, path_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Server> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void put(std::string& out, Type t, std::uint32_t req, std::string_view payload) {
  append_message(out, static_cast<std::uint32_t>(t), req, 0, payload);
}

std::string write_payload(std::string_view path, std::string_view value) {
  std::string p(path);
  p.push_back('\0');
  p += value;
  return p;
}

// Blocking write of everything; false on error.
bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    long n = ::write(fd, s.data(), s.size());
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until `count` whole replies arrived or `ms` passed; returns them.
std::vector<Message> read_replies(int fd, std::size_t count, int ms) {
  std::vector<Message> got;
  std::string in;
  auto deadline = Clock::now() + std::chrono::milliseconds(ms);
  while (got.size() < count && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    long n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    while (in.size() >= kHeaderSize) {
      auto h =
          *decode_header(std::span(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
      if (in.size() < kHeaderSize + h.len) break;
      got.push_back({h, in.substr(kHeaderSize, h.len)});
      in.erase(0, kHeaderSize + h.len);
    }
  }
  return got;
}

TEST_P(ServerTest, PipelinedRequestsInOneWriteAreAnsweredInOrder) {
  // 5000 WRITE + READ pairs, about 300 KB: more than the daemon reads from
  // one client per round, so requests are split across reads (some mid-request)
  // and handled over several rounds.
  constexpr std::uint32_t kPairs = 5000;
  std::string batch;
  for (std::uint32_t i = 0; i < kPairs; ++i) {
    std::string key = "/pipe/k" + std::to_string(i % 50);
    put(batch, Type::write, 2 * i + 1, write_payload(key, "value" + std::to_string(i)));
    put(batch, Type::read, 2 * i + 2, key + std::string(1, '\0'));
  }
  ASSERT_GT(batch.size(), 256u * 1024);
  UniqueFd fd = raw();
  std::thread writer([&] { EXPECT_TRUE(write_all(fd.get(), batch)); });
  auto got = read_replies(fd.get(), 2 * kPairs, 20000);
  writer.join();
  ASSERT_EQ(got.size(), 2 * kPairs);
  for (std::uint32_t i = 0; i < kPairs; ++i) {
    const Message& w = got[2 * i];
    const Message& r = got[2 * i + 1];
    ASSERT_EQ(w.hdr.req_id, 2 * i + 1);
    ASSERT_EQ(w.hdr.type, static_cast<std::uint32_t>(Type::write));
    ASSERT_EQ(w.payload, std::string("OK\0", 3));
    ASSERT_EQ(r.hdr.req_id, 2 * i + 2);
    ASSERT_EQ(r.hdr.type, static_cast<std::uint32_t>(Type::read));
    ASSERT_EQ(r.payload, "value" + std::to_string(i)) << "pair " << i;
  }
}

TEST_P(ServerTest, ClientThatPipelinesAndNeverReadsStaysBounded) {
  SocketClient admin = client();
  std::string big(4000, 'b');
  auto w = admin.call(Type::write, write_payload("/big", big));
  ASSERT_TRUE(w);
  ASSERT_EQ(payload_text(w->payload), "OK");
  // READs of a 4000-byte value, written until the daemon stops taking them
  // (its output for this client is full, so it stops reading, and then the
  // socket fills): 20k requests would be 80 MB of replies. (2.5k, 52 KB of
  // requests, was too few: one 64 KiB read by the daemon can take them all.)
  std::string req;
  put(req, Type::read, 1, std::string("/big") + '\0');
  UniqueFd greedy = raw(true);
  std::size_t sent = 0;
  auto idle_since = Clock::now();
  while (sent < 20000 * req.size() && Clock::now() - idle_since < std::chrono::milliseconds(500)) {
    long n = ::write(greedy.get(), req.data(), req.size());
    if (n == static_cast<long>(req.size())) {
      sent += req.size();
      idle_since = Clock::now();
    } else {
      ASSERT_TRUE(n < 0 && errno == EAGAIN) << "partial or failed write: " << n;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  EXPECT_LT(sent, 20000 * req.size()) << "the daemon kept reading a client that never reads";
  // Another client is still served, and the greedy one's buffers are bounded:
  // about kPauseOutput of replies and at most one read's worth of requests.
  std::string rep = call(admin, Type::control, {"memreport"});
  std::size_t in = report_number(rep, "input buffers ");
  std::size_t out = report_number(rep, "output buffers ");
  EXPECT_LE(out, 2 * (kPauseOutput + 4096 + 16)) << rep;
  EXPECT_GE(out, kPauseOutput) << rep;
  EXPECT_LE(in, 2 * 65536u) << rep;
  // Once it reads, everything it sent is answered.
  auto got = read_replies(greedy.get(), sent / req.size(), 20000);
  EXPECT_EQ(got.size(), sent / req.size());
  for (const Message& m : got) ASSERT_TRUE(m.payload == big) << m.payload.size() << " bytes";
}

TEST_P(ServerTest, FloodingClientDoesNotStallAnother) {
  // The flooder keeps about 64 KB of pipelined WRITEs in flight and drains
  // its replies on a second thread; meanwhile another client's requests
  // must each be answered promptly.
  std::string batch;
  for (std::uint32_t i = 0; i < 1200; ++i)
    put(batch, Type::write, i + 1, write_payload("/flood/k" + std::to_string(i % 64), "x"));
  UniqueFd flood = raw();
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> answered{0};
  std::thread writer([&] {
    while (!done && write_all(flood.get(), batch)) {
    }
  });
  std::thread reader([&] {
    std::string in;
    char buf[65536];
    while (!done) {
      pollfd p{flood.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      long n = ::read(flood.get(), buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
      std::size_t pos = 0;
      while (in.size() - pos >= kHeaderSize) {
        auto h = *decode_header(
            std::span(reinterpret_cast<const std::uint8_t*>(in.data()) + pos, in.size() - pos));
        if (in.size() - pos < kHeaderSize + h.len) break;
        pos += kHeaderSize + h.len;
        answered++;
      }
      in.erase(0, pos);
    }
  });
  // Wait until the flood is under way.
  auto until = Clock::now() + std::chrono::seconds(10);
  while (answered < 20000 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(answered, 20000u);
  SocketClient other = client();
  other.set_timeout(3000);  // a stalled request fails the call
  Clock::duration worst{};
  for (int i = 0; i < 50; ++i) {
    auto t0 = Clock::now();
    ASSERT_EQ(call(other, Type::write, {"/other", std::to_string(i)}), "OK");
    ASSERT_EQ(call(other, Type::read, {"/other"}), std::to_string(i));
    worst = std::max(worst, Clock::now() - t0);
  }
  std::uint64_t during = answered;
  done = true;
  ::shutdown(flood.get(), SHUT_RDWR);
  writer.join();
  reader.join();
  EXPECT_GE(during, 20000u);
  EXPECT_LT(worst, std::chrono::seconds(1))
      << "slowest request took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(worst).count() << " ms";
}

INSTANTIATE_TEST_SUITE_P(BusyPoll, ServerTest,
                         ::testing::Values(std::chrono::microseconds(0),
                                           std::chrono::microseconds(50)),
                         [](const auto& info) {
                           return "us" + std::to_string(info.param.count());
                         });

}  // namespace
}  // namespace tern::xs

// The shared-ring transport: the page's byte queues (wrap-around of the
// 1024-byte buffers and of the 32-bit offsets, partial transfers, hostile
// offsets), and a ring-connected guest served by the real epoll server on a
// thread: INTRODUCE with descriptors over the socket, notification both ways,
// requests longer than the ring, permissions, quotas, watches, reconnection,
// the error indicator and RELEASE.
#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include "io/unix_socket.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/live_update.hpp"
#include "xenstore/ring.hpp"
#include "xenstore/ring_client.hpp"
#include "xenstore/server.hpp"
#include "xenstore/socket_transport.hpp"

namespace tern::xs {
namespace {

// ---- the byte queues ----------------------------------------------------

struct alignas(4096) Page {
  unsigned char bytes[ring::kPageSize] = {};
};

void set_offsets(Page& p, std::uint32_t v) {
  for (std::size_t off : {ring::kReqCons, ring::kReqProd, ring::kRspCons, ring::kRspProd})
    ring::Field(p.bytes, off).store(v);
}

TEST(RingQueue, StreamSurvivesEdgeAndOffsetWrapAround) {
  // Start 100 bytes before both the 1024-byte edge and 2^32.
  for (std::uint32_t start : {0u, 1000u, 0xffffff9cu, 0xfffffc00u + 1000u}) {
    Page p;
    set_offsets(p, start);
    auto q = ring::requests(p.bytes);
    std::mt19937 rng(start);
    std::string sent, got;
    std::size_t next = 0;
    for (int round = 0; round < 2000; ++round) {
      std::string chunk(rng() % 700, '\0');
      for (char& ch : chunk) ch = static_cast<char>('A' + (next++ % 53));
      auto n = q.put(chunk.data(), chunk.size());
      ASSERT_TRUE(n);
      ASSERT_LE(*n, chunk.size());
      sent.append(chunk, 0, *n);
      next -= chunk.size() - *n;
      char buf[1024];
      auto m = q.get(buf, rng() % 1024);
      ASSERT_TRUE(m);
      got.append(buf, *m);
      ASSERT_LE(*q.pending(), ring::kQueueSize);
    }
    char buf[1024];
    got.append(buf, *q.get(buf, sizeof buf));
    EXPECT_EQ(got, sent) << "start offset " << start;
    EXPECT_GT(sent.size(), 100000u);
  }
}

TEST(RingQueue, FullAndEmptyAndPartialTransfers) {
  Page p;
  set_offsets(p, 0xfffffff0u);
  auto q = ring::responses(p.bytes);
  std::string big(1500, 'x');
  EXPECT_EQ(q.put(big.data(), big.size()), 1024u);  // only what fits
  EXPECT_EQ(q.put(big.data(), 1), 0u);              // full
  char buf[2048];
  EXPECT_EQ(q.get(buf, 10), 10u);
  EXPECT_EQ(q.put(big.data(), 100), 10u);  // exactly the freed room
  EXPECT_EQ(q.get(buf, sizeof buf), 1024u);
  EXPECT_EQ(q.get(buf, sizeof buf), 0u);  // empty
}

TEST(RingQueue, InconsistentOffsetsAreRefused) {
  Page p;
  set_offsets(p, 5);
  ring::Field(p.bytes, ring::kReqProd).store(5 + 1025);  // more than a ring's worth ahead
  auto q = ring::requests(p.bytes);
  char buf[16];
  EXPECT_FALSE(q.get(buf, sizeof buf));
  EXPECT_FALSE(q.put(buf, sizeof buf));
  EXPECT_FALSE(q.pending());
  ring::Field(p.bytes, ring::kReqProd).store(4);  // producer behind the consumer
  EXPECT_FALSE(q.get(buf, sizeof buf));
}

// ---- a guest on a ring, served by the real server ---------------------------

class RingServer : public ::testing::Test {
 protected:
  // `before` runs on the daemon before the server thread starts.
  void start(Quotas q = {}, const std::function<void(Daemon&, Server&)>& before = {}) {
    char tmpl[] = "/tmp/tern-ring-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/socket";
    daemon_ = std::make_unique<Daemon>(q);
    server_ = std::make_unique<Server>(*daemon_);
    ASSERT_TRUE(server_->listen_at(path_));
    if (before) before(*daemon_, *server_);
    thread_ = std::thread([this] { (void)server_->run(stop_); });
    auto c = SocketClient::connect(path_);
    ASSERT_TRUE(c) << c.error().message();
    dom0_ = std::make_unique<SocketClient>(std::move(*c));
  }
  void TearDown() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // A guest domain `domid` with a home it owns, introduced through its ring.
  std::unique_ptr<RingGuest> guest(std::uint32_t domid, std::uint32_t start_offset = 0) {
    std::string home = "/local/domain/" + std::to_string(domid);
    EXPECT_EQ(call(*dom0_, Type::mkdir, {home}), "OK");
    EXPECT_EQ(call(*dom0_, Type::set_perms, {home, "n" + std::to_string(domid)}), "OK");
    auto g = RingGuest::create(start_offset);
    EXPECT_TRUE(g);
    auto r =
        dom0_->introduce(domid, 0, 7, (*g)->memory_fd(), (*g)->to_daemon_fd(), (*g)->to_guest_fd());
    EXPECT_TRUE(r) << r.error().message();
    EXPECT_EQ(payload_text(r->payload), "OK");
    return std::move(*g);
  }

  // A request's reply as text; "ERR <name>" for an error, "FAIL ..." if none came.
  static std::string call(XsClient& c, Type t, std::initializer_list<std::string_view> args,
                          std::uint32_t tx = 0) {
    auto m = c.call(t, nul_joined(args), tx);
    if (!m) return "FAIL " + m.error().message();
    std::string text = payload_text(m->payload);
    return m->hdr.type == static_cast<std::uint32_t>(Type::error) ? "ERR " + text : text;
  }
  static std::string write(XsClient& c, std::string_view path, std::string_view value) {
    std::string p(path);
    p.push_back('\0');
    p += value;
    auto m = c.call(Type::write, p);
    if (!m) return "FAIL " + m.error().message();
    std::string text = payload_text(m->payload);
    return m->hdr.type == static_cast<std::uint32_t>(Type::error) ? "ERR " + text : text;
  }
  static std::string event(XsClient& c, int ms = 2000) {
    Message m;
    auto got = c.next_event(ms, m);
    if (!got) return "FAIL " + got.error().message();
    return *got ? payload_text(m.payload) : "none";
  }

  std::string dir_, path_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Server> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::unique_ptr<SocketClient> dom0_;
};

TEST_F(RingServer, GuestUsesItsHomeAndIsRefusedOthers) {
  start();
  auto g = guest(5, 0xfffffc00u + 1000);  // the first request crosses the edge and 2^32
  EXPECT_EQ(g->server_features(), kSupportedFeatures);
  EXPECT_EQ(write(*g, "data/x", "hello"), "OK");
  EXPECT_EQ(call(*g, Type::read, {"data/x"}), "hello");
  EXPECT_EQ(call(*g, Type::read, {"/local/domain/5/data/x"}), "hello");
  EXPECT_EQ(call(*g, Type::get_perms, {"data/x"}), "n5");  // it owns what it creates
  EXPECT_EQ(call(*g, Type::read, {"/tool"}), "ERR EACCES");
  EXPECT_EQ(write(*g, "/local/domain/6/y", "v"), "ERR EACCES");
  EXPECT_EQ(call(*g, Type::introduce, {"9", "0", "1"}), "ERR EACCES");  // not privileged
  EXPECT_EQ(call(*g, Type::get_domain_path, {"5"}), "/local/domain/5");
  EXPECT_EQ(call(*g, Type::is_domain_introduced, {"5"}), "T");
  EXPECT_EQ(call(*dom0_, Type::is_domain_introduced, {"5"}), "T");
  EXPECT_EQ(call(*dom0_, Type::resume, {"5"}), "OK");
  EXPECT_EQ(call(*dom0_, Type::read, {"/local/domain/5/data/x"}), "hello");
}

TEST_F(RingServer, RequestsAndRepliesLongerThanTheRing) {
  Quotas q;
  q.node_size = 0;  // values up to the payload limit
  start(q);
  auto g = guest(5, 1000);
  std::string value(4000, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + i % 26);
  for (int round = 0; round < 5; ++round) {  // each crosses the edge at a different place
    EXPECT_EQ(write(*g, "big", value), "OK");
    auto m = g->call(Type::read, nul_joined({"big"}));
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(m->payload, value);
    value.pop_back();
  }
}

TEST_F(RingServer, PartialMessageWaitsForTheRestAndKicksWork) {
  start();
  auto g = guest(5, 1020);  // the header itself straddles the edge
  std::string req;
  append_message(req, static_cast<std::uint32_t>(Type::write), 77, 0,
                 std::string_view("k\0value", 7));
  ASSERT_EQ(g->push(std::string_view(req).substr(0, 10)), 10u);
  g->kick();
  // The daemon consumes the bytes (and signals room) but has nothing to answer yet.
  EXPECT_TRUE(g->wait_signal(2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(*ring::responses(g->page()).pending(), 0u);
  EXPECT_EQ(*ring::requests(g->page()).pending(), 0u);
  ASSERT_EQ(g->push(std::string_view(req).substr(10)), req.size() - 10);
  g->kick();
  // Now a reply arrives and the guest's eventfd says so.
  pollfd p{g->to_guest_fd(), POLLIN, 0};
  for (int i = 0; i < 100 && *ring::responses(g->page()).pending() == 0; ++i) {
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    g->wait_signal(0);
  }
  ASSERT_GE(*ring::responses(g->page()).pending(), kHeaderSize + 3);
  Message m;
  EXPECT_FALSE(g->next_event(0, m));  // a reply is not a watch event
  EXPECT_EQ(call(*g, Type::read, {"k"}), "value");
}

TEST_F(RingServer, WatchEventsReachTheGuest) {
  start();
  auto g = guest(5);
  EXPECT_EQ(call(*g, Type::watch, {"data", "tok"}), "OK");
  EXPECT_EQ(event(*g), "data tok");  // the initial event, relative as given
  EXPECT_EQ(write(*dom0_, "/local/domain/5/data/y", "1"), "OK");
  EXPECT_EQ(event(*g), "data/y tok");
  EXPECT_EQ(write(*dom0_, "/local/domain/5/other", "1"), "OK");
  EXPECT_EQ(event(*g, 100), "none");
  EXPECT_EQ(call(*g, Type::watch, {"/tool", "t2"}), "OK");  // unreadable: initial event only
  EXPECT_EQ(event(*g), "/tool t2");
  EXPECT_EQ(write(*dom0_, "/tool/z", "1"), "OK");
  EXPECT_EQ(event(*g, 100), "none");
}

TEST_F(RingServer, QuotasApplyToTheRingDomain) {
  Quotas q;
  q.nodes = 4;
  q.node_size = 100;
  start(q);
  auto g = guest(5);  // its home belongs to it: 1 node
  EXPECT_EQ(write(*g, "a", "1"), "OK");
  EXPECT_EQ(write(*g, "b", "1"), "OK");
  EXPECT_EQ(write(*g, "c", "1"), "OK");
  EXPECT_EQ(write(*g, "d", "1"), "ERR ENOSPC");
  EXPECT_EQ(write(*g, "a", std::string(101, 'v')), "ERR ENOSPC");
  EXPECT_EQ(write(*dom0_, "/local/domain/5/e", "1"), "OK");  // dom0 has no quota
}

TEST_F(RingServer, ReleaseFreesTheConnectionAndFiresReleaseDomain) {
  start();
  auto g = guest(5);
  EXPECT_EQ(call(*dom0_, Type::watch, {"@releaseDomain", "rel"}), "OK");
  EXPECT_EQ(event(*dom0_), "@releaseDomain rel");
  EXPECT_EQ(call(*g, Type::watch, {"data", "tok"}), "OK");
  EXPECT_EQ(event(*g), "data tok");
  EXPECT_EQ(call(*g, Type::transaction_start, {""}), "1");
  std::string before = call(*dom0_, Type::control, {"memreport"});
  EXPECT_NE(before.find("watches: 2\n"), std::string::npos) << before;
  EXPECT_NE(before.find("transactions: 1 "), std::string::npos) << before;
  EXPECT_EQ(call(*dom0_, Type::release, {"5"}), "OK");
  EXPECT_EQ(event(*dom0_), "@releaseDomain rel");
  EXPECT_EQ(call(*dom0_, Type::is_domain_introduced, {"5"}), "F");
  std::string after = call(*dom0_, Type::control, {"memreport"});
  EXPECT_NE(after.find("watches: 1\n"), std::string::npos) << after;
  EXPECT_NE(after.find("transactions: 0 "), std::string::npos) << after;
  EXPECT_NE(after.find("connections: 1 "), std::string::npos) << after;
  g->set_timeout(200);
  EXPECT_TRUE(call(*g, Type::read, {"data"}).starts_with("FAIL"))
      << "a released ring is not served";
  EXPECT_EQ(call(*dom0_, Type::resume, {"5"}), "ERR ENOENT");
  EXPECT_EQ(call(*dom0_, Type::control, {"check"}), "OK");
}

TEST_F(RingServer, IntroduceDomainEventAndReintroduceKeepsState) {
  start();
  EXPECT_EQ(call(*dom0_, Type::watch, {"@introduceDomain", "in"}), "OK");
  EXPECT_EQ(event(*dom0_), "@introduceDomain in");
  auto g = guest(5);
  EXPECT_EQ(event(*dom0_), "@introduceDomain in");
  EXPECT_EQ(call(*g, Type::watch, {"data", "tok"}), "OK");
  EXPECT_EQ(event(*g), "data tok");
  // The domain comes back on a new page and eventfds (say, after kexec).
  auto g2 = RingGuest::create(500);
  ASSERT_TRUE(g2);
  auto r =
      dom0_->introduce(5, 0, 8, (*g2)->memory_fd(), (*g2)->to_daemon_fd(), (*g2)->to_guest_fd());
  ASSERT_TRUE(r);
  EXPECT_EQ(payload_text(r->payload), "OK");
  EXPECT_EQ(event(*dom0_, 100), "none");  // not introduced twice
  EXPECT_EQ(write(*dom0_, "/local/domain/5/data/z", "1"), "OK");
  EXPECT_EQ(event(**g2), "data/z tok");  // the watch moved with the connection
  EXPECT_EQ(call(**g2, Type::read, {"data/z"}), "1");
}

TEST_F(RingServer, ReconnectionDropsWatchesAndTransactions) {
  start();
  auto g = guest(5);
  EXPECT_EQ(call(*g, Type::watch, {"data", "tok"}), "OK");
  EXPECT_EQ(event(*g), "data tok");
  EXPECT_EQ(call(*g, Type::transaction_start, {""}), "1");
  auto r = g->reconnect(2000);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(g->connection_state(), ring::kConnected);
  EXPECT_EQ(write(*dom0_, "/local/domain/5/data/z", "1"), "OK");
  EXPECT_EQ(event(*g, 100), "none");
  EXPECT_EQ(call(*g, Type::read, {"data/z"}, 1), "ERR ENOENT");  // transaction 1 is gone
  EXPECT_EQ(call(*g, Type::read, {"data/z"}), "1");
}

TEST_F(RingServer, ProtocolErrorsSetTheIndicatorUntilReconnection) {
  start();
  auto g = guest(5);
  std::string bad;
  append_message(bad, static_cast<std::uint32_t>(Type::read), 1, 0, "");
  const std::uint32_t too_long = kPayloadMax + 1;
  std::memcpy(bad.data() + 12, &too_long, 4);
  ASSERT_EQ(g->push(bad), kHeaderSize);
  g->kick();
  for (int i = 0; i < 100 && g->error_indicator() == 0; ++i) g->wait_signal(50);
  EXPECT_EQ(g->error_indicator(), static_cast<std::uint32_t>(ConnError::protocol));
  g->set_timeout(200);
  EXPECT_TRUE(call(*g, Type::read, {"data"}).starts_with("FAIL")) << "an errored ring is ignored";
  ASSERT_TRUE(g->reconnect(2000));
  EXPECT_EQ(g->error_indicator(), 0u);
  g->set_timeout(5000);
  EXPECT_EQ(write(*g, "x", "1"), "OK");

  // Offsets out of range: the same, with its own error value.
  ring::Field(g->page(), ring::kReqProd)
      .store(ring::Field(g->page(), ring::kReqCons).load() + 3000);
  g->kick();
  for (int i = 0; i < 100 && g->error_indicator() == 0; ++i) g->wait_signal(50);
  EXPECT_EQ(g->error_indicator(), static_cast<std::uint32_t>(ConnError::ring_index));
  ASSERT_TRUE(g->reconnect(2000));
  EXPECT_EQ(call(*g, Type::read, {"x"}), "1");
  EXPECT_EQ(call(*dom0_, Type::control, {"check"}), "OK");
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST_F(RingServer, BadIntroductionsAreRefusedAndLeakNothing) {
  start();
  auto g = RingGuest::create();
  ASSERT_TRUE(g);
  EXPECT_EQ(call(*dom0_, Type::is_domain_introduced, {"5"}), "F");
  std::size_t fds = open_fds();
  for (int i = 0; i < 5; ++i) {
    // Descriptors in the wrong order: the memory file is not an eventfd.
    auto r =
        dom0_->introduce(5, 0, 1, (*g)->to_daemon_fd(), (*g)->memory_fd(), (*g)->to_guest_fd());
    ASSERT_TRUE(r);
    EXPECT_EQ(payload_text(r->payload), "EINVAL");
    // A page beyond the memory file.
    r = dom0_->introduce(5, 1, 1, (*g)->memory_fd(), (*g)->to_daemon_fd(), (*g)->to_guest_fd());
    EXPECT_EQ(payload_text(r->payload), "EINVAL");
    // A bad domid: the request fails before it looks at the descriptors.
    r = dom0_->introduce(70000, 0, 1, (*g)->memory_fd(), (*g)->to_daemon_fd(), (*g)->to_guest_fd());
    EXPECT_EQ(payload_text(r->payload), "EINVAL");
  }
  EXPECT_EQ(call(*dom0_, Type::is_domain_introduced, {"5"}), "F");
  EXPECT_EQ(open_fds(), fds) << "the daemon closed every descriptor it did not use";
  // An unsealed memory file could be truncated under the daemon: refused.
  UniqueFd unsealed(::memfd_create("unsealed", MFD_CLOEXEC));
  ASSERT_EQ(::ftruncate(unsealed.get(), 4096), 0);
  auto r = dom0_->introduce(5, 0, 1, unsealed.get(), (*g)->to_daemon_fd(), (*g)->to_guest_fd());
  EXPECT_EQ(payload_text(r->payload), "EINVAL");
}

// Whether this kernel has SO_PASSRIGHTS (Linux >= 6.16).
bool kernel_refuses_fds_on_request() {
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int v = 0;
  socklen_t len = sizeof v;
  return ::getsockopt(s.get(), SOL_SOCKET, kSoPassRights, &v, &len) == 0;
}

// One request with `fd` attached (SCM_RIGHTS); sendmsg's result, -errno on failure.
long send_with_fd(int sock, const std::string& bytes, int fd) {
  const long n = io::send_with_fds(sock, bytes, std::span<const int>(&fd, 1));
  return n < 0 ? -errno : n;
}

// Connections read with recv() cannot take descriptors: the kernel refuses
// them to the sender (EPERM) until the connection asks (CONTROL
// tern-fd-passing), so none is ever lost or leaked on the way.
TEST_F(RingServer, DescriptorsNeedTheConnectionsConsent) {
  if (!kernel_refuses_fds_on_request()) GTEST_SKIP() << "kernel without SO_PASSRIGHTS";
  start();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  UniqueFd raw(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(raw.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req;
  append_message(req, static_cast<std::uint32_t>(Type::read), 1, 0, nul_joined({"/"}));
  UniqueFd spare(::memfd_create("spare", MFD_CLOEXEC));
  // A plain request first: its reply means the daemon (a thread of this
  // process) has accepted the connection, so the descriptor count is stable.
  char reply[256];
  ASSERT_EQ(::send(raw.get(), req.data(), req.size(), MSG_NOSIGNAL), static_cast<long>(req.size()));
  ASSERT_GE(::recv(raw.get(), reply, sizeof reply, 0), 16);
  std::size_t fds = open_fds();
  EXPECT_EQ(send_with_fd(raw.get(), req, spare.get()), -EPERM);
  EXPECT_EQ(open_fds(), fds);
  // The connection goes on; the refused request never arrived.
  ASSERT_EQ(::send(raw.get(), req.data(), req.size(), MSG_NOSIGNAL), static_cast<long>(req.size()));
  long n = ::recv(raw.get(), reply, sizeof reply, 0);
  ASSERT_GE(n, 16);
  std::uint32_t h[4];
  std::memcpy(h, reply, sizeof h);
  EXPECT_EQ(h[0], static_cast<std::uint32_t>(Type::read));
  EXPECT_EQ(h[1], 1u);
  EXPECT_EQ(static_cast<std::size_t>(n), 16 + h[3]) << "one reply only";
  auto client = SocketClient::connect(path_);
  ASSERT_TRUE(client);
  EXPECT_EQ(call(*client, Type::control, {"tern-fd-passing", "x"}), "ERR EINVAL");
  EXPECT_EQ(call(*client, Type::control, {"tern-fd-passing"}), "OK");
  EXPECT_EQ(call(*client, Type::control, {"tern-fd-passing"}), "OK");  // idempotent
  // After consent: INTRODUCE with its ring (SocketClient asks by itself).
  auto g = RingGuest::create();
  ASSERT_TRUE(g);
  auto r = dom0_->introduce(5, 0, 1, (*g)->memory_fd(), (*g)->to_daemon_fd(), (*g)->to_guest_fd());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(payload_text(r->payload), "OK");
  EXPECT_EQ(write(*dom0_, "/tool", "x"), "OK");
  EXPECT_EQ(call(**g, Type::read, {"/tool"}), "ERR EACCES");  // served through the ring
  // A domain's connection acting through a socket is unprivileged: no consent.
  EXPECT_EQ(call(*dom0_, Type::control, {"tern-as-domain", "7"}), "OK");
  EXPECT_EQ(call(*dom0_, Type::control, {"tern-fd-passing"}), "ERR EACCES");
}

// The consent lives in the socket (SO_PASSRIGHTS), so a connection carried
// across a live update (a new SocketTransport on the same descriptor) keeps it.
TEST(SocketTransportFds, ConsentFollowsTheSocket) {
  if (!kernel_refuses_fds_on_request()) GTEST_SKIP() << "kernel without SO_PASSRIGHTS";
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  const int off = 0;
  ASSERT_EQ(::setsockopt(sv[0], SOL_SOCKET, kSoPassRights, &off, sizeof off), 0);
  auto first = std::make_unique<SocketTransport>(UniqueFd(sv[0]));
  EXPECT_FALSE(first->passes_fds());
  EXPECT_EQ(send_with_fd(peer.get(), "x", peer.get()), -EPERM);
  EXPECT_TRUE(first->allow_passed_fds());
  EXPECT_TRUE(first->passes_fds());
  EXPECT_EQ(send_with_fd(peer.get(), "y", peer.get()), 1);
  UniqueFd kept(::dup(first->socket_fd()));
  first.reset();
  SocketTransport second(std::move(kept));
  EXPECT_TRUE(second.passes_fds());
  char b[4];
  EXPECT_EQ(second.read_some(b, sizeof b), 1);
  EXPECT_EQ(second.take_passed_fds().size(), 1u);
}

// A live update cannot carry ring connections yet: while one exists, -s is
// refused with the reason (naming the domain) and everything goes on.
// A ring no longer stops a live update from starting (its descriptors go
// with the image); an update that fails at its check leaves the guest served.
TEST_F(RingServer, FailedLiveUpdateLeavesTheRingServed) {
  std::unique_ptr<LiveUpdate> lu;
  start({}, [&](Daemon& d, Server& s) {
    lu = std::make_unique<LiveUpdate>(d, LiveUpdateSetup{dir_, {}, s.listen_fd(), "", false});
    lu->install();
  });
  auto g = guest(5);
  EXPECT_EQ(write(*g, "data/x", "before"), "OK");
  EXPECT_EQ(call(*dom0_, Type::control, {"live-update", "-f", "/bin/true"}), "OK");
  std::string why = "BUSY";
  for (int i = 0; i < 250 && why == "BUSY"; ++i) {
    why = call(*dom0_, Type::control, {"live-update", "-s"});
    if (why == "BUSY") std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(why.find("did not confirm the image"), std::string::npos) << why;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/state_dump"));
  EXPECT_EQ(call(*g, Type::read, {"data/x"}), "before");
  EXPECT_EQ(write(*g, "data/x", "after"), "OK");
  EXPECT_EQ(call(*dom0_, Type::read, {"/local/domain/5/data/x"}), "after");
  stop_ = true;
  if (thread_.joinable()) thread_.join();  // the server stops using `lu` before it goes
}

}  // namespace
}  // namespace tern::xs

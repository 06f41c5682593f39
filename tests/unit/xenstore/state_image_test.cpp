// The live-update image of the whole daemon: dump -> restore -> dump gives
// the same bytes, and a restored daemon answers every later request exactly
// as the original does (differential: the same requests go to both).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/byte_sink.hpp"
#include "core/byte_source.hpp"
#include "stream/xenstore/describe.hpp"
#include "stream/xenstore/image_writer.hpp"
#include "xenstore/connection_state.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/ring_client.hpp"
#include "xenstore/ring_transport.hpp"
#include "xenstore/state_dump.hpp"
#include "xenstore/state_restore.hpp"

namespace tern::xs {
namespace {

// A socket that is never touched: the tests read and write the buffers.
class TestSocket final : public Transport {
 public:
  explicit TestSocket(int fd) : fd_(fd) {}
  long read_some(char*, std::size_t) override { return -1; }
  long write_some(const char*, std::size_t) override { return -1; }
  [[nodiscard]] int fd() const override { return fd_; }
  [[nodiscard]] ConnType type() const override { return ConnType::socket; }
  [[nodiscard]] std::uint32_t poll_events(bool, bool) const override { return 0; }

 private:
  int fd_;
};

std::string req(Type t, std::string_view payload, std::uint32_t id = 1, std::uint32_t tx = 0) {
  std::string m;
  append_message(m, static_cast<std::uint32_t>(t), id, tx, payload);
  return m;
}

std::string args(std::initializer_list<std::string_view> a) {
  std::string s;
  for (auto x : a) {
    s.append(x);
    s.push_back('\0');
  }
  return s;
}

void send(Daemon& d, std::uint64_t conn, Type t, std::string_view payload, std::uint32_t id = 1,
          std::uint32_t tx = 0) {
  Connection& c = d.conns.at(conn);
  c.in += req(t, payload, id, tx);
  ASSERT_TRUE(d.process_input(c));
}

// Unsent output of a connection, then marks it all written.
std::string drain(Daemon& d, std::uint64_t conn) {
  Connection& c = d.conns.at(conn);
  std::string out = c.out.substr(c.out_sent);
  d.consumed_output(c, c.pending_out());
  return out;
}

std::vector<std::byte> dump(const Daemon& d, DumpOptions o = {}) {
  VectorSink sink;
  auto st = dump_state(d, sink, o);
  EXPECT_TRUE(st) << (st ? "" : st.error().message());
  return sink.take();
}

Expected<RestoreResult> restore(Bytes image, Daemon& d) {
  MemorySource src(image);
  return restore_state(src, d, RestoreOptions{FdCheck::none, image.size()});
}

// A daemon with a bit of everything a live update must carry.
std::unique_ptr<Daemon> busy_daemon() {
  auto d = std::make_unique<Daemon>();
  Daemon& D = *d;
  for (int i = 0; i < 4; ++i) D.add_connection(std::make_unique<TestSocket>(900 + i));
  // 1: dom0 tool; 2: acts as domain 5; 3: watcher; 4: idle with partial I/O.
  send(D, 1, Type::mkdir, args({"/local/domain/5"}));
  send(D, 1, Type::set_perms, args({"/local/domain/5", "n5", "r0"}));
  send(D, 1, Type::introduce, args({"5", "1234", "7"}));
  send(D, 1, Type::set_target, args({"5", "0"}));
  for (int i = 0; i < 50; ++i)
    send(D, 1, Type::write,
         args({fmt::format("/data/k{:02}", (i * 7) % 50)}) + "value" + std::to_string(i));
  send(D, 1, Type::write, std::string("/data/bin\0\x01\x02\0\xff", 14));
  send(D, 1, Type::set_perms, args({"@releaseDomain", "b0", "r5"}));
  send(D, 1, Type::set_quota, args({"5", "nodes", "77"}));
  send(D, 1, Type::control, args({"quota", "set", "watches", "99"}));
  drain(D, 1);
  send(D, 2, Type::control, args({"tern-as-domain", "5"}));
  send(D, 2, Type::write, args({"device/vif/0/state"}) + "1");
  send(D, 2, Type::watch, args({"device", "rel-token"}));
  send(D, 2, Type::watch, args({"/local/domain/0", "abs", "2"}));
  send(D, 3, Type::watch, args({"/data", "w-data"}));
  send(D, 3, Type::watch, args({"@introduceDomain", "intro"}));
  // Open transactions: one untouched, one with writes and deletes, one doomed.
  send(D, 1, Type::transaction_start, std::string("\0", 1), 90);
  send(D, 1, Type::transaction_start, std::string("\0", 1), 91);
  send(D, 1, Type::transaction_start, std::string("\0", 1), 92);
  send(D, 1, Type::read, args({"/data/k01"}), 93, 1);
  send(D, 1, Type::write, args({"/data/new/deep"}) + "x", 94, 2);
  send(D, 1, Type::rm, args({"/data/k02"}), 95, 2);
  send(D, 1, Type::read, args({"/data/absent"}), 96, 2);
  send(D, 1, Type::set_perms, args({"/data/k03", "b0", "r5"}), 97, 2);
  send(D, 1, Type::directory, args({"/data"}), 98, 2);
  send(D, 1, Type::read, args({"/data/k04"}), 99, 3);
  send(D, 1, Type::write, args({"/data/k04"}) + "changed-outside", 100);  // dooms transaction 3
  send(D, 2, Type::transaction_start, std::string("\0", 1), 101);
  send(D, 2, Type::write, args({"device/vif/0/state"}) + "4", 102, 1);
  drain(D, 1);
  drain(D, 2);
  // Connection 3 has watch events it has not taken, half of one written.
  Connection& c3 = D.conns.at(3);
  D.consumed_output(c3, 7);
  // Connection 4: a partial request waiting for the rest.
  Connection& c4 = D.conns.at(4);
  c4.in = req(Type::read, args({"/data/k05"}), 5).substr(0, 20);
  return d;
}

TEST(StateImage, DumpRestoreDumpIsIdentical) {
  auto d = busy_daemon();
  auto a = dump(*d, DumpOptions{3, std::nullopt, 0});
  auto summary = stream::xenstore::verify(a);
  ASSERT_TRUE(summary) << summary.error().message();
  EXPECT_EQ(summary->count(stream::xenstore::RecordType::connection_data), 4u);
  EXPECT_EQ(summary->count(stream::xenstore::RecordType::transaction_data), 4u);
  EXPECT_GT(summary->pending_nodes, 4u);

  Daemon r;
  auto res = restore(a, r);
  ASSERT_TRUE(res) << res.error().message();
  EXPECT_EQ(res->listen_fd, 3);
  EXPECT_EQ(res->connections, 4u);
  EXPECT_EQ(res->transactions, 4u);
  EXPECT_EQ(r.store.node_count(), d->store.node_count());
  EXPECT_FALSE(r.store.check()) << *r.store.check();
  auto b = dump(r, DumpOptions{3, std::nullopt, 0});
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b);
}

// Runs the same requests on the original and on a restored copy and
// compares every byte each connection receives.
class Differential : public ::testing::Test {
 protected:
  void SetUp() override {
    orig_ = busy_daemon();
    auto image = dump(*orig_);
    auto res = restore(image, copy_);
    ASSERT_TRUE(res) << res.error().message();
  }
  void both(std::uint64_t conn, Type t, std::string_view payload, std::uint32_t id = 1,
            std::uint32_t tx = 0) {
    send(*orig_, conn, t, payload, id, tx);
    send(copy_, conn, t, payload, id, tx);
  }
  void same_output() {
    for (std::uint64_t c = 1; c <= 4; ++c) {
      // RELEASE removes the released domain's connections at once: gone in both.
      bool in_orig = orig_->conns.contains(c), in_copy = copy_.conns.contains(c);
      EXPECT_EQ(in_orig, in_copy) << "connection " << c;
      if (in_orig && in_copy) {
        EXPECT_EQ(drain(*orig_, c), drain(copy_, c)) << "connection " << c;
      }
    }
    EXPECT_EQ(dump(*orig_), dump(copy_));
  }
  std::unique_ptr<Daemon> orig_;
  Daemon copy_;
};

TEST_F(Differential, PendingOutputAndPartialInputContinue) {
  same_output();  // including the half-written watch event on connection 3
  // The rest of connection 4's request arrives.
  std::string rest = req(Type::read, args({"/data/k05"}), 5).substr(20);
  orig_->conns.at(4).in += rest;
  copy_.conns.at(4).in += rest;
  ASSERT_TRUE(orig_->process_input(orig_->conns.at(4)));
  ASSERT_TRUE(copy_.process_input(copy_.conns.at(4)));
  same_output();
}

TEST_F(Differential, UntouchedTransactionCommits) {
  both(1, Type::transaction_end, args({"T"}), 200, 1);
  std::string reply = drain(*orig_, 1);
  EXPECT_NE(reply.find("OK"), std::string::npos);
  EXPECT_EQ(reply, drain(copy_, 1));
  same_output();
}

TEST_F(Differential, TransactionWithWritesCommitsAndFiresTheSameEvents) {
  both(1, Type::read, args({"/data/new/deep"}), 201, 2);
  both(1, Type::directory, args({"/data"}), 202, 2);
  both(1, Type::transaction_end, args({"T"}), 203, 2);
  same_output();  // connection 3 watches /data: the commit's events
  both(1, Type::read, args({"/data/new/deep"}), 204);
  both(1, Type::directory, args({"/data"}), 205);
  both(1, Type::get_perms, args({"/data/k03"}), 206);
  same_output();
}

TEST_F(Differential, DoomedTransactionFailsWithEagain) {
  both(1, Type::read, args({"/data/k04"}), 210, 3);  // still its first view
  both(1, Type::transaction_end, args({"T"}), 211, 3);
  std::string out = drain(*orig_, 1);
  EXPECT_NE(out.find("EAGAIN"), std::string::npos);
  EXPECT_EQ(out, drain(copy_, 1));
  same_output();
}

TEST_F(Differential, ChangeAfterRestoreMakesCommitConflict) {
  both(3, Type::write, args({"/data/new"}) + "someone else", 220);
  both(1, Type::transaction_end, args({"T"}), 221, 2);
  std::string out = drain(*orig_, 1);
  EXPECT_NE(out.find("EAGAIN"), std::string::npos);
  EXPECT_EQ(out, drain(copy_, 1));
  same_output();
}

TEST_F(Differential, GuestTransactionQuotaWatchesAndNewTransactions) {
  both(2, Type::transaction_end, args({"T"}), 230, 1);
  both(2, Type::transaction_start, std::string("\0", 1), 231);    // the same next id
  both(2, Type::write, args({"device/vif/1/state"}) + "1", 232);  // relative watch fires
  both(2, Type::write, args({"/data/x"}) + "no", 233);            // EACCES as a guest
  both(1, Type::get_quota, args({"5", "nodes"}), 234);
  both(1, Type::control, args({"quota"}), 235);
  both(1, Type::is_domain_introduced, args({"5"}), 236);
  both(1, Type::release, args({"5"}), 237);  // fires @releaseDomain; drops connection 2
  same_output();
}

TEST(StateImage, LiveUpdateReplyIsMarked) {
  auto d = busy_daemon();
  Connection& c = d->conns.at(1);
  std::uint64_t at = c.out_base + c.out.size();
  append_message(c.out, static_cast<std::uint32_t>(Type::control), 77, 0,
                 std::string_view("OK\0", 3));
  auto image = dump(*d, DumpOptions{-1, 1, at});
  Daemon r;
  auto res = restore(image, r);
  ASSERT_TRUE(res) << res.error().message();
  ASSERT_TRUE(res->live_update_conn);
  EXPECT_EQ(*res->live_update_conn, 1u);
  EXPECT_EQ(r.conns.at(1).out.substr(res->live_update_reply_at, kHeaderSize + 3),
            c.out.substr(static_cast<std::size_t>(at - c.out_base)));
}

TEST(StateImage, RefusesImagesTheDaemonCannotTake) {
  auto d = busy_daemon();
  auto good = dump(*d);
  auto try_restore = [](std::vector<std::byte> image) {
    Daemon r;
    return restore(image, r);
  };
  ASSERT_TRUE(try_restore(good));
  // Truncated anywhere: an error, never a crash.
  for (std::size_t cut : {std::size_t{0}, std::size_t{17}, good.size() / 3, good.size() - 1}) {
    auto img = good;
    img.resize(cut);
    EXPECT_FALSE(try_restore(img)) << "cut at " << cut;
  }
  // A node without its parent.
  {
    Daemon only;
    VectorSink s;
    stream::xenstore::ImageWriter w(s);
    ASSERT_TRUE(w.write_header());
    std::vector<stream::xenstore::Perm> p{{'n', 0, 0}};
    ASSERT_TRUE(w.write(stream::xenstore::NodeData{0, 0, 0, p, "/", {}}));
    ASSERT_TRUE(w.write(stream::xenstore::NodeData{0, 0, 0, p, "/a/b", {}}));
    ASSERT_TRUE(w.finish());
    auto r = restore(s.data(), only);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("/a/b: parent missing"), std::string::npos)
        << r.error().message();
  }
  // No root at all.
  {
    Daemon only;
    VectorSink s;
    stream::xenstore::ImageWriter w(s);
    ASSERT_TRUE(w.write_header());
    ASSERT_TRUE(w.finish());
    auto r = restore(s.data(), only);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("no root"), std::string::npos);
  }
  // A shared-ring connection without tern's ring record (as Xen writes it:
  // its page is found by domain id through grant mapping).
  {
    Daemon only;
    VectorSink s;
    stream::xenstore::ImageWriter w(s);
    ASSERT_TRUE(w.write_header());
    std::vector<stream::xenstore::Perm> p{{'n', 0, 0}};
    ASSERT_TRUE(w.write(stream::xenstore::NodeData{0, 0, 0, p, "/", {}}));
    ASSERT_TRUE(w.write(
        stream::xenstore::ConnectionData{1, stream::xenstore::RingSpec{3, 0x7ff4, 9}, {}, {}, 0}));
    ASSERT_TRUE(w.finish());
    auto r = restore(s.data(), only);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("shared ring without a TERN_DATA ring record"),
              std::string::npos)
        << r.error().message();
  }
  // Sockets that are not open descriptors of this process.
  {
    Daemon only;
    MemorySource src(good);
    auto r = restore_state(src, only, RestoreOptions{FdCheck::open_sockets, 0});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("not open"), std::string::npos) << r.error().message();
  }
}

// Gives `d` a connection of domain 5 on g's ring (through duplicates of its
// descriptors) with a reply pending.
bool add_ring(Daemon& d, RingGuest& g) {
  auto dup = [](int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); };
  auto t = RingTransport::attach(
      RingFds{dup(g.memory_fd()), dup(g.to_daemon_fd()), dup(g.to_guest_fd())}, 0,
      kSupportedFeatures);
  if (!t) return false;
  Connection& rc = d.add_connection(std::move(*t));
  rc.who = Caller{5, false, std::nullopt};
  send(d, rc.id, Type::write, args({"data/x"}) + "v");  // its reply (EACCES) stays pending
  return true;
}

// A ring connection's image names its page and eventfds; a new process
// checks them without taking them, so a refused image closes nothing it
// inherited, and adopting the state maps the ring on those same numbers.
TEST(StateImage, RingConnectionsKeepTheirDescriptors) {
  namespace img = stream::xenstore;
  auto guest = RingGuest::create();
  ASSERT_TRUE(guest) << guest.error().message();
  RingGuest& g = **guest;
  auto dup = [](int fd) { return ::fcntl(fd, F_DUPFD_CLOEXEC, 0); };
  auto is_open = [](int fd) { return ::fcntl(fd, F_GETFD) != -1; };

  // What the old process writes: the transport's own descriptor numbers.
  {
    Daemon d;
    ASSERT_TRUE(add_ring(d, g));
    const auto& fds = dynamic_cast<const RingTransport&>(*d.conns.begin()->second->transport).fds();
    int mem = fds.memory.get(), to_daemon = fds.to_daemon.get(), to_guest = fds.to_guest.get();
    auto j = stream::xenstore::describe(dump(d));
    ASSERT_TRUE(j) << j.error().message();
    bool found = false;
    for (const auto& rec : (*j)["record_list"]) {
      if (rec["type"] == "CONNECTION_DATA") {
        EXPECT_EQ(rec["fields"]["conn_type"], "shared ring") << rec.dump();
        EXPECT_EQ(rec["fields"]["evtchn"], to_daemon);
      }
      if (rec["type"] == "TERN_DATA" && rec["fields"]["kind"] == "ring") {
        found = true;
        EXPECT_EQ(rec["fields"]["memory_fd"], mem);
        EXPECT_EQ(rec["fields"]["to_guest_fd"], to_guest);
        EXPECT_EQ(rec["fields"]["features"], kSupportedFeatures);
      }
    }
    EXPECT_TRUE(found) << j->dump();
  }

  // What the new process reads: descriptors it inherited (here, duplicates
  // the test made, standing for the exec's).
  int mem = dup(g.memory_fd()), to_daemon = dup(g.to_daemon_fd()), to_guest = dup(g.to_guest_fd());
  for (int fd : {mem, to_daemon, to_guest}) ::fcntl(fd, F_SETFD, 0);  // as after the exec
  auto image = [&](bool complete) {
    VectorSink s;
    img::ImageWriter w(s);
    EXPECT_TRUE(w.write_header());
    std::vector<img::Perm> p{{'n', 0, 0}};
    EXPECT_TRUE(w.write(img::NodeData{0, 0, 0, p, "/", {}}));
    EXPECT_TRUE(w.write(img::ConnectionData{
        4,
        img::RingSpec{5, img::kDomidInvalid, static_cast<std::uint32_t>(to_daemon)},
        {},
        {},
        0}));
    EXPECT_TRUE(w.write(img::TernConnectionData{4, 5, 0, 0, 1, 0}));
    EXPECT_TRUE(w.write(img::TernRingData{4, 0, mem, to_guest, kSupportedFeatures}));
    if (complete) {
      EXPECT_TRUE(w.finish());
    }
    return s.take();
  };
  auto restore_live = [](Bytes bytes, Daemon& d) {
    MemorySource src(bytes);
    return restore_state(src, d, RestoreOptions{FdCheck::open_sockets, 0});
  };
  {
    Daemon refused;
    EXPECT_FALSE(restore_live(image(false), refused));  // no END
  }
  EXPECT_TRUE(is_open(mem) && is_open(to_daemon) && is_open(to_guest));
  // Descriptors of the wrong kind are refused by name.
  {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    std::swap(mem, pipe_fds[0]);
    Daemon wrong;
    auto r = restore_live(image(true), wrong);
    std::swap(mem, pipe_fds[0]);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("not a memory file"), std::string::npos)
        << r.error().message();
  }
  Daemon d;
  auto r = restore_live(image(true), d);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(d.domains.at(5).ring_conn, 4u);
  adopt_transports(d);
  // The adopted transport is the guest's ring, on the inherited descriptors,
  // close-on-exec again.
  Connection& c = d.conns.at(4);
  ASSERT_EQ(c.transport->type(), ConnType::ring);
  const RingFds& fds = dynamic_cast<const RingTransport&>(*c.transport).fds();
  EXPECT_EQ(fds.memory.get(), mem);
  EXPECT_EQ(fds.to_daemon.get(), to_daemon);
  EXPECT_EQ(fds.to_guest.get(), to_guest);
  for (int fd : {mem, to_daemon, to_guest})
    EXPECT_EQ(::fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  std::string request = req(Type::read, args({"name"}));
  ASSERT_EQ(g.push(request), request.size());
  char buf[256];
  long n = c.transport->read_some(buf, sizeof buf);
  ASSERT_EQ(n, static_cast<long>(request.size()));
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), request);
}

// A ring stopped after an error stays stopped across an update (until its
// guest asks to reconnect).
TEST(StateImage, AnIgnoredRingStaysIgnored) {
  auto guest = RingGuest::create();
  ASSERT_TRUE(guest) << guest.error().message();
  Daemon d;
  ASSERT_TRUE(add_ring(d, **guest));
  Connection& rc = *d.conns.begin()->second;
  d.fail_connection(rc, ConnError::protocol);
  ASSERT_TRUE(d.keep_after_failure(rc));
  ASSERT_TRUE(rc.ignored);
  auto image = dump(d);
  auto j = stream::xenstore::describe(image);
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_NE(j->dump().find("\"ignored\":true"), std::string::npos);
  Daemon r;
  ASSERT_TRUE(restore(image, r));
  EXPECT_TRUE(r.conns.at(rc.id).ignored);
}

// Seeds for fuzz/corpus/fuzz_xenstore_image: a whole-daemon dump with every
// kind of TERN_DATA record but the ring, and one with a ring connection
// (TERN_XS_CORPUS_DIR=fuzz/corpus/fuzz_xenstore_image).
TEST(StateImage, WriteFuzzCorpusWhenAsked) {
  const char* dir = std::getenv("TERN_XS_CORPUS_DIR");
  if (!dir) GTEST_SKIP() << "TERN_XS_CORPUS_DIR not set";
  std::filesystem::create_directories(dir);
  auto d = busy_daemon();
  auto image = dump(*d, DumpOptions{3, std::nullopt, 0});
  ASSERT_LT(image.size(), 20000u);
  std::ofstream(std::filesystem::path(dir) / "tern-daemon-dump.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(image.data()),
             static_cast<std::streamsize>(image.size()));
  auto guest = RingGuest::create();
  ASSERT_TRUE(guest) << guest.error().message();
  Daemon with_ring;
  ASSERT_TRUE(add_ring(with_ring, **guest));
  auto ring_image = dump(with_ring);
  std::ofstream(std::filesystem::path(dir) / "tern-ring-dump.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(ring_image.data()),
             static_cast<std::streamsize>(ring_image.size()));
}

}  // namespace
}  // namespace tern::xs

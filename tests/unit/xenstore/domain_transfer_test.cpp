// One domain's state exported from a daemon and imported into another, under
// a new domid: nodes, ownership, quotas, a connection with its watches, an
// open transaction and undelivered output; all or nothing.
#include <fcntl.h>
#include <gtest/gtest.h>

#include "core/byte_sink.hpp"
#include "stream/xenstore/describe.hpp"
#include "xenstore/connection_state.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/domain_transfer.hpp"
#include "xenstore/ring_client.hpp"
#include "xenstore/state_dump.hpp"
#include "xenstore/store_access.hpp"

namespace tern::xs {
namespace {

class Null final : public Transport {
 public:
  long read_some(char*, std::size_t) override { return -1; }
  long write_some(const char*, std::size_t) override { return -1; }
  [[nodiscard]] int fd() const override { return 99; }
  [[nodiscard]] ConnType type() const override { return ConnType::socket; }
  [[nodiscard]] std::uint32_t poll_events(bool, bool) const override { return 0; }
};

std::string args(std::initializer_list<std::string_view> a) {
  std::string s;
  for (auto x : a) {
    s.append(x);
    s.push_back('\0');
  }
  return s;
}

struct Reply {
  std::uint32_t type;
  std::uint32_t req;
  std::string payload;
};

std::vector<Reply> out(Daemon& d, Connection& c) {
  std::vector<Reply> v;
  std::string_view o = std::string_view(c.out).substr(c.out_sent);
  while (o.size() >= kHeaderSize) {
    auto h = *decode_header(std::span(reinterpret_cast<const std::uint8_t*>(o.data()), o.size()));
    v.push_back({h.type, h.req_id, std::string(o.substr(kHeaderSize, h.len))});
    o.remove_prefix(kHeaderSize + h.len);
  }
  d.consumed_output(c, c.pending_out());
  return v;
}

Reply call(Daemon& d, Connection& c, Type t, std::string_view payload, std::uint32_t req = 1,
           std::uint32_t tx = 0) {
  append_message(c.in, static_cast<std::uint32_t>(t), req, tx, payload);
  EXPECT_TRUE(d.process_input(c));
  for (auto& w : std::exchange(d.deferred, {})) w();
  auto v = out(d, c);
  for (auto& r : v)
    if (r.req == req && r.type != static_cast<std::uint32_t>(Type::watch_event)) return r;
  return {0, 0, "no reply"};
}

std::string value(Daemon& d, std::string_view path) {
  auto n = copy_node(d.store, path);
  return n ? n->value : "<absent>";
}

class Transfer : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_ = &src_.add_connection(std::make_unique<Null>());
    install_domain_transfer(src_);
    call(src_, *admin_, Type::mkdir, args({"/local/domain/5"}));
    call(src_, *admin_, Type::set_perms, args({"/local/domain/5", "n5", "r0"}));
    call(src_, *admin_, Type::write, args({"/vm/elsewhere"}) + "owned by 5");
    call(src_, *admin_, Type::set_perms, args({"/vm/elsewhere", "b5"}));
    call(src_, *admin_, Type::set_feature, args({"5", "1"}));
    call(src_, *admin_, Type::introduce, args({"5", "77", "3"}));
    call(src_, *admin_, Type::set_quota, args({"5", "nodes", "321"}));
    call(src_, *admin_, Type::write, args({"/shared"}) + "same");
    call(src_, *admin_, Type::set_perms, args({"/shared", "n0", "r5"}));
    guest_ = &src_.add_connection(std::make_unique<Null>());
    call(src_, *guest_, Type::control, args({"tern-as-domain", "5"}));
    call(src_, *guest_, Type::write, args({"device/vif/0/state"}) + "4");
    call(src_, *guest_, Type::watch, args({"device", "rel"}));
    call(src_, *guest_, Type::watch, args({"/local/domain/5/control", "abs"}));
    auto tx = call(src_, *guest_, Type::transaction_start, std::string(1, '\0'));
    tx_ = static_cast<std::uint32_t>(std::stoul(tx.payload));
    call(src_, *guest_, Type::write, args({"data/in-txn"}) + "pending", 2, tx_);
    call(src_, *guest_, Type::read, args({"/shared"}), 4, tx_);  // a node outside its subtree
    // An event the guest has not taken yet travels with it.
    append_message(admin_->in, static_cast<std::uint32_t>(Type::write), 3, 0,
                   args({"/local/domain/5/device/vif/0/mac"}) + "00:16:3e");
    ASSERT_TRUE(src_.process_input(*admin_));
    out(src_, *admin_);
    VectorSink sink;
    auto st = export_domain(src_, 5, sink);
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(st->connections, 1u);
    EXPECT_EQ(st->watches, 2u);
    EXPECT_EQ(st->transactions, 1u);
    image_ = sink.take();
    ASSERT_TRUE(stream::xenstore::verify(image_));

    dst_admin_ = &dst_.add_connection(std::make_unique<Null>());
    install_domain_transfer(dst_);
    call(dst_, *dst_admin_, Type::mkdir, args({"/local/domain/0"}));
    call(dst_, *dst_admin_, Type::mkdir, args({"/vm"}));
    call(dst_, *dst_admin_, Type::write, args({"/shared"}) + "same");
    call(dst_, *dst_admin_, Type::set_perms, args({"/shared", "n0", "r5"}));
  }

  // A client takes domain `domid`'s parked connection over and ends the
  // transaction; returns the TRANSACTION_END reply.
  std::string take_over_and_commit(std::uint32_t domid) {
    Connection& g = dst_.add_connection(std::make_unique<Null>());
    append_message(g.in, static_cast<std::uint32_t>(Type::control), 10, 0,
                   args({"tern-as-domain", std::to_string(domid)}));
    EXPECT_TRUE(dst_.process_input(g));
    for (auto& w : std::exchange(dst_.deferred, {})) w();
    out(dst_, g);
    return call(dst_, g, Type::transaction_end, args({"T"}), 11, tx_).payload;
  }

  // Imports the exported domain as domain 7; returns its parked connection.
  std::uint64_t import_as_7() {
    call(dst_, *dst_admin_, Type::set_perms, args({"/shared", "n0", "r7"}));
    EXPECT_TRUE(import_domain(dst_, image_, 7));
    std::uint64_t parked = 0;
    for (const auto& [id, c] : dst_.conns)
      if (is_parked(*c)) parked = id;
    EXPECT_NE(parked, 0u);
    return parked;
  }

  // Queues INTRODUCE 7 on the admin connection with g's three ring
  // descriptors passed with it (duplicates); not handled yet.
  void queue_ring_introduce(const RingGuest& g) {
    std::string payload = args({"7", "0", "9"});
    Connection& a = *dst_admin_;
    std::uint64_t last = a.in_base + a.in.size() + kHeaderSize + payload.size() - 1;
    for (int fd : {g.memory_fd(), g.to_daemon_fd(), g.to_guest_fd()})
      a.passed_fds.emplace_back(last, UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)));
    append_message(a.in, static_cast<std::uint32_t>(Type::introduce), 20, 0, payload);
  }

  std::vector<std::byte> dst_dump() {
    VectorSink s;
    EXPECT_TRUE(dump_state(dst_, s, DumpOptions{-1, std::nullopt, 0}));
    return s.take();
  }

  Daemon src_, dst_;
  Connection* admin_ = nullptr;
  Connection* guest_ = nullptr;
  Connection* dst_admin_ = nullptr;
  std::uint32_t tx_ = 0;
  std::vector<std::byte> image_;
};

TEST_F(Transfer, ImportUnderANewDomidAndTakeTheConnectionOver) {
  // The destination grants the domain, under its new id, what the source did.
  call(dst_, *dst_admin_, Type::set_perms, args({"/shared", "n0", "r7"}));
  auto st = import_domain(dst_, image_, 7);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(value(dst_, "/local/domain/7/device/vif/0/state"), "4");
  EXPECT_EQ(value(dst_, "/local/domain/5/device/vif/0/state"), "<absent>");
  EXPECT_EQ(copy_node(dst_.store, "/local/domain/7")->perms.owner(), 7u);
  EXPECT_EQ(copy_node(dst_.store, "/vm/elsewhere")->perms.owner(),
            7u);  // its node elsewhere, owner renamed
  EXPECT_EQ(dst_.domains.at(7).features, 1u);
  EXPECT_FALSE(dst_.domains.at(7).introduced);  // the toolstack introduces it
  ASSERT_TRUE(dst_.domains.at(7).quota);
  EXPECT_EQ(dst_.domains.at(7).quota->nodes, 321u);
  EXPECT_FALSE(dst_.store.check());

  // A client takes the parked connection over: it is domain 7 now, gets the
  // event it had not taken, and its transaction commits.
  Connection& g = dst_.add_connection(std::make_unique<Null>());
  append_message(g.in, static_cast<std::uint32_t>(Type::control), 10, 0,
                 args({"tern-as-domain", "7"}));
  ASSERT_TRUE(dst_.process_input(g));
  for (auto& w : std::exchange(dst_.deferred, {})) w();
  auto msgs = out(dst_, g);
  ASSERT_GE(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].req, 10u);
  EXPECT_EQ(msgs[1].type, static_cast<std::uint32_t>(Type::watch_event));
  EXPECT_EQ(msgs[1].payload,
            std::string("device/vif/0/mac\0rel\0", 21));  // relative, as the guest watched it
  EXPECT_EQ(g.who.domid, 7u);
  EXPECT_FALSE(g.who.privileged);
  EXPECT_EQ(g.watches.size(), 2u);
  EXPECT_EQ(std::next(g.watches.begin())->path, "/local/domain/7/control");
  auto commit = call(dst_, g, Type::transaction_end, args({"T"}), 11, tx_);
  EXPECT_EQ(commit.payload, std::string("OK\0", 3));
  EXPECT_EQ(value(dst_, "/local/domain/7/data/in-txn"), "pending");
  // Its watches fire on the new daemon.
  call(dst_, *dst_admin_, Type::write, args({"/local/domain/7/control/shutdown"}) + "poweroff");
  auto ev = out(dst_, g);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].payload, std::string("/local/domain/7/control/shutdown\0abs\0", 37));
  // A guest's permissions apply to it.
  EXPECT_EQ(call(dst_, g, Type::write, args({"/local/domain/0/x"}) + "no", 12).payload,
            std::string("EACCES\0", 7));
}

// The toolstack introduces the imported domain with a ring: the ring takes
// the parked connection over (watches, transaction, queued output) instead
// of starting a new one.
TEST_F(Transfer, ARingIntroducedAfterTheImportTakesTheParkedConnectionOver) {
  std::uint64_t parked = import_as_7();
  auto guest = RingGuest::create();
  ASSERT_TRUE(guest) << guest.error().message();
  queue_ring_introduce(**guest);
  ASSERT_TRUE(dst_.process_input(*dst_admin_));
  auto replies = out(dst_, *dst_admin_);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].payload, std::string("OK\0", 3));
  EXPECT_EQ(dst_.conns.size(), 2u);  // the admin and the parked one: no new connection
  Connection& rc = dst_.conns.at(parked);
  ASSERT_EQ(rc.transport->type(), ConnType::ring);
  EXPECT_FALSE(is_parked(rc));
  EXPECT_EQ(dst_.domains.at(7).ring_conn, parked);
  EXPECT_EQ(rc.who.domid, 7u);
  EXPECT_EQ(rc.watches.size(), 2u);
  EXPECT_EQ(rc.txns.size(), 1u);
  // What was queued for it goes out through the ring.
  std::string event("device/vif/0/mac\0rel\0", 21);
  EXPECT_NE(std::string_view(rc.out).substr(rc.out_sent).find(event), std::string_view::npos);
  EXPECT_GT(rc.transport->write_some(rc.out.data() + rc.out_sent, rc.pending_out()), 0);
}

// A client's tern-as-domain and a ring's INTRODUCE in the same round: the
// client keeps the parked connection it was promised, the ring gets a new one.
TEST_F(Transfer, ATakeOverAndARingInTheSameRoundDoNotShareTheParkedConnection) {
  std::uint64_t parked = import_as_7();
  Connection& g = dst_.add_connection(std::make_unique<Null>());
  append_message(g.in, static_cast<std::uint32_t>(Type::control), 10, 0,
                 args({"tern-as-domain", "7"}));
  ASSERT_TRUE(dst_.process_input(g));  // its take-over waits for the end of the round
  auto guest = RingGuest::create();
  ASSERT_TRUE(guest) << guest.error().message();
  queue_ring_introduce(**guest);
  ASSERT_TRUE(dst_.process_input(*dst_admin_));
  std::uint64_t ring = dst_.domains.at(7).ring_conn;
  EXPECT_NE(ring, parked);
  ASSERT_NE(dst_.conns.find(ring), nullptr);
  for (auto& w : std::exchange(dst_.deferred, {})) w();  // the end of the round
  EXPECT_EQ(dst_.conns.find(parked), nullptr);
  EXPECT_EQ(g.who.domid, 7u);
  EXPECT_EQ(g.watches.size(), 2u);
  EXPECT_EQ(g.txns.size(), 1u);
  ASSERT_NE(dst_.conns.find(ring), nullptr);
  EXPECT_EQ(dst_.conns.at(ring).transport->type(), ConnType::ring);
  EXPECT_EQ(dst_.domains.at(7).ring_conn, ring);
}

TEST_F(Transfer, ImportUnderTheSameDomid) {
  auto st = import_domain(dst_, image_, std::nullopt);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(take_over_and_commit(5), std::string("OK\0", 3));
  EXPECT_EQ(value(dst_, "/local/domain/5/data/in-txn"), "pending");
  EXPECT_EQ(value(dst_, "/local/domain/5/device/vif/0/mac"), "00:16:3e");
  EXPECT_EQ(copy_node(dst_.store, "/vm/elsewhere")->perms.owner(), 5u);
}

// What the transaction read outside the domain is judged by content: the
// same value on the destination lets it commit, a different one dooms it.
TEST_F(Transfer, TransactionReadsAreCheckedAgainstTheDestination) {
  call(dst_, *dst_admin_, Type::set_perms, args({"/shared", "n0", "r7"}));
  call(dst_, *dst_admin_, Type::write, args({"/shared"}) + "different");
  ASSERT_TRUE(import_domain(dst_, image_, 7));
  EXPECT_EQ(take_over_and_commit(7), std::string("EAGAIN\0", 7));
  EXPECT_EQ(value(dst_, "/local/domain/7/data/in-txn"), "<absent>");
}

TEST_F(Transfer, RefusedImportsChangeNothing) {
  ASSERT_TRUE(import_domain(dst_, image_, 7));
  auto before = dst_dump();
  auto again = import_domain(dst_, image_, 7);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("already exists"), std::string::npos)
      << again.error().message();
  EXPECT_EQ(dst_dump(), before);
  // /vm/elsewhere is there already: a domain 8 import would overwrite it.
  auto clash = import_domain(dst_, image_, 8);
  ASSERT_FALSE(clash);
  EXPECT_NE(clash.error().message().find("/vm/elsewhere already exists"), std::string::npos);
  EXPECT_EQ(dst_dump(), before);
  // A daemon without /local/domain: the parent is missing.
  Daemon bare;
  auto orphan = import_domain(bare, image_, 7);
  ASSERT_FALSE(orphan);
  EXPECT_NE(orphan.error().message().find("parent"), std::string::npos);
  // A whole-daemon image is not a domain export.
  VectorSink whole;
  ASSERT_TRUE(dump_state(src_, whole, DumpOptions{-1, std::nullopt, 0}));
  auto wrong = import_domain(dst_, whole.data(), 9);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("whole-daemon"), std::string::npos);
  EXPECT_EQ(dst_dump(), before);
  // Truncated anywhere: refused, nothing changes.
  for (std::size_t cut = 0; cut < image_.size(); cut += 97) {
    std::vector<std::byte> part(image_.begin(), image_.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_FALSE(import_domain(dst_, part, 9));
  }
  EXPECT_EQ(dst_dump(), before);
}

TEST_F(Transfer, ControlCommands) {
  auto r = call(src_, *admin_, Type::control, args({"export-domain", "5", "relative/path"}));
  EXPECT_NE(r.payload.find("must be absolute"), std::string::npos);
  r = call(src_, *admin_, Type::control, args({"export-domain", "42", "/tmp/never"}));
  EXPECT_NE(r.payload.find("not known"), std::string::npos);
  EXPECT_EQ(call(src_, *guest_, Type::control, args({"export-domain", "5", "/tmp/x"})).payload,
            std::string("EACCES\0", 7));  // privileged only
}

}  // namespace
}  // namespace tern::xs

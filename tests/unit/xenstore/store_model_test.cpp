// The compact store against a plain reference model: long random sequences of
// operations (with values of changing sizes, so the arena compacts) must give
// the same replies, children order, permissions and per-domain usage; a
// transaction's commit must leave the store exactly as the same operations
// applied directly would; the path index must survive heavy collisions.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "xenstore/node_index.hpp"
#include "xenstore/path.hpp"
#include "xenstore/store.hpp"

namespace tern::xs {
namespace {

OpCtx dom0(std::vector<Event>* ev = nullptr) { return OpCtx{Caller{}, nullptr, ev}; }

// The reference: a map of full paths, children as an ordered list of names.
struct Model {
  struct N {
    std::string value;
    std::vector<std::string> kids;
    Perms perms;
  };
  std::map<std::string, N> nodes;
  Model() {
    nodes["/"] = {"", {"tool"}, Perms::owned_by(0)};
    nodes["/tool"] = {"", {"xenstored"}, Perms::owned_by(0)};
    nodes["/tool/xenstored"] = {"", {}, Perms::owned_by(0)};
  }
  bool has(const std::string& p) const { return nodes.contains(p); }
  void create(const std::string& p, const std::string& v) {  // parents first, inherited perms
    std::vector<std::string> missing{p};
    std::string q(parent_path(p));
    while (!has(q)) {
      missing.push_back(q);
      q = std::string(parent_path(q));
    }
    Perms perms = nodes[q].perms;
    for (std::size_t i = missing.size(); i-- > 0;) {
      nodes[std::string(parent_path(missing[i]))].kids.emplace_back(leaf_name(missing[i]));
      nodes[missing[i]] = {i == 0 ? v : "", {}, perms};
    }
  }
  void write(const std::string& p, const std::string& v) {
    if (has(p))
      nodes[p].value = v;
    else
      create(p, v);
  }
  void mkdir(const std::string& p) {
    if (!has(p)) create(p, "");
  }
  std::string rm(const std::string& p) {
    if (p == "/") return "EINVAL";
    if (!has(p)) return has(std::string(parent_path(p))) ? "OK" : "ENOENT";
    auto& sib = nodes[std::string(parent_path(p))].kids;
    sib.erase(std::find(sib.begin(), sib.end(), std::string(leaf_name(p))));
    for (auto it = nodes.begin(); it != nodes.end();)
      it = is_child(it->first, p) ? nodes.erase(it) : std::next(it);
    return "OK";
  }
  std::string dir(const std::string& p) const {
    std::string s;
    for (const auto& k : nodes.at(p).kids) s += k + std::string(1, '\0');
    return s;
  }
  std::map<std::uint32_t, Usage> usage() const {
    std::map<std::uint32_t, Usage> u;
    for (const auto& [p, n] : nodes) {
      std::size_t kids = 0;
      for (const auto& k : n.kids) kids += k.size() + 1;
      auto& x = u[n.perms.owner()];
      x.nodes += 1;
      x.bytes += static_cast<std::int64_t>(
          Node::node_bytes(p, n.value.size(), kids, n.perms.packed().size()));
    }
    return u;
  }
};

std::string err(Result<> r) { return r ? "OK" : std::string(err_name(r.error())); }

// Everything a store holds, in visiting order.
std::string dump(const Store& s) {
  std::string out;
  s.visit([&](std::string_view path, const NodeView& n) {
    out += std::string(path) + "=" + std::string(n.value) + " " + n.perms.to_wire() + ";";
  });
  return out;
}
std::string dump(const Model& m) {
  std::string out;
  std::vector<std::string> stack{"/"};
  while (!stack.empty()) {  // pre-order, children in creation order
    std::string p = stack.back();
    stack.pop_back();
    const auto& n = m.nodes.at(p);
    out += p + "=" + n.value + " " + n.perms.to_wire() + ";";
    for (auto it = n.kids.rbegin(); it != n.kids.rend(); ++it) stack.push_back(child_path(p, *it));
  }
  return out;
}

struct RandomOps {
  std::mt19937 rng;  // 32-bit results
  explicit RandomOps(unsigned seed) : rng(seed) {}
  std::string path() {
    static const char* kNames[] = {"a", "b", "c", "dd", "e", "tool", "long-name-for-arena", "7"};
    std::string p;
    for (int d = 1 + static_cast<int>(rng() % 4); d > 0; --d)
      p += "/" + std::string(kNames[rng() % 8]);
    return p;
  }
  std::string value() {
    std::size_t n = rng() % 10 == 0 ? rng() % 3000 : rng() % 40;  // sizes change: garbage
    return std::string(n, static_cast<char>('a' + rng() % 26));
  }
};

TEST(StoreModel, RandomOperationsMatchTheReference) {
  Store s;
  Model m;
  RandomOps r(7);
  std::size_t compactions_seen = 0, last_garbage = 0;
  for (int step = 0; step < 60000; ++step) {
    std::string p = r.path();
    switch (r.rng() % 8) {
      case 0:
      case 1:
      case 2: {
        std::string v = r.value();
        ASSERT_EQ(err(s.write(dom0(), p, v)), "OK");
        m.write(p, v);
        break;
      }
      case 3:
        ASSERT_EQ(err(s.mkdir(dom0(), p)), "OK");
        m.mkdir(p);
        break;
      case 4:
        ASSERT_EQ(err(s.rm(dom0(), p)), m.rm(p)) << p;
        break;
      case 5: {
        auto got = s.read(dom0(), p);
        if (m.has(p)) {
          ASSERT_EQ(got.value(), m.nodes[p].value) << p;
        } else {
          ASSERT_EQ(got.error(), Err::enoent) << p;
        }
        break;
      }
      case 6: {
        auto got = s.directory(dom0(), p);
        if (m.has(p)) {
          ASSERT_EQ(got.value(), m.dir(p)) << p;
        } else {
          ASSERT_EQ(got.error(), Err::enoent);
        }
        break;
      }
      case 7: {
        Perms perms(
            {Perm{static_cast<std::uint8_t>(r.rng() % 4), static_cast<std::uint32_t>(r.rng() % 4)},
             Perm{kPermRead, 9}});
        ASSERT_EQ(err(s.set_perms(dom0(), p, perms)), m.has(p) ? "OK" : "ENOENT");
        if (m.has(p)) m.nodes[p].perms = perms;
        break;
      }
    }
    auto fp = s.footprint();
    if (fp.arena_garbage < last_garbage) ++compactions_seen;
    last_garbage = fp.arena_garbage;
    // Compaction keeps garbage below the live bytes (plus a chunk's worth).
    ASSERT_LE(fp.arena_garbage, std::max<std::size_t>(fp.arena_live, 1 << 20) + 16384);
    if (step % 5000 == 0) {
      ASSERT_FALSE(s.check().has_value()) << *s.check();
      ASSERT_EQ(dump(s), dump(m));
      ASSERT_EQ(s.node_count(), m.nodes.size());
    }
  }
  EXPECT_GT(compactions_seen, 0u) << "the test should exercise arena compaction";
  EXPECT_FALSE(s.check().has_value());
  EXPECT_EQ(dump(s), dump(m));
  auto mu = m.usage();
  for (const auto& [dom, u] : s.usage_by_domain()) {
    EXPECT_EQ(u.nodes, mu[dom].nodes) << dom;
    EXPECT_EQ(u.bytes, mu[dom].bytes) << dom;
  }
}

TEST(StoreModel, CommitEqualsDirectApplication) {
  for (unsigned seed = 1; seed <= 40; ++seed) {
    Store direct, base;
    RandomOps setup(seed), ops(seed + 1000);
    for (int i = 0; i < 60; ++i) {  // the same starting tree in both
      std::string p = setup.path(), v = setup.value();
      ASSERT_TRUE(direct.write(dom0(), p, v));
      ASSERT_TRUE(base.write(dom0(), p, v));
    }
    Transaction t(base, 0);
    for (int i = 0; i < 80; ++i) {
      std::string p = ops.path();
      int op = static_cast<int>(ops.rng() % 4);
      std::string v = ops.value();
      Perms perms({Perm{kPermRead, static_cast<std::uint32_t>(ops.rng() % 3)}});
      auto apply = [&](Tree& tree) -> std::string {
        switch (op) {
          case 0:
            return err(tree.write(dom0(&t.events()), p, v));
          case 1:
            return err(tree.mkdir(dom0(), p));
          case 2:
            return err(tree.rm(dom0(), p));
          default:
            return err(tree.set_perms(dom0(), p, perms));
        }
      };
      ASSERT_EQ(apply(t), apply(direct)) << "seed " << seed << " step " << i << " " << p;
    }
    ASSERT_TRUE(t.commit()) << "seed " << seed;
    EXPECT_EQ(dump(base), dump(direct)) << "seed " << seed;
    EXPECT_FALSE(base.check().has_value()) << *base.check();
    for (const auto& [dom, u] : direct.usage_by_domain()) {
      EXPECT_EQ(base.usage(dom).nodes, u.nodes) << "seed " << seed;
      EXPECT_EQ(base.usage(dom).bytes, u.bytes) << "seed " << seed;
    }
  }
}

TEST(StoreModel, RemovedAndRecreatedInATransactionMovesToTheEnd) {
  Store s;
  ASSERT_TRUE(s.write(dom0(), "/d/a", "1"));
  ASSERT_TRUE(s.write(dom0(), "/d/b", "2"));
  ASSERT_TRUE(s.write(dom0(), "/d/a/x", "3"));
  Transaction t(s, 0);
  ASSERT_TRUE(t.rm(dom0(), "/d/a"));
  ASSERT_TRUE(t.write(dom0(), "/d/a", "new"));
  EXPECT_EQ(t.directory(dom0(), "/d").value(), std::string("b\0a\0", 4));
  ASSERT_TRUE(t.commit());
  EXPECT_EQ(s.directory(dom0(), "/d").value(), std::string("b\0a\0", 4));
  EXPECT_EQ(s.read(dom0(), "/d/a").value(), "new");
  EXPECT_EQ(s.read(dom0(), "/d/a/x").error(), Err::enoent);
  EXPECT_FALSE(s.check().has_value());
}

TEST(NodeIndex, CollidingHashesInsertFindAndEraseInAnyOrder) {
  NodeIndex idx;
  std::vector<std::uint32_t> hash_of(20000);
  for (std::uint32_t id = 0; id < hash_of.size(); ++id) {
    hash_of[id] = (id % 7 == 0) ? 42u : id * 2654435761u;  // one long collision run
    idx.insert(hash_of[id], id);
  }
  std::vector<std::uint32_t> order(hash_of.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(3));
  std::set<std::uint32_t> gone;
  for (std::size_t k = 0; k < order.size(); ++k) {
    idx.erase(hash_of[order[k]], order[k]);
    gone.insert(order[k]);
    if (k % 1000 == 0)
      for (std::uint32_t id = 0; id < hash_of.size(); ++id) {
        auto found = idx.find(hash_of[id], [&](std::uint32_t c) { return c == id; });
        ASSERT_EQ(found, gone.contains(id) ? NodeIndex::kNone : id)
            << "id " << id << " after " << k;
      }
  }
  EXPECT_EQ(idx.size(), 0u);
}

TEST(StoreMemory, HundredThousandNodesStaySmall) {
  Store s;
  for (int i = 0; i < 100000; ++i)
    ASSERT_TRUE(s.write(dom0(),
                        "/bench/fill/d" + std::to_string(i / 1000) + "/k" + std::to_string(i),
                        std::string(32, 'x')));
  auto fp = s.footprint();
  std::size_t total = fp.records + fp.arena_live + fp.index;
  // 32-byte record + 48-byte arena record + index slot share: under 100 bytes a node.
  EXPECT_LT(total, 100u * 100000u) << fp.records << " " << fp.arena_live << " " << fp.index;
  EXPECT_FALSE(s.check().has_value());
}

}  // namespace
}  // namespace tern::xs

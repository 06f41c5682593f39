// ConnectionTable: lookup by id and iteration in id order see the same set,
// whatever order connections come and go in.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <stdexcept>

#include "xenstore/connection_table.hpp"

namespace tern::xs {
namespace {

std::unique_ptr<Connection> conn(std::uint64_t id, std::string in = {}) {
  auto c = std::make_unique<Connection>();
  c->id = id;
  c->in = std::move(in);
  return c;
}

TEST(ConnectionTable, AddFindAtErase) {
  ConnectionTable t;
  EXPECT_TRUE(t.empty());
  Connection& a = t.add(conn(7, "a"));
  Connection& b = t.add(conn(3, "b"));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find(7), &a);
  EXPECT_EQ(t.find(3), &b);
  EXPECT_EQ(t.find(5), nullptr);
  EXPECT_TRUE(t.contains(3));
  EXPECT_EQ(&t.at(7), &a);
  EXPECT_THROW((void)t.at(5), std::out_of_range);
  t.erase(7);
  EXPECT_EQ(t.find(7), nullptr);
  EXPECT_FALSE(t.contains(7));
  t.erase(7);  // absent: nothing happens
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.begin()->second.get(), &b);
}

TEST(ConnectionTable, AnIdAlreadyPresentKeepsItsConnection) {
  ConnectionTable t;
  Connection& first = t.add(conn(1, "first"));
  Connection& again = t.add(conn(1, "second"));
  EXPECT_EQ(&again, &first);
  EXPECT_EQ(t.find(1)->in, "first");
  EXPECT_EQ(t.size(), 1u);
}

TEST(ConnectionTable, RandomChurnKeepsBothViewsTheSame) {
  ConnectionTable t;
  std::set<std::uint64_t> model;
  std::mt19937 rng(42);
  for (int step = 0; step < 20000; ++step) {
    std::uint64_t id = rng() % 500 + 1;
    if (rng() % 3 == 0) {
      t.erase(id);
      model.erase(id);
    } else {
      Connection& c = t.add(conn(id));
      EXPECT_EQ(c.id, id);
      model.insert(id);
    }
    if (step % 1000 == 0 || step == 19999) {
      ASSERT_EQ(t.size(), model.size());
      auto m = model.begin();
      for (const auto& [id2, c] : t) {
        ASSERT_EQ(id2, *m++);  // iteration in id order
        ASSERT_EQ(t.find(id2), c.get());
      }
      for (std::uint64_t probe = 1; probe <= 500; ++probe)
        ASSERT_EQ(t.find(probe) != nullptr, model.contains(probe)) << probe;
    }
  }
}

}  // namespace
}  // namespace tern::xs

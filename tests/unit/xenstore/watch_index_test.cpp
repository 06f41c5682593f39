// Watch matching through the watch index: the same events, in the same order
// per connection, as checking every watch of every connection (the reference
// below), and with many watches only the ones on a changed path or its
// ancestors are looked at.
#include <gtest/gtest.h>

#include <random>

#include "xenstore/daemon.hpp"
#include "xenstore/path.hpp"

namespace tern::xs {
namespace {

void send(Daemon& d, Connection& c, Type t, std::string_view payload) {
  append_message(c.in, static_cast<std::uint32_t>(t), 1, 0, payload);
  ASSERT_TRUE(d.process_input(c));
}

// Watch events queued on c (path, token), emptying its output.
std::vector<std::pair<std::string, std::string>> events(Daemon& d, Connection& c) {
  std::vector<std::pair<std::string, std::string>> v;
  std::string_view out(c.out);
  out.remove_prefix(c.out_sent);
  while (out.size() >= kHeaderSize) {
    auto h =
        *decode_header(std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
    std::string_view p = out.substr(kHeaderSize, h.len);
    if (h.type == static_cast<std::uint32_t>(Type::watch_event)) {
      auto a = split_args(p);
      v.emplace_back(std::string(a.strings.at(0)), std::string(a.strings.at(1)));
    }
    out.remove_prefix(kHeaderSize + h.len);
  }
  d.consumed_output(c, c.pending_out());
  return v;
}

std::uint32_t depth_below(std::string_view path, std::string_view base) {
  std::uint32_t n = 0;
  for (char ch : path.substr(base.size())) n += ch == '/';
  return n;
}

TEST(WatchIndex, SameEventsAsCheckingEveryWatch) {
  std::mt19937 rng(11);
  static const char* kNames[] = {"a", "b", "ab", "local", "domain", "3", "x"};
  auto random_path = [&] {
    std::string p;
    for (int n = static_cast<int>(rng() % 5); n > 0; --n) p += "/" + std::string(kNames[rng() % 7]);
    return p.empty() ? std::string("/") : p;
  };
  for (int round = 0; round < 20; ++round) {
    Daemon d;
    std::vector<Connection*> cs;
    for (int i = 0; i < 12; ++i) {
      Connection& c = d.add_connection(nullptr);
      std::uint32_t dom = static_cast<std::uint32_t>(rng() % 4);
      c.who =
          Caller{dom, dom == 0, rng() % 5 == 0 ? std::optional<std::uint32_t>(3) : std::nullopt};
      for (int w = static_cast<int>(rng() % 8); w > 0; --w) {
        std::string path =
            rng() % 6 == 0 ? std::string(kNames[rng() % 7]) : random_path();  // some relative
        std::string payload =
            path + std::string(1, '\0') + "t" + std::to_string(w) + std::string(1, '\0');
        if (rng() % 3 == 0) payload += std::to_string(rng() % 3) + std::string(1, '\0');
        send(d, c, Type::watch, payload);
      }
      events(d, c);  // initial events
      cs.push_back(&c);
    }
    // Drop a few watches again so the index sees removals.
    for (Connection* c : cs)
      if (!c->watches.empty() && rng() % 2 == 0) {
        const Watch& w = c->watches.front();
        send(d, *c, Type::unwatch, w.given + std::string(1, '\0') + w.token + std::string(1, '\0'));
        events(d, *c);
      }
    std::vector<Event> evs;
    for (int e = 0; e < 200; ++e) {
      Event ev{random_path(), rng() % 3 == 0,
               Perms({Perm{static_cast<std::uint8_t>(rng() % 2),
                           static_cast<std::uint32_t>(rng() % 4)}}),
               std::nullopt};
      if (rng() % 5 == 0) ev.old_perms = Perms::owned_by(static_cast<std::uint32_t>(rng() % 4));
      evs.push_back(ev);
    }
    d.fire(evs);
    for (Connection* c : cs) {
      // The reference: every event against every watch of the connection, in order.
      std::vector<std::pair<std::string, std::string>> want;
      for (const Event& e : evs) {
        bool readable = (access_mask(e.perms, c->who) & kPermRead) ||
                        (e.old_perms && (access_mask(*e.old_perms, c->who) & kPermRead));
        if (!readable) continue;
        for (const Watch& w : c->watches) {
          bool match = e.exact ? w.path == e.path
                               : is_child(e.path, w.path) &&
                                     (!w.depth || depth_below(e.path, w.path) <= *w.depth);
          if (!match) continue;
          std::string p = e.path;
          std::string home = domain_path(c->who.domid) + "/";
          if (w.given[0] != '/' && p.starts_with(home)) p = p.substr(home.size());
          want.emplace_back(p, w.token);
        }
      }
      ASSERT_EQ(events(d, *c), want) << "round " << round << " connection " << c->id;
    }
  }
}

TEST(WatchIndex, ManyWatchesOnlyMatchingOnesAreLookedAt) {
  Daemon d;
  std::vector<Connection*> cs;
  for (int i = 0; i < 200; ++i) {
    Connection& c = d.add_connection(nullptr);
    for (int j = 0; j < 100; ++j) {
      std::string p = "/w/c" + std::to_string(i) + "/k" + std::to_string(j);
      send(d, c, Type::watch, p + std::string(1, '\0') + "tok" + std::string(1, '\0'));
    }
    events(d, c);
    cs.push_back(&c);
  }
  EXPECT_EQ(d.watch_index.size(), 20000u);
  Connection& writer = d.add_connection(nullptr);
  auto write = [&](const std::string& path) {
    send(d, writer, Type::write, path + std::string(1, '\0') + "v");
    d.consumed_output(writer, writer.pending_out());
  };
  for (int k = 0; k < 10; ++k) write("/w/c5/k" + std::to_string(k));
  std::uint64_t before = d.watch_candidates;
  write("/w/c5/k7");
  EXPECT_EQ(d.watch_candidates - before, 1u) << "one watch on the path, none on its ancestors";
  before = d.watch_candidates;
  for (int i = 0; i < 1000; ++i) write("/elsewhere/n" + std::to_string(i));
  EXPECT_EQ(d.watch_candidates, before) << "nothing watches these";
  for (Connection* c : cs) {
    auto ev = events(d, *c);
    if (c == cs[5]) {
      ASSERT_EQ(ev.size(), 11u);
      EXPECT_EQ(ev.back(), std::make_pair(std::string("/w/c5/k7"), std::string("tok")));
    } else {
      EXPECT_TRUE(ev.empty());
    }
  }
  // A watch on "/" is looked at for every change; a recursive RM checks the
  // removed nodes' own paths (exactly) and the top node's ancestors.
  send(d, *cs[0], Type::watch, std::string_view("/\0root\0", 7));
  events(d, *cs[0]);
  before = d.watch_candidates;
  send(d, writer, Type::rm, std::string_view("/w/c5\0", 6));
  EXPECT_EQ(d.watch_candidates - before, 10u + 1u);  // k0..k9 exactly, "/" for /w/c5
  EXPECT_EQ(events(d, *cs[5]).size(), 10u);
  EXPECT_EQ(events(d, *cs[0]).size(), 1u);  // the "/" watch hears the top node only
  // Connections leaving take their watches out of the index.
  for (int i = 0; i < 100; ++i) d.remove_connection(cs[static_cast<std::size_t>(i)]->id);
  EXPECT_EQ(d.watch_index.size(), 10000u);
  EXPECT_EQ(d.watch_index.paths(), 10000u);
}

TEST(WatchIndex, ResetAndUnwatchKeepTheIndexExact) {
  Daemon d;
  Connection& c = d.add_connection(nullptr);
  Connection& other = d.add_connection(nullptr);
  for (Connection* x : {&c, &other})
    for (int j = 0; j < 5; ++j)
      send(d, *x, Type::watch,
           "/same" + std::string(1, '\0') + "t" + std::to_string(j) + std::string(1, '\0'));
  EXPECT_EQ(d.watch_index.size(), 10u);
  EXPECT_EQ(d.watch_index.paths(), 1u);
  send(d, c, Type::unwatch, std::string_view("/same\0t2\0", 9));
  send(d, c, Type::reset_watches, "");
  EXPECT_EQ(d.watch_index.size(), 5u);
  events(d, other);
  events(d, c);  // the initial events of its former watches
  send(d, c, Type::write, std::string_view("/same/x\0v", 9));
  EXPECT_EQ(events(d, other).size(), 5u);
  EXPECT_TRUE(events(d, c).empty());
}

}  // namespace
}  // namespace tern::xs

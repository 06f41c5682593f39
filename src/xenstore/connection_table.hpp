// The daemon's connections, owned, by id.
//
// Two views of the same set: an ordered tree for iteration (a live-update
// image, the memory report and watch firing list connections in id order)
// and a hash index for lookup by id, which the server does two or three
// times per request (an epoll event names a connection by id, so an event
// for a connection dropped earlier in the same round finds nothing). With
// the tree alone each lookup walked log2(n) nodes, each a likely cache miss
// after the kernel's socket work: 6 % of the daemon's user time at 32
// clients.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

#include "xenstore/connection.hpp"

namespace tern::xs {

class ConnectionTable {
 public:
  using Map = std::map<std::uint64_t, std::unique_ptr<Connection>>;

  // Adds `c` under c->id. An id already present keeps its connection and `c`
  // is dropped (as std::map::emplace would); returns the connection now
  // under that id.
  Connection& add(std::unique_ptr<Connection> c) {
    auto [it, added] = by_id_.emplace(c->id, std::move(c));
    if (added) index_.emplace(it->first, it->second.get());
    return *it->second;
  }
  // nullptr if there is no connection `id`.
  [[nodiscard]] Connection* find(std::uint64_t id) const {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : it->second;
  }
  [[nodiscard]] bool contains(std::uint64_t id) const { return index_.contains(id); }
  // Like std::map::at: throws std::out_of_range for an unknown id.
  [[nodiscard]] Connection& at(std::uint64_t id) const { return *by_id_.at(id); }
  void erase(std::uint64_t id) {
    index_.erase(id);
    by_id_.erase(id);
  }

  [[nodiscard]] std::size_t size() const { return by_id_.size(); }
  [[nodiscard]] bool empty() const { return by_id_.empty(); }
  // In id order. Adding or erasing during iteration is as safe as with
  // std::map (other elements' iterators stay valid).
  Map::iterator begin() { return by_id_.begin(); }
  Map::iterator end() { return by_id_.end(); }
  [[nodiscard]] Map::const_iterator begin() const { return by_id_.begin(); }
  [[nodiscard]] Map::const_iterator end() const { return by_id_.end(); }

 private:
  Map by_id_;
  std::unordered_map<std::uint64_t, Connection*> index_;
};

}  // namespace tern::xs

// Watches by watched path, so a change looks at the watches that can match it
// instead of every watch of every connection: a node change at P can only
// fire watches on P or one of its ancestors (a watch fires for its path and
// everything below it), a removed descendant (an `exact` event) only watches
// on exactly its path, and a special event (@introduceDomain) only watches on
// that name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "xenstore/connection.hpp"
#include "xenstore/tree.hpp"

namespace tern::xs {

struct WatchRef {
  Connection* conn;
  Watch* watch;
};

class WatchIndex {
 public:
  // The watch must stay at its address until removed (Connection::watches is a list).
  void add(Connection& c, Watch& w);
  void remove(Watch& w);

  // Appends the watches on exactly `path`.
  void on_path(std::string_view path, std::vector<WatchRef>& out) const;
  // Appends the watches on `path` and on each of its ancestors up to "/".
  void on_path_or_ancestors(std::string_view path, std::vector<WatchRef>& out) const;

  [[nodiscard]] std::size_t size() const { return count_; }
  [[nodiscard]] std::size_t paths() const { return by_path_.size(); }

 private:
  PathMap<std::vector<WatchRef>> by_path_;
  std::size_t count_ = 0;
};

}  // namespace tern::xs

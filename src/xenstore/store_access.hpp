// Everything the live update and domain export/import need from the node
// store, in one place: walking it parents first, reading one node, and
// rebuilding it from an image. The rest of the image code depends on these
// functions only, so a different store layout changes this file alone.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "xenstore/store.hpp"

namespace tern::xs {

// Calls f(path, value, perms) for every node of the subtree at `top`
// (nothing if it does not exist), parents before children and siblings in
// DIRECTORY order, so inserting them in this order rebuilds the same tree.
using NodeVisitor = std::function<Expected<void>(std::string_view path, std::string_view value,
                                                 const Perms& perms)>;
Expected<void> visit_subtree(const Store& s, std::string_view top, const NodeVisitor& f);

// Calls f for every node, in no particular order.
void visit_all(const Store& s,
               const std::function<void(std::string_view path, PermsView perms)>& f);

[[nodiscard]] bool node_exists(const Store& s, std::string_view path);
// The store generation of a node's last change; 0 if there is no node.
[[nodiscard]] std::uint64_t node_generation(const Store& s, std::string_view path);
// A copy of a committed node with its children list.
[[nodiscard]] std::optional<Node> copy_node(const Store& s, std::string_view path);

// Rebuilds a store from an image's committed nodes, given parents first (as
// visit_subtree produces them). The image brings "/" first: it replaces the
// store's root and everything below it.
class StoreLoader {
 public:
  StoreLoader(Store& s, std::size_t expected_nodes);
  // Why the node cannot be added ("exists", "parent missing"), or nullptr.
  const char* add(std::string_view path, std::string value, Perms perms);
  // Whether the image's "/" came (the store's own root does not count).
  [[nodiscard]] bool has_root() const { return have_root_; }

 private:
  Store& s_;
  bool have_root_ = false;
};

// Adds one node to a serving store (a domain import): like a write, the
// parent it joins gets a new generation. The parent must exist.
const char* add_node_live(Store& s, std::string_view path, std::string value, Perms perms);

}  // namespace tern::xs

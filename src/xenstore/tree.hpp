// The client operations on nodes (READ, WRITE, MKDIR, RM, DIRECTORY, perms),
// written once over a small set of primitives so the same code runs on the
// live store (store.hpp) and inside a transaction's overlay.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xenstore/perms.hpp"
#include "xenstore/quota.hpp"
#include "xenstore/wire.hpp"

namespace tern::xs {

// A node as operations read it: views into the tree, valid until it changes.
struct NodeView {
  std::string_view value;
  PermsView perms;
  std::uint64_t gen = 0;  // store generation of the node's last change; 0: new in a transaction
  std::size_t children_bytes = 0;  // length of its NUL-terminated children list
};

// A node held by value (a transaction's overlay and snapshot).
struct Node {
  std::string value;
  std::string children;  // leaf names, each NUL-terminated, in creation order
  Perms perms;
  std::uint64_t gen = 0;

  [[nodiscard]] NodeView view() const { return {value, perms.view(), gen, children.size()}; }
  [[nodiscard]] std::size_t bytes(std::string_view path) const {
    return node_bytes(path, value.size(), children.size(), perms.packed().size());
  }
  // What one node counts against its owner's memory quota.
  static std::size_t node_bytes(std::string_view path, std::size_t value, std::size_t children,
                                std::size_t perms) {
    return path.size() + value + children + perms;
  }
};

// A change watchers may hear about. `exact` events (descendants removed by a
// recursive RM) match only watches on exactly that path.
struct Event {
  std::string path;
  bool exact = false;
  Perms perms;                     // of the node as changed (before removal, for RM)
  std::optional<Perms> old_perms;  // SET_PERMS: readers under either list hear it
};

// What a domain uses of the store (for quotas and CONTROL quota <domid>).
struct Usage {
  std::int64_t nodes = 0;
  std::int64_t bytes = 0;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using PathMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Who performs an operation and which limits apply (none if privileged).
struct OpCtx {
  Caller who;
  const Quotas* quota = nullptr;  // nullptr: no quota checks
  std::vector<Event>* events = nullptr;
};

class Tree {
 public:
  virtual ~Tree() = default;

  // ---- primitives; `path` is canonical ----
  // The node, or ENOENT if there is none (other errors: a transaction's node
  // limit). Not Result<optional<...>>: libc++ 16's std::expected corrupts its
  // flag when the value type has tail padding, as optional<NodeView> does.
  virtual Result<NodeView> find(std::string_view path) = 0;
  // The node's children, each name NUL-terminated, in creation order.
  virtual Result<std::string> children(std::string_view path) = 0;
  // Change an existing node.
  virtual Result<> set_value(std::string_view path, std::string_view value) = 0;
  virtual Result<> set_node_perms(std::string_view path, const Perms& perms) = 0;
  // Add a node under an existing parent (appended to its children).
  virtual Result<> insert(std::string_view path, std::string_view value, const Perms& perms) = 0;
  // Remove a node that has no children (unlinked from its parent).
  virtual Result<> erase(std::string_view path) = 0;
  [[nodiscard]] virtual Usage usage(std::uint32_t domid) const = 0;

  // ---- client operations; `path` is canonical (absolute, validated) ----
  Result<std::string> read(const OpCtx& c, std::string_view path);
  // READ without a copy: the value as stored, valid until the tree changes.
  Result<std::string_view> read_view(const OpCtx& c, std::string_view path);
  Result<> write(const OpCtx& c, std::string_view path, std::string_view value);
  Result<> mkdir(const OpCtx& c, std::string_view path);
  Result<> rm(const OpCtx& c, std::string_view path);
  Result<std::string> directory(const OpCtx& c, std::string_view path);
  // gencnt + NUL + children from byte `offset`, within `max` bytes (DIRECTORY_PART).
  Result<std::string> directory_part(const OpCtx& c, std::string_view path, std::uint64_t offset,
                                     std::size_t max);
  Result<std::string> get_perms(const OpCtx& c, std::string_view path);
  Result<> set_perms(const OpCtx& c, std::string_view path, const Perms& perms);

 private:
  Result<> create(const OpCtx& c, std::string_view path, std::string_view value);
  Result<> check_memory(const OpCtx& c, std::int64_t extra) const;
};

}  // namespace tern::xs

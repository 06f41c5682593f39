// The node database. `Tree` is the set of operations clients perform (READ,
// WRITE, MKDIR, RM, DIRECTORY, perms), written once over an abstract node map
// so the same code runs on the live store and inside a transaction's overlay.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xenstore/perms.hpp"
#include "xenstore/quota.hpp"
#include "xenstore/wire.hpp"

namespace tern::xs {

struct Node {
  std::string value;
  std::string children;  // leaf names, each NUL-terminated, in creation order
  Perms perms;
  std::uint64_t gen = 0;  // store generation of the last change to this node

  [[nodiscard]] std::size_t bytes(std::string_view path) const {
    return path.size() + value.size() + children.size() + perms.packed().size();
  }
};

// A change watchers may hear about. `exact` events (descendants removed by a
// recursive RM) match only watches on exactly that path.
struct Event {
  std::string path;
  bool exact = false;
  Perms perms;  // of the node as changed (before removal, for RM)
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

  // The primitive node map.
  virtual Result<const Node*> find(std::string_view path) = 0;
  virtual Result<> put(std::string_view path, Node node) = 0;
  virtual Result<> erase(std::string_view path) = 0;
  [[nodiscard]] virtual Usage usage(std::uint32_t domid) const = 0;

  // Client operations; `path` is canonical (absolute, validated).
  Result<std::string> read(const OpCtx& c, std::string_view path);
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

// The live store.
class Store final : public Tree {
 public:
  Store();  // "/", "/tool", "/tool/xenstored", owned by dom0, no access for others

  Result<const Node*> find(std::string_view path) override;
  Result<> put(std::string_view path, Node node) override;
  Result<> erase(std::string_view path) override;
  [[nodiscard]] Usage usage(std::uint32_t domid) const override;

  [[nodiscard]] const Node* lookup(std::string_view path) const;
  [[nodiscard]] std::uint64_t generation() const { return gen_; }
  [[nodiscard]] std::size_t node_count() const { return nodes_.size(); }
  [[nodiscard]] const PathMap<Node>& nodes() const { return nodes_; }
  [[nodiscard]] const std::map<std::uint32_t, Usage>& usage_by_domain() const { return usage_; }
  // Consistency check (CONTROL check): children lists, parents and usage agree.
  [[nodiscard]] std::optional<std::string> check() const;

  // Rebuilding a store from an image (live update, domain import).
  // clear(): no nodes at all, not even "/" (an image brings its own).
  void clear();
  void reserve(std::size_t nodes) { nodes_.reserve(nodes); }
  // Adds a node below an existing parent (or "/" into an empty store),
  // appending its name to the parent's children, with a fresh generation.
  // `parent`, if given, is the parent's entry (saves a lookup). On success
  // `error` is null and `key`/`node` are the stored path and node (both stay
  // valid while the node exists); else `error` says why ("exists", "parent
  // missing").
  struct Restored {
    const char* error = nullptr;
    std::string_view key;
    Node* node = nullptr;
  };
  Restored restore_node(std::string_view path, std::string value, Perms perms, Node* parent = nullptr);

 private:
  void account(std::string_view path, const Node& n, int sign);
  PathMap<Node> nodes_;
  std::map<std::uint32_t, Usage> usage_;
  std::uint64_t gen_ = 0;
};

// A transaction: reads and writes go to an overlay over the store; the
// generation of every node it touched is remembered so commit can refuse
// (EAGAIN) when any of them changed meanwhile.
class Transaction final : public Tree {
 public:
  Transaction(Store& base, std::uint64_t node_limit) : base_(base), node_limit_(node_limit) {}

  Result<const Node*> find(std::string_view path) override;
  Result<> put(std::string_view path, Node node) override;
  Result<> erase(std::string_view path) override;
  [[nodiscard]] Usage usage(std::uint32_t domid) const override;

  // Everything a transaction holds, for a live update to save and rebuild.
  struct State {
    PathMap<std::optional<Node>> overlay;
    PathMap<std::optional<Node>> snapshot;
    PathMap<std::uint64_t> seen;
    std::map<std::uint32_t, Usage> delta;
    std::vector<Event> events;
  };
  static std::unique_ptr<Transaction> restore(Store& base, std::uint64_t node_limit, State state);
  // A generation no node ever has: a remembered generation that can never
  // match again (the transaction can only fail with EAGAIN).
  static constexpr std::uint64_t kNeverGeneration = ~std::uint64_t{0};
  [[nodiscard]] const std::map<std::uint32_t, Usage>& delta() const { return delta_; }
  [[nodiscard]] const std::vector<Event>& events() const { return events_; }
  // True if a node it accessed changed since: commit will fail with EAGAIN.
  [[nodiscard]] bool conflicted() const;

  // Applies the overlay to the store if nothing it touched changed; the
  // events collected during the transaction are returned for firing.
  Result<std::vector<Event>> commit();
  std::vector<Event>& events() { return events_; }
  [[nodiscard]] std::size_t touched() const { return seen_.size(); }
  // State a live-update dump needs: the overlay and the remembered generations.
  [[nodiscard]] const PathMap<std::optional<Node>>& overlay() const { return overlay_; }
  [[nodiscard]] const PathMap<std::uint64_t>& seen() const { return seen_; }
  [[nodiscard]] const PathMap<std::optional<Node>>& snapshot() const { return snapshot_; }

 private:
  Result<> remember(std::string_view path);
  void account(std::string_view path, const Node* n, int sign);
  Store& base_;
  std::uint64_t node_limit_;
  PathMap<std::optional<Node>> overlay_;  // nullopt: removed in this transaction
  PathMap<std::optional<Node>> snapshot_; // nodes as first read: later reads see the same
  PathMap<std::uint64_t> seen_;           // generation at first access; 0 = absent
  std::map<std::uint32_t, Usage> delta_;
  std::vector<Event> events_;
};

}  // namespace tern::xs

// The node database. `Store` is the live tree; `Transaction` an overlay over
// it. Both run the client operations of tree.hpp.
//
// The store is built to be small (xenstored often holds hundreds of thousands
// of nodes): a node is a 32-byte record in an id-indexed table (parent,
// first child and sibling links, the offset of its variable part, its
// children's name bytes, its generation) plus one compact record in a
// NodeArena holding its leaf name, value and packed permissions; paths are
// found through a NodeIndex keyed by (parent id, leaf name). Full paths are
// never stored: they are what the links spell.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xenstore/node_arena.hpp"
#include "xenstore/node_index.hpp"
#include "xenstore/tree.hpp"

namespace tern::xs {

class Store final : public Tree {
 public:
  Store();  // "/", "/tool", "/tool/xenstored", owned by dom0, no access for others
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<NodeView> find(std::string_view path) override;
  Result<std::string> children(std::string_view path) override;
  Result<> set_value(std::string_view path, std::string_view value) override;
  Result<> set_node_perms(std::string_view path, const Perms& perms) override;
  Result<> insert(std::string_view path, std::string_view value, const Perms& perms) override;
  // Removes the node and, unlike the primitive requires, anything below it.
  Result<> erase(std::string_view path) override;
  [[nodiscard]] Usage usage(std::uint32_t domid) const override;

  [[nodiscard]] std::optional<NodeView> lookup(std::string_view path) const;
  // A copy of a node with its children list (a transaction's snapshot).
  [[nodiscard]] std::optional<Node> copy_node(std::string_view path) const;
  // A new generation for a node without changing it (a transaction rewrote it).
  Result<> touch(std::string_view path);

  [[nodiscard]] std::uint64_t generation() const { return gen_; }
  [[nodiscard]] std::size_t node_count() const { return live_nodes_; }
  [[nodiscard]] const std::map<std::uint32_t, Usage>& usage_by_domain() const { return usage_; }
  // Every node, parents before children, children in creation order (what a
  // live-update dump writes and a restore can insert in the same order).
  void visit(const std::function<void(std::string_view path, const NodeView& node)>& f) const;
  // Consistency check (CONTROL check): links, index, children sizes and usage agree.
  [[nodiscard]] std::optional<std::string> check() const;

  // Memory held by the database, for CONTROL memreport.
  struct Footprint {
    std::size_t records = 0;       // the fixed-size node table
    std::size_t arena_mapped = 0;  // chunks holding names, values, permissions
    std::size_t arena_live = 0;
    std::size_t arena_garbage = 0;  // freed, reclaimed at the next compaction
    std::size_t index = 0;
  };
  [[nodiscard]] Footprint footprint() const;

  // Rebuilding a store from an image (live update): drops every node but "/"
  // and gives "/" the image's value and permissions; the image's other nodes
  // then come through insert(), parents first.
  Result<> reset_root(std::string_view value, const Perms& perms);

 private:
  static constexpr std::uint32_t kNone = NodeIndex::kNone;
  static constexpr std::uint32_t kFree = 0xfffffffeu;  // parent of an unused record
  static constexpr std::uint32_t kRoot = 0;
  struct Rec {
    std::uint32_t parent = kNone;
    std::uint32_t first_child = kNone;  // children form a circular list in creation order:
    std::uint32_t next = kNone;         // next/prev siblings; first_child's prev is the last
    std::uint32_t prev = kNone;
    std::uint32_t blob = 0;            // NodeArena offset: name, value, perms
    std::uint32_t children_bytes = 0;  // sum of (child name length + 1)
    std::uint64_t gen = 0;
  };
  static_assert(sizeof(Rec) == 32);
  static constexpr std::uint32_t kRecsPerChunk = 1024;

  Rec& rec(std::uint32_t id) { return rec_chunks_[id / kRecsPerChunk][id % kRecsPerChunk]; }
  const Rec& rec(std::uint32_t id) const {
    return rec_chunks_[id / kRecsPerChunk][id % kRecsPerChunk];
  }
  [[nodiscard]] std::uint32_t resolve(std::string_view path) const;
  [[nodiscard]] std::uint32_t child(std::uint32_t parent, std::string_view name) const;
  [[nodiscard]] NodeView view(std::uint32_t id) const;
  [[nodiscard]] std::string names_of(std::uint32_t id) const;
  [[nodiscard]] std::size_t bytes_of(std::string_view path, std::uint32_t id) const;
  std::uint32_t new_rec();
  void erase_id(std::uint32_t id, std::string& path);
  void maybe_compact();
  Usage& usage_of(std::uint32_t owner) { return usage_[owner]; }

  std::vector<std::unique_ptr<Rec[]>> rec_chunks_;
  std::uint32_t rec_used_ = 0;       // records handed out so far (free or live)
  std::uint32_t free_head_ = kNone;  // unused records, linked through `next`
  std::size_t live_nodes_ = 0;
  NodeArena arena_;
  NodeIndex index_;
  std::map<std::uint32_t, Usage> usage_;
  std::uint64_t gen_ = 0;
  // Paths resolved lately and their ids: a client's WRITE looks a node up,
  // then changes it, and many clients each come back to their own nodes
  // between others' requests. A hit costs one hash and a compare or two
  // instead of a lookup per path component. Two ways per set, the older one
  // replaced on a miss: direct-mapped, two of 32 clients' paths sharing a
  // slot evicted each other on every request. Emptied when nodes are removed
  // (their ids get reused).
  struct Resolved {
    std::string path;
    std::uint32_t id = kNone;
  };
  static constexpr std::size_t kResolvedSets = 128;
  struct ResolvedSet {
    std::array<Resolved, 2> way;
    std::uint8_t older = 0;  // the way a miss replaces
  };
  mutable std::array<ResolvedSet, kResolvedSets> resolved_{};
};

// A transaction: reads and writes go to an overlay over the store; the
// generation of every node it touched is remembered so commit can refuse
// (EAGAIN) when any of them changed meanwhile.
class Transaction final : public Tree {
 public:
  Transaction(Store& base, std::uint64_t node_limit) : base_(base), node_limit_(node_limit) {}

  Result<NodeView> find(std::string_view path) override;
  Result<std::string> children(std::string_view path) override;
  Result<> set_value(std::string_view path, std::string_view value) override;
  Result<> set_node_perms(std::string_view path, const Perms& perms) override;
  Result<> insert(std::string_view path, std::string_view value, const Perms& perms) override;
  Result<> erase(std::string_view path) override;
  [[nodiscard]] Usage usage(std::uint32_t domid) const override;

  // Applies the overlay to the store if nothing it touched changed; the
  // events collected during the transaction are returned for firing.
  Result<std::vector<Event>> commit();
  std::vector<Event>& events() { return events_; }
  [[nodiscard]] std::size_t touched() const { return seen_.size(); }
  // State a live-update dump needs: the overlay and the remembered
  // generations. An overlay node with generation 0 was created in the
  // transaction (if the store has it, the transaction removed and re-created it).
  [[nodiscard]] const PathMap<std::optional<Node>>& overlay() const { return overlay_; }
  [[nodiscard]] const PathMap<std::uint64_t>& seen() const { return seen_; }
  [[nodiscard]] const PathMap<std::optional<Node>>& snapshot() const { return snapshot_; }

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

 private:
  Result<const Node*> node(std::string_view path);
  Result<> put(std::string_view path, Node node);
  Result<> remember(std::string_view path);
  void account(std::string_view path, const Node* n, int sign);
  Store& base_;
  std::uint64_t node_limit_;
  PathMap<std::optional<Node>> overlay_;   // nullopt: removed in this transaction
  PathMap<std::optional<Node>> snapshot_;  // nodes as first read: later reads see the same
  PathMap<std::uint64_t> seen_;            // generation at first access; 0 = absent
  std::map<std::uint32_t, Usage> delta_;
  std::vector<Event> events_;
};

}  // namespace tern::xs

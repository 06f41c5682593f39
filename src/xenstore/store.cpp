#include "xenstore/store.hpp"

#include <fmt/format.h>

// Inlined: the resolver hashes every request's path.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "xenstore/path.hpp"

namespace tern::xs {

Store::Store() {
  Perms dom0 = Perms::owned_by(0);
  std::uint32_t root = new_rec();
  Rec& r = rec(root);
  r.parent = kNone;
  r.blob = arena_.add("", "", dom0.packed());
  r.gen = 0;
  usage_of(0) =
      Usage{1, static_cast<std::int64_t>(Node::node_bytes("/", 0, 0, dom0.packed().size()))};
  (void)insert("/tool", "", dom0);
  (void)insert("/tool/xenstored", "", dom0);
}

// ---- lookup ----------------------------------------------------------------

std::uint32_t Store::child(std::uint32_t parent, std::string_view name) const {
  return index_.find(NodeIndex::hash(parent, name), [&](std::uint32_t id) {
    const Rec& r = rec(id);
    return r.parent == parent && arena_.name(r.blob) == name;
  });
}

std::uint32_t Store::resolve(std::string_view path) const {
  ResolvedSet& set = resolved_[XXH3_64bits(path.data(), path.size()) % kResolvedSets];
  for (std::uint8_t w = 0; w < 2; ++w)
    if (set.way[w].id != kNone && set.way[w].path == path) {
      set.older = static_cast<std::uint8_t>(w ^ 1);
      return set.way[w].id;
    }
  if (path.empty() || path[0] != '/') return kNone;
  std::uint32_t id = kRoot;
  std::string_view rest = path.substr(1);
  while (!rest.empty() && id != kNone) {
    auto slash = rest.find('/');
    id = child(id, rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  if (id != kNone) {
    Resolved& slot = set.way[set.older];
    slot.path.assign(path);
    slot.id = id;
    set.older ^= 1;
  }
  return id;
}

NodeView Store::view(std::uint32_t id) const {
  const Rec& r = rec(id);
  return NodeView{arena_.value(r.blob), arena_.perms(r.blob), r.gen, r.children_bytes};
}

std::optional<NodeView> Store::lookup(std::string_view path) const {
  std::uint32_t id = resolve(path);
  if (id == kNone) return std::nullopt;
  return view(id);
}

Result<NodeView> Store::find(std::string_view path) {
  std::uint32_t id = resolve(path);
  if (id == kNone) return fail(Err::enoent);
  return view(id);
}

std::size_t Store::bytes_of(std::string_view path, std::uint32_t id) const {
  const Rec& r = rec(id);
  return Node::node_bytes(path, arena_.value(r.blob).size(), r.children_bytes,
                          arena_.perms(r.blob).packed().size());
}

Result<std::string> Store::children(std::string_view path) {
  std::uint32_t id = resolve(path);
  if (id == kNone) return fail(Err::enoent);
  return names_of(id);
}

std::string Store::names_of(std::uint32_t id) const {
  std::string out;
  out.reserve(rec(id).children_bytes);
  std::uint32_t first = rec(id).first_child;
  if (first != kNone) {
    std::uint32_t c = first;
    do {
      out.append(arena_.name(rec(c).blob));
      out.push_back('\0');
      c = rec(c).next;
    } while (c != first);
  }
  return out;
}

std::optional<Node> Store::copy_node(std::string_view path) const {
  std::uint32_t id = resolve(path);
  if (id == kNone) return std::nullopt;
  NodeView v = view(id);
  Node n{std::string(v.value), {}, Perms(v.perms), v.gen};
  n.children = names_of(id);
  return n;
}

Usage Store::usage(std::uint32_t domid) const {
  auto it = usage_.find(domid);
  return it == usage_.end() ? Usage{} : it->second;
}

// ---- changes ---------------------------------------------------------------

std::uint32_t Store::new_rec() {
  std::uint32_t id;
  if (free_head_ != kNone) {
    id = free_head_;
    free_head_ = rec(id).next;
  } else {
    if (rec_used_ % kRecsPerChunk == 0)
      rec_chunks_.push_back(std::make_unique<Rec[]>(kRecsPerChunk));
    id = rec_used_++;
  }
  rec(id) = Rec{};
  ++live_nodes_;
  return id;
}

Result<> Store::insert(std::string_view path, std::string_view value, const Perms& perms) {
  std::uint32_t parent = resolve(parent_path(path));
  if (parent == kNone) return fail(Err::enoent);
  std::string_view leaf = leaf_name(path);
  if (child(parent, leaf) != kNone) return fail(Err::eexist);
  if (leaf.size() > NodeArena::kMaxField || value.size() > NodeArena::kMaxField ||
      perms.size() > NodeArena::kMaxField)
    return fail(Err::e2big);
  std::uint32_t id = new_rec();
  Rec& r = rec(id);
  r.parent = parent;
  r.blob = arena_.add(leaf, value, perms.packed());
  r.gen = ++gen_;
  // Append to the parent's children (creation order, as DIRECTORY lists them).
  Rec& p = rec(parent);
  if (p.first_child == kNone) {
    p.first_child = r.next = r.prev = id;
  } else {
    std::uint32_t last = rec(p.first_child).prev;
    r.prev = last;
    r.next = p.first_child;
    rec(last).next = id;
    rec(p.first_child).prev = id;
  }
  p.children_bytes += static_cast<std::uint32_t>(leaf.size() + 1);
  p.gen = ++gen_;
  index_.insert(NodeIndex::hash(parent, leaf), id);
  Usage& u = usage_of(perms.owner());
  u.nodes += 1;
  u.bytes +=
      static_cast<std::int64_t>(Node::node_bytes(path, value.size(), 0, perms.packed().size()));
  usage_of(arena_.perms(p.blob).owner()).bytes += static_cast<std::int64_t>(leaf.size() + 1);
  return {};
}

Result<> Store::set_value(std::string_view path, std::string_view value) {
  std::uint32_t id = resolve(path);
  if (id == kNone) return fail(Err::enoent);
  if (value.size() > NodeArena::kMaxField) return fail(Err::e2big);
  Rec& r = rec(id);
  std::int64_t delta = static_cast<std::int64_t>(value.size()) -
                       static_cast<std::int64_t>(arena_.value(r.blob).size());
  usage_of(arena_.perms(r.blob).owner()).bytes += delta;
  r.blob = arena_.set_value(r.blob, value);
  r.gen = ++gen_;
  maybe_compact();
  return {};
}

Result<> Store::set_node_perms(std::string_view path, const Perms& perms) {
  std::uint32_t id = resolve(path);
  if (id == kNone) return fail(Err::enoent);
  if (perms.size() > NodeArena::kMaxField) return fail(Err::e2big);
  Rec& r = rec(id);
  Usage& before = usage_of(arena_.perms(r.blob).owner());
  before.nodes -= 1;
  before.bytes -= static_cast<std::int64_t>(bytes_of(path, id));
  r.blob = arena_.set_perms(r.blob, perms.packed());
  r.gen = ++gen_;
  Usage& after = usage_of(perms.owner());
  after.nodes += 1;
  after.bytes += static_cast<std::int64_t>(bytes_of(path, id));
  maybe_compact();
  return {};
}

Result<> Store::touch(std::string_view path) {
  std::uint32_t id = resolve(path);
  if (id == kNone) return fail(Err::enoent);
  rec(id).gen = ++gen_;
  return {};
}

// Removes `id` (at `path`) and its subtree, children first. `path` is used as
// scratch for the descendants' paths and restored on return.
void Store::erase_id(std::uint32_t id, std::string& path) {
  while (rec(id).first_child != kNone) {
    std::uint32_t c = rec(rec(id).first_child).prev;  // the last: unlinking it is cheapest
    std::size_t len = path.size();
    if (path != "/") path.push_back('/');
    path.append(arena_.name(rec(c).blob));
    erase_id(c, path);
    path.resize(len);
  }
  Rec& r = rec(id);
  std::string_view leaf = arena_.name(r.blob);
  Rec& p = rec(r.parent);
  if (r.next == id) {
    p.first_child = kNone;
  } else {
    rec(r.prev).next = r.next;
    rec(r.next).prev = r.prev;
    if (p.first_child == id) p.first_child = r.next;
  }
  p.children_bytes -= static_cast<std::uint32_t>(leaf.size() + 1);
  p.gen = ++gen_;
  usage_of(arena_.perms(p.blob).owner()).bytes -= static_cast<std::int64_t>(leaf.size() + 1);
  Usage& u = usage_of(arena_.perms(r.blob).owner());
  u.nodes -= 1;
  u.bytes -= static_cast<std::int64_t>(bytes_of(path, id));
  index_.erase(NodeIndex::hash(r.parent, leaf), id);
  arena_.release(r.blob);
  r = Rec{};
  r.parent = kFree;
  r.next = free_head_;
  free_head_ = id;
  --live_nodes_;
  ++gen_;
}

Result<> Store::erase(std::string_view path) {
  std::uint32_t id = resolve(path);
  if (id == kNone) return {};
  if (id == kRoot) return fail(Err::einval);
  for (ResolvedSet& set : resolved_)  // ids of removed nodes get reused
    for (Resolved& r : set.way) r.id = kNone;
  std::string scratch(path);
  erase_id(id, scratch);
  maybe_compact();
  return {};
}

void Store::maybe_compact() {
  if (!arena_.wants_compaction()) return;
  NodeArena fresh;
  for (std::uint32_t id = 0; id < rec_used_; ++id) {
    Rec& r = rec(id);
    if (r.parent != kFree) r.blob = fresh.copy_from(arena_, r.blob);
  }
  arena_ = std::move(fresh);
}

// ---- whole-tree views --------------------------------------------------------

void Store::visit(const std::function<void(std::string_view, const NodeView&)>& f) const {
  std::string path = "/";
  f(path, view(kRoot));
  // Depth-first, pre-order; `stack` holds the next sibling to visit at each level.
  struct Level {
    std::uint32_t first;
    std::uint32_t next;
    std::size_t path_len;
  };
  std::vector<Level> stack;
  auto descend = [&](std::uint32_t id) {
    std::uint32_t first = rec(id).first_child;
    if (first != kNone) stack.push_back({first, first, path.size()});
  };
  descend(kRoot);
  while (!stack.empty()) {
    Level& l = stack.back();
    if (l.next == kNone) {
      stack.pop_back();
      continue;
    }
    std::uint32_t id = l.next;
    l.next = rec(id).next == l.first ? kNone : rec(id).next;
    path.resize(l.path_len);
    if (path != "/") path.push_back('/');
    path.append(arena_.name(rec(id).blob));
    f(path, view(id));
    descend(id);
  }
}

std::optional<std::string> Store::check() const {
  std::map<std::uint32_t, Usage> recount;
  std::optional<std::string> bad;
  std::size_t seen = 0;
  visit([&](std::string_view path, const NodeView& n) {
    ++seen;
    if (bad) return;
    Usage& u = recount[n.perms.owner()];
    u.nodes += 1;
    u.bytes += static_cast<std::int64_t>(
        Node::node_bytes(path, n.value.size(), n.children_bytes, n.perms.packed().size()));
    if (n.perms.size() == 0) bad = fmt::format("{}: no permissions", path);
    std::uint32_t id = resolve(path);
    if (id == kNone) {
      bad = fmt::format("{}: reachable but not in the index", path);
      return;
    }
    std::size_t names = 0;
    std::uint32_t first = rec(id).first_child;
    if (first != kNone) {
      std::uint32_t c = first;
      do {
        const Rec& cr = rec(c);
        if (cr.parent != id)
          bad = fmt::format("{}: child {} names another parent", path, arena_.name(cr.blob));
        if (rec(cr.next).prev != c) bad = fmt::format("{}: broken sibling links", path);
        names += arena_.name(cr.blob).size() + 1;
        c = cr.next;
      } while (c != first && !bad);
    }
    if (!bad && names != n.children_bytes)
      bad = fmt::format("{}: children take {} bytes, {} recorded", path, names, n.children_bytes);
  });
  if (bad) return bad;
  if (seen != live_nodes_ || index_.size() + 1 != live_nodes_)
    return fmt::format("{} nodes reachable, {} live, {} indexed", seen, live_nodes_, index_.size());
  for (const auto& [dom, u] : usage_) {
    auto it = recount.find(dom);
    Usage r = it == recount.end() ? Usage{} : it->second;
    if (r.nodes != u.nodes || r.bytes != u.bytes)
      return fmt::format("domain {}: usage {} nodes/{} bytes recorded, {}/{} counted", dom, u.nodes,
                         u.bytes, r.nodes, r.bytes);
  }
  for (const auto& [dom, r] : recount)
    if (!usage_.contains(dom))
      return fmt::format("domain {}: owns {} nodes, no usage recorded", dom, r.nodes);
  return std::nullopt;
}

Result<> Store::reset_root(std::string_view value, const Perms& perms) {
  auto kids = children("/");
  if (!kids) return std::unexpected(kids.error());
  std::string_view names = *kids;
  while (!names.empty()) {
    auto nul = names.find('\0');
    if (auto r = erase(child_path("/", names.substr(0, nul))); !r) return r;
    names.remove_prefix(nul == std::string_view::npos ? names.size() : nul + 1);
  }
  if (auto r = set_value("/", value); !r) return r;
  return set_node_perms("/", perms);
}

Store::Footprint Store::footprint() const {
  return Footprint{rec_chunks_.size() * kRecsPerChunk * sizeof(Rec), arena_.mapped_bytes(),
                   arena_.live_bytes(), arena_.garbage_bytes(), index_.bytes()};
}

}  // namespace tern::xs

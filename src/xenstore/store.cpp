#include "xenstore/store.hpp"

#include <fmt/format.h>

#include "xenstore/path.hpp"

namespace tern::xs {

namespace {

bool has_child(const std::string& children, std::string_view leaf) {
  std::size_t pos = 0;
  while (pos < children.size()) {
    auto nul = children.find('\0', pos);
    if (nul == std::string::npos) break;
    if (std::string_view(children).substr(pos, nul - pos) == leaf) return true;
    pos = nul + 1;
  }
  return false;
}

void remove_child(std::string& children, std::string_view leaf) {
  std::size_t pos = 0;
  while (pos < children.size()) {
    auto nul = children.find('\0', pos);
    if (nul == std::string::npos) break;
    if (std::string_view(children).substr(pos, nul - pos) == leaf) {
      children.erase(pos, nul - pos + 1);
      return;
    }
    pos = nul + 1;
  }
}

template <typename F>
void for_each_child(const std::string& children, F&& f) {
  std::size_t pos = 0;
  while (pos < children.size()) {
    auto nul = children.find('\0', pos);
    if (nul == std::string::npos) break;
    f(std::string_view(children).substr(pos, nul - pos));
    pos = nul + 1;
  }
}

bool over(const Quotas* q, std::uint64_t Quotas::*field, std::uint64_t value) {
  return q != nullptr && q->*field != 0 && value > q->*field;
}

void emit(const OpCtx& c, std::string_view path, bool exact, const Perms& perms) {
  if (c.events) c.events->push_back(Event{std::string(path), exact, perms, std::nullopt});
}

}  // namespace

// ---- operations over any Tree ---------------------------------------------

Result<> Tree::check_memory(const OpCtx& c, std::int64_t extra) const {
  if (c.quota == nullptr || c.quota->memory == 0 || extra <= 0) return {};
  auto u = usage(c.who.domid);
  if (static_cast<std::uint64_t>(u.bytes + extra) > c.quota->memory) return fail(Err::enomem);
  return {};
}

Result<std::string> Tree::read(const OpCtx& c, std::string_view path) {
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return fail(Err::enoent);
  if (!(access_mask((*n)->perms, c.who) & kPermRead)) return fail(Err::eacces);
  return (*n)->value;
}

Result<> Tree::write(const OpCtx& c, std::string_view path, std::string_view value) {
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return create(c, path, value);
  const Node& old = **n;
  if (!(access_mask(old.perms, c.who) & kPermWrite)) return fail(Err::eacces);
  if (over(c.quota, &Quotas::node_size, value.size() + old.children.size())) return fail(Err::enospc);
  if (old.perms.owner() == c.who.domid)
    if (auto r = check_memory(c, static_cast<std::int64_t>(value.size()) -
                                     static_cast<std::int64_t>(old.value.size()));
        !r)
      return r;
  Node copy = old;
  copy.value.assign(value);
  Perms perms = copy.perms;
  if (auto r = put(path, std::move(copy)); !r) return r;
  emit(c, path, false, perms);
  return {};
}

Result<> Tree::mkdir(const OpCtx& c, std::string_view path) {
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (*n != nullptr) {
    if (!(access_mask((*n)->perms, c.who) & kPermWrite)) return fail(Err::eacces);
    return {};
  }
  return create(c, path, {});
}

// Creates `path` and any missing parents. New nodes inherit the permissions of
// their nearest existing ancestor; an unprivileged creator becomes the owner.
Result<> Tree::create(const OpCtx& c, std::string_view path, std::string_view value) {
  std::vector<std::string_view> missing{path};
  const Node* anc = nullptr;
  std::string_view p = parent_path(path);
  while (!p.empty()) {
    auto n = find(p);
    if (!n) return std::unexpected(n.error());
    if (*n != nullptr) {
      anc = *n;
      break;
    }
    missing.push_back(p);
    p = parent_path(p);
  }
  if (anc == nullptr) return fail(Err::enoent);  // no root: cannot happen in a Store
  if (!(access_mask(anc->perms, c.who) & kPermWrite)) return fail(Err::eacces);
  if (over(c.quota, &Quotas::node_size, value.size())) return fail(Err::enospc);
  Perms perms = anc->perms;
  if (!c.who.privileged) perms.set_owner(c.who.domid);
  if (c.quota != nullptr) {
    if (over(c.quota, &Quotas::nodes, usage(c.who.domid).nodes + missing.size()))
      return fail(Err::enospc);
    std::int64_t bytes = static_cast<std::int64_t>(value.size());
    for (auto m : missing) bytes += static_cast<std::int64_t>(m.size() + perms.packed().size());
    if (auto r = check_memory(c, bytes); !r) return r;
  }
  // Link the topmost missing node into its existing parent, then the chain below it.
  {
    Node parent = *anc;
    std::string_view top = missing.back();
    if (!has_child(parent.children, leaf_name(top))) {
      parent.children.append(leaf_name(top));
      parent.children.push_back('\0');
    }
    if (auto r = put(parent_path(top), std::move(parent)); !r) return r;
  }
  for (std::size_t i = missing.size(); i-- > 0;) {
    Node n;
    n.perms = perms;
    if (i == 0) {
      n.value.assign(value);
    } else {
      n.children.assign(leaf_name(missing[i - 1]));
      n.children.push_back('\0');
    }
    if (auto r = put(missing[i], std::move(n)); !r) return r;
  }
  emit(c, path, false, perms);
  return {};
}

Result<> Tree::rm(const OpCtx& c, std::string_view path) {
  if (path == "/") return fail(Err::einval);
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) {
    auto parent = find(parent_path(path));
    if (!parent) return std::unexpected(parent.error());
    return *parent != nullptr ? Result<>{} : fail(Err::enoent);
  }
  if (!(access_mask((*n)->perms, c.who) & kPermWrite)) return fail(Err::eacces);
  // Collect the subtree (pre-order), then remove it deepest first.
  std::vector<std::pair<std::string, Perms>> doomed;
  doomed.emplace_back(std::string(path), (*n)->perms);
  for (std::size_t i = 0; i < doomed.size(); ++i) {
    auto node = find(doomed[i].first);
    if (!node) return std::unexpected(node.error());
    if (*node == nullptr) continue;
    std::string base = doomed[i].first;
    for_each_child((*node)->children, [&](std::string_view leaf) {
      std::string cp = child_path(base, leaf);
      doomed.emplace_back(std::move(cp), Perms{});
    });
    doomed[i].second = (*node)->perms;
  }
  auto parent = find(parent_path(path));
  if (!parent) return std::unexpected(parent.error());
  if (*parent != nullptr) {
    Node p = **parent;
    remove_child(p.children, leaf_name(path));
    if (auto r = put(parent_path(path), std::move(p)); !r) return r;
  }
  for (std::size_t i = doomed.size(); i-- > 0;) {
    if (auto r = erase(doomed[i].first); !r) return r;
    emit(c, doomed[i].first, i != 0, doomed[i].second);
  }
  return {};
}

Result<std::string> Tree::directory(const OpCtx& c, std::string_view path) {
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return fail(Err::enoent);
  if (!(access_mask((*n)->perms, c.who) & kPermRead)) return fail(Err::eacces);
  return (*n)->children;
}

Result<std::string> Tree::directory_part(const OpCtx& c, std::string_view path,
                                         std::uint64_t offset, std::size_t max) {
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return fail(Err::enoent);
  if (!(access_mask((*n)->perms, c.who) & kPermRead)) return fail(Err::eacces);
  const std::string& ch = (*n)->children;
  if (offset > ch.size()) return fail(Err::einval);
  std::string out = std::to_string((*n)->gen);
  out.push_back('\0');
  // Whole names only; an empty name (extra NUL) marks the end of the list.
  std::size_t pos = offset;
  while (pos < ch.size()) {
    auto nul = ch.find('\0', pos);
    if (nul == std::string::npos) break;
    if (out.size() + (nul - pos + 1) + 1 > max) break;
    out.append(ch, pos, nul - pos + 1);
    pos = nul + 1;
  }
  if (pos >= ch.size()) out.push_back('\0');
  return out;
}

Result<std::string> Tree::get_perms(const OpCtx& c, std::string_view path) {
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return fail(Err::enoent);
  if (!(access_mask((*n)->perms, c.who) & kPermRead)) return fail(Err::eacces);
  return (*n)->perms.to_wire();
}

Result<> Tree::set_perms(const OpCtx& c, std::string_view path, const Perms& perms) {
  if (over(c.quota, &Quotas::permissions, perms.size())) return fail(Err::enospc);
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return fail(Err::enoent);
  if (!(access_mask((*n)->perms, c.who) & kPermOwner)) return fail(Err::eacces);
  if (!c.who.privileged && perms.owner() != (*n)->perms.owner()) return fail(Err::eperm);
  Node copy = **n;
  Perms old = copy.perms;
  copy.perms = perms;
  if (auto r = put(path, std::move(copy)); !r) return r;
  emit(c, path, false, perms);
  if (c.events) c.events->back().old_perms = old;
  return {};
}

// ---- the live store --------------------------------------------------------

Store::Store() {
  Perms dom0 = Perms::owned_by(0);
  Node root{.value = {}, .children = std::string("tool\0", 5), .perms = dom0, .gen = 0};
  Node tool{.value = {}, .children = std::string("xenstored\0", 10), .perms = dom0, .gen = 0};
  Node xsd{.value = {}, .children = {}, .perms = dom0, .gen = 0};
  (void)put("/", std::move(root));
  (void)put("/tool", std::move(tool));
  (void)put("/tool/xenstored", std::move(xsd));
}

void Store::account(std::string_view path, const Node& n, int sign) {
  Usage& u = usage_[n.perms.owner()];
  u.nodes += sign;
  u.bytes += sign * static_cast<std::int64_t>(n.bytes(path));
}

const Node* Store::lookup(std::string_view path) const {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

Result<const Node*> Store::find(std::string_view path) { return lookup(path); }

Result<> Store::put(std::string_view path, Node node) {
  node.gen = ++gen_;
  auto it = nodes_.find(path);
  if (it == nodes_.end()) {
    account(path, node, +1);
    nodes_.emplace(std::string(path), std::move(node));
  } else {
    account(path, it->second, -1);
    account(path, node, +1);
    it->second = std::move(node);
  }
  return {};
}

Result<> Store::erase(std::string_view path) {
  auto it = nodes_.find(path);
  if (it != nodes_.end()) {
    account(path, it->second, -1);
    nodes_.erase(it);
    ++gen_;
  }
  return {};
}

Usage Store::usage(std::uint32_t domid) const {
  auto it = usage_.find(domid);
  return it == usage_.end() ? Usage{} : it->second;
}

std::optional<std::string> Store::check() const {
  std::map<std::uint32_t, Usage> recount;
  for (const auto& [path, node] : nodes_) {
    Usage& u = recount[node.perms.owner()];
    u.nodes += 1;
    u.bytes += static_cast<std::int64_t>(node.bytes(path));
    if (node.perms.size() == 0) return fmt::format("{}: no permissions", path);
    if (path != "/") {
      const Node* parent = lookup(parent_path(path));
      if (parent == nullptr) return fmt::format("{}: parent missing", path);
      if (!has_child(parent->children, leaf_name(path)))
        return fmt::format("{}: not listed by its parent", path);
    }
    std::optional<std::string> bad;
    for_each_child(node.children, [&](std::string_view leaf) {
      if (!bad && lookup(child_path(path, leaf)) == nullptr)
        bad = fmt::format("{}: lists missing child {}", path, leaf);
    });
    if (bad) return bad;
  }
  for (const auto& [dom, u] : usage_) {
    auto it = recount.find(dom);
    Usage r = it == recount.end() ? Usage{} : it->second;
    if (r.nodes != u.nodes || r.bytes != u.bytes)
      return fmt::format("domain {}: usage {} nodes/{} bytes recorded, {}/{} counted", dom, u.nodes,
                         u.bytes, r.nodes, r.bytes);
  }
  return std::nullopt;
}

void Store::clear() {
  nodes_.clear();
  usage_.clear();
}

Store::Restored Store::restore_node(std::string_view path, std::string value, Perms perms, Node* parent) {
  if (parent == nullptr && path != "/") {
    auto it = nodes_.find(parent_path(path));
    if (it == nodes_.end()) return {"parent missing", {}, nullptr};
    parent = &it->second;
  }
  auto [it, inserted] = nodes_.try_emplace(std::string(path));
  if (!inserted) return {"exists", {}, nullptr};
  it->second.value = std::move(value);
  it->second.perms = std::move(perms);
  it->second.gen = ++gen_;
  account(path, it->second, +1);
  if (parent != nullptr) {
    // The parent's size grows by the new child's name: account for it too.
    account(parent_path(path), *parent, -1);
    parent->children.append(leaf_name(path));
    parent->children.push_back('\0');
    account(parent_path(path), *parent, +1);
  }
  return {nullptr, it->first, &it->second};
}

// ---- transactions ----------------------------------------------------------

std::unique_ptr<Transaction> Transaction::restore(Store& base, std::uint64_t node_limit, State state) {
  auto t = std::make_unique<Transaction>(base, node_limit);
  t->overlay_ = std::move(state.overlay);
  t->snapshot_ = std::move(state.snapshot);
  t->seen_ = std::move(state.seen);
  t->delta_ = std::move(state.delta);
  t->events_ = std::move(state.events);
  return t;
}

bool Transaction::conflicted() const {
  for (const auto& [path, gen] : seen_) {
    const Node* n = base_.lookup(path);
    if ((n ? n->gen : 0) != gen) return true;
  }
  return false;
}

Result<> Transaction::remember(std::string_view path) {
  if (seen_.find(path) != seen_.end()) return {};
  if (node_limit_ != 0 && seen_.size() >= node_limit_) return fail(Err::enospc);
  const Node* n = base_.lookup(path);
  seen_.emplace(std::string(path), n ? n->gen : 0);
  return {};
}

Result<const Node*> Transaction::find(std::string_view path) {
  if (auto it = overlay_.find(path); it != overlay_.end())
    return it->second ? &*it->second : nullptr;
  if (auto it = snapshot_.find(path); it != snapshot_.end())
    return it->second ? &*it->second : nullptr;
  if (auto r = remember(path); !r) return std::unexpected(r.error());
  const Node* n = base_.lookup(path);
  auto [it, _] = snapshot_.emplace(std::string(path), n ? std::optional<Node>(*n) : std::nullopt);
  return it->second ? &*it->second : nullptr;
}

void Transaction::account(std::string_view path, const Node* n, int sign) {
  if (n == nullptr) return;
  Usage& u = delta_[n->perms.owner()];
  u.nodes += sign;
  u.bytes += sign * static_cast<std::int64_t>(n->bytes(path));
}

Result<> Transaction::put(std::string_view path, Node node) {
  if (auto r = remember(path); !r) return r;
  auto prev = find(path);
  if (!prev) return std::unexpected(prev.error());
  account(path, *prev, -1);
  account(path, &node, +1);
  auto it = overlay_.find(path);
  if (it == overlay_.end())
    overlay_.emplace(std::string(path), std::move(node));
  else
    it->second = std::move(node);
  return {};
}

Result<> Transaction::erase(std::string_view path) {
  if (auto r = remember(path); !r) return r;
  auto prev = find(path);
  if (!prev) return std::unexpected(prev.error());
  account(path, *prev, -1);
  auto it = overlay_.find(path);
  if (it == overlay_.end())
    overlay_.emplace(std::string(path), std::nullopt);
  else
    it->second.reset();
  return {};
}

Usage Transaction::usage(std::uint32_t domid) const {
  Usage u = base_.usage(domid);
  if (auto it = delta_.find(domid); it != delta_.end()) {
    u.nodes += it->second.nodes;
    u.bytes += it->second.bytes;
  }
  return u;
}

Result<std::vector<Event>> Transaction::commit() {
  for (const auto& [path, gen] : seen_) {
    const Node* n = base_.lookup(path);
    if ((n ? n->gen : 0) != gen) return fail(Err::eagain);
  }
  for (auto& [path, node] : overlay_) {
    if (node)
      (void)base_.put(path, std::move(*node));
    else
      (void)base_.erase(path);
  }
  overlay_.clear();
  return std::move(events_);
}

}  // namespace tern::xs

#include <algorithm>

#include "xenstore/path.hpp"
#include "xenstore/store.hpp"

namespace tern::xs {

namespace {

void remove_name(std::string& children, std::string_view leaf) {
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

}  // namespace

Result<> Transaction::remember(std::string_view path) {
  if (seen_.find(path) != seen_.end()) return {};
  if (node_limit_ != 0 && seen_.size() >= node_limit_) return fail(Err::enospc);
  auto n = base_.lookup(path);
  seen_.emplace(std::string(path), n ? n->gen : 0);
  return {};
}

Result<const Node*> Transaction::node(std::string_view path) {
  if (auto it = overlay_.find(path); it != overlay_.end())
    return it->second ? &*it->second : nullptr;
  if (auto it = snapshot_.find(path); it != snapshot_.end())
    return it->second ? &*it->second : nullptr;
  if (auto r = remember(path); !r) return std::unexpected(r.error());
  auto [it, _] = snapshot_.emplace(std::string(path), base_.copy_node(path));
  return it->second ? &*it->second : nullptr;
}

Result<NodeView> Transaction::find(std::string_view path) {
  auto n = node(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return fail(Err::enoent);
  return (*n)->view();
}

Result<std::string> Transaction::children(std::string_view path) {
  auto n = node(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return fail(Err::enoent);
  return (*n)->children;
}

void Transaction::account(std::string_view path, const Node* n, int sign) {
  if (n == nullptr) return;
  Usage& u = delta_[n->perms.owner()];
  u.nodes += sign;
  u.bytes += sign * static_cast<std::int64_t>(n->bytes(path));
}

Result<> Transaction::put(std::string_view path, Node node) {
  if (auto r = remember(path); !r) return r;
  auto prev = this->node(path);
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

Result<> Transaction::set_value(std::string_view path, std::string_view value) {
  auto n = node(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return fail(Err::enoent);
  Node copy = **n;
  copy.value.assign(value);
  return put(path, std::move(copy));
}

Result<> Transaction::set_node_perms(std::string_view path, const Perms& perms) {
  auto n = node(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return fail(Err::enoent);
  Node copy = **n;
  copy.perms = perms;
  return put(path, std::move(copy));
}

Result<> Transaction::insert(std::string_view path, std::string_view value, const Perms& perms) {
  auto n = node(path);
  if (!n) return std::unexpected(n.error());
  if (*n != nullptr) return fail(Err::eexist);
  auto parent = node(parent_path(path));
  if (!parent) return std::unexpected(parent.error());
  if (*parent == nullptr) return fail(Err::enoent);
  Node p = **parent;
  p.children.append(leaf_name(path));
  p.children.push_back('\0');
  if (auto r = put(parent_path(path), std::move(p)); !r) return r;
  // Generation 0 marks a node created here (see overlay()).
  return put(path, Node{std::string(value), {}, perms, 0});
}

Result<> Transaction::erase(std::string_view path) {
  auto n = node(path);
  if (!n) return std::unexpected(n.error());
  if (*n == nullptr) return {};
  account(path, *n, -1);
  auto parent = node(parent_path(path));
  if (!parent) return std::unexpected(parent.error());
  if (*parent != nullptr) {
    Node p = **parent;
    remove_name(p.children, leaf_name(path));
    if (auto r = put(parent_path(path), std::move(p)); !r) return r;
  }
  overlay_.insert_or_assign(std::string(path), std::nullopt);
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

std::unique_ptr<Transaction> Transaction::restore(Store& base, std::uint64_t node_limit,
                                                  State state) {
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
    auto n = base_.lookup(path);
    if ((n ? n->gen : 0) != gen) return true;
  }
  return false;
}

Result<std::vector<Event>> Transaction::commit() {
  for (const auto& [path, gen] : seen_) {
    auto n = base_.lookup(path);
    if ((n ? n->gen : 0) != gen) return fail(Err::eagain);
  }
  // Nothing the transaction looked at changed, so its overlay applies as it
  // is: removals (deepest first), then creations in each parent's children
  // order (parents first), then changed values and permissions.
  auto by_length = [](const std::string* a, const std::string* b) { return a->size() < b->size(); };
  std::vector<const std::string*> gone, present;
  for (const auto& [path, node] : overlay_) {
    bool stored = base_.lookup(path).has_value();
    if (stored && (!node || node->gen == 0)) gone.push_back(&path);
    if (node) present.push_back(&path);
  }
  std::sort(gone.begin(), gone.end(), by_length);
  for (auto it = gone.rbegin(); it != gone.rend(); ++it) (void)base_.erase(**it);
  std::sort(present.begin(), present.end(), by_length);
  std::vector<const std::string*> updated;
  for (const std::string* path : present) {
    const Node& parent = *overlay_.find(*path)->second;
    std::string_view kids = parent.children;
    while (!kids.empty()) {
      auto nul = kids.find('\0');
      std::string cp = child_path(*path, kids.substr(0, nul));
      kids.remove_prefix(nul + 1);
      auto it = overlay_.find(cp);
      if (it == overlay_.end() || !it->second || base_.lookup(cp)) continue;
      (void)base_.insert(cp, it->second->value, it->second->perms);
    }
  }
  for (const std::string* path : present) {
    const Node& n = *overlay_.find(*path)->second;
    auto cur = base_.lookup(*path);
    if (!cur) {
      (void)base_.insert(*path, n.value, n.perms);  // not reached: its parent listed it
      continue;
    }
    if (n.gen == 0) continue;  // created above
    bool same_value = cur->value == n.value;
    bool same_perms = cur->perms == n.perms.view();
    if (!same_value) (void)base_.set_value(*path, n.value);
    if (!same_perms) (void)base_.set_node_perms(*path, n.perms);
    if (same_value && same_perms) (void)base_.touch(*path);
  }
  overlay_.clear();
  return std::move(events_);
}

}  // namespace tern::xs

#include "xenstore/tree.hpp"

#include "xenstore/path.hpp"

namespace tern::xs {

namespace {

bool over(const Quotas* q, std::uint64_t Quotas::*field, std::uint64_t value) {
  return q != nullptr && q->*field != 0 && value > q->*field;
}

void emit(const OpCtx& c, std::string_view path, bool exact, PermsView perms) {
  if (c.events) c.events->push_back(Event{std::string(path), exact, Perms(perms), std::nullopt});
}

template <typename F>
void for_each_name(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto nul = list.find('\0');
    if (nul == std::string_view::npos) break;
    f(list.substr(0, nul));
    list.remove_prefix(nul + 1);
  }
}

// A lookup's outcome: ENOENT means "absent", any other error is a failure.
bool failed(const Result<NodeView>& n) { return !n && n.error() != Err::enoent; }

}  // namespace

Result<> Tree::check_memory(const OpCtx& c, std::int64_t extra) const {
  if (c.quota == nullptr || c.quota->memory == 0 || extra <= 0) return {};
  auto u = usage(c.who.domid);
  if (static_cast<std::uint64_t>(u.bytes + extra) > c.quota->memory) return fail(Err::enomem);
  return {};
}

Result<std::string_view> Tree::read_view(const OpCtx& c, std::string_view path) {
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (!(access_mask(n->perms, c.who) & kPermRead)) return fail(Err::eacces);
  return n->value;
}

Result<std::string> Tree::read(const OpCtx& c, std::string_view path) {
  auto v = read_view(c, path);
  if (!v) return std::unexpected(v.error());
  return std::string(*v);
}

Result<> Tree::write(const OpCtx& c, std::string_view path, std::string_view value) {
  auto n = find(path);
  if (failed(n)) return std::unexpected(n.error());
  if (!n) return create(c, path, value);
  const NodeView old = *n;
  if (!(access_mask(old.perms, c.who) & kPermWrite)) return fail(Err::eacces);
  if (over(c.quota, &Quotas::node_size, value.size() + old.children_bytes))
    return fail(Err::enospc);
  if (old.perms.owner() == c.who.domid)
    if (auto r = check_memory(c, static_cast<std::int64_t>(value.size()) -
                                     static_cast<std::int64_t>(old.value.size()));
        !r)
      return r;
  Perms perms(old.perms);  // the view does not survive the change
  if (auto r = set_value(path, value); !r) return r;
  emit(c, path, false, perms);
  return {};
}

Result<> Tree::mkdir(const OpCtx& c, std::string_view path) {
  auto n = find(path);
  if (failed(n)) return std::unexpected(n.error());
  if (n) {
    if (!(access_mask(n->perms, c.who) & kPermWrite)) return fail(Err::eacces);
    return {};
  }
  return create(c, path, {});
}

// Creates `path` and any missing parents. New nodes inherit the permissions of
// their nearest existing ancestor; an unprivileged creator becomes the owner.
Result<> Tree::create(const OpCtx& c, std::string_view path, std::string_view value) {
  std::vector<std::string_view> missing{path};
  std::optional<NodeView> anc;
  std::string_view p = parent_path(path);
  while (!p.empty()) {
    auto n = find(p);
    if (failed(n)) return std::unexpected(n.error());
    if (n) {
      anc = *n;
      break;
    }
    missing.push_back(p);
    p = parent_path(p);
  }
  if (!anc) return fail(Err::enoent);  // no root: cannot happen in a Store
  if (!(access_mask(anc->perms, c.who) & kPermWrite)) return fail(Err::eacces);
  if (over(c.quota, &Quotas::node_size, value.size())) return fail(Err::enospc);
  Perms perms(anc->perms);
  if (!c.who.privileged) perms.set_owner(c.who.domid);
  if (c.quota != nullptr) {
    if (over(c.quota, &Quotas::nodes, usage(c.who.domid).nodes + missing.size()))
      return fail(Err::enospc);
    std::int64_t bytes = static_cast<std::int64_t>(value.size());
    for (auto m : missing) bytes += static_cast<std::int64_t>(m.size() + perms.packed().size());
    if (auto r = check_memory(c, bytes); !r) return r;
  }
  // Topmost first, so each new node's parent exists.
  for (std::size_t i = missing.size(); i-- > 0;)
    if (auto r = insert(missing[i], i == 0 ? value : std::string_view(), perms); !r) return r;
  emit(c, path, false, perms);
  return {};
}

Result<> Tree::rm(const OpCtx& c, std::string_view path) {
  if (path == "/") return fail(Err::einval);
  auto n = find(path);
  if (failed(n)) return std::unexpected(n.error());
  if (!n) {
    auto parent = find(parent_path(path));
    if (failed(parent)) return std::unexpected(parent.error());
    return parent ? Result<>{} : fail(Err::enoent);
  }
  if (!(access_mask(n->perms, c.who) & kPermWrite)) return fail(Err::eacces);
  // Collect the subtree (pre-order) with each node's permissions, then remove
  // it deepest first.
  std::vector<std::pair<std::string, Perms>> doomed;
  doomed.emplace_back(std::string(path), Perms(n->perms));
  for (std::size_t i = 0; i < doomed.size(); ++i) {
    auto kids = children(doomed[i].first);
    if (!kids) return std::unexpected(kids.error());
    std::string base = doomed[i].first;
    for_each_name(*kids, [&](std::string_view leaf) {
      doomed.emplace_back(child_path(base, leaf), Perms());
    });
    if (i > 0) {
      auto node = find(doomed[i].first);
      if (failed(node)) return std::unexpected(node.error());
      if (node) doomed[i].second = Perms(node->perms);
    }
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
  if (!(access_mask(n->perms, c.who) & kPermRead)) return fail(Err::eacces);
  return children(path);
}

Result<std::string> Tree::directory_part(const OpCtx& c, std::string_view path,
                                         std::uint64_t offset, std::size_t max) {
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (!(access_mask(n->perms, c.who) & kPermRead)) return fail(Err::eacces);
  std::string out = std::to_string(n->gen);
  out.push_back('\0');
  auto kids = children(path);
  if (!kids) return std::unexpected(kids.error());
  const std::string& ch = *kids;
  if (offset > ch.size()) return fail(Err::einval);
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
  if (!(access_mask(n->perms, c.who) & kPermRead)) return fail(Err::eacces);
  return n->perms.to_wire();
}

Result<> Tree::set_perms(const OpCtx& c, std::string_view path, const Perms& perms) {
  if (over(c.quota, &Quotas::permissions, perms.size())) return fail(Err::enospc);
  auto n = find(path);
  if (!n) return std::unexpected(n.error());
  if (!(access_mask(n->perms, c.who) & kPermOwner)) return fail(Err::eacces);
  if (!c.who.privileged && perms.owner() != n->perms.owner()) return fail(Err::eperm);
  Perms old(n->perms);
  if (auto r = set_node_perms(path, perms); !r) return r;
  emit(c, path, false, perms);
  if (c.events) c.events->back().old_perms = std::move(old);
  return {};
}

}  // namespace tern::xs

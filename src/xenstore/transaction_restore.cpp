#include "xenstore/transaction_restore.hpp"

#include "xenstore/path.hpp"
#include "xenstore/store_access.hpp"

namespace tern::xs {

namespace {

bool lists_child(std::string_view children, std::string_view leaf) {
  bool found = false;
  for_each_child_name(children, [&](std::string_view n) { found = found || n == leaf; });
  return found;
}

void drop_child(std::string& children, std::string_view leaf) {
  std::string out;
  for_each_child_name(children, [&](std::string_view n) {
    if (n == leaf) return;
    out.append(n);
    out.push_back('\0');
  });
  children = std::move(out);
}

}  // namespace

std::unique_ptr<Transaction> build_transaction(Store& store, std::uint64_t node_limit,
                                               SavedTransaction s) {
  Transaction::State st;
  bool conflicted = s.conflicted;
  std::vector<Node*> guessed;  // nodes whose children the image did not give
  for (auto& pn : s.nodes) {
    std::optional<Node> committed = copy_node(store, pn.path);
    st.seen.insert_or_assign(pn.path, committed ? committed->gen : 0);
    if (!pn.node) {
      st.overlay.insert_or_assign(pn.path, std::nullopt);
      continue;
    }
    Node n = std::move(*pn.node);
    n.gen = committed ? committed->gen : 0;
    bool given = false;
    if (auto it = s.children.find(pn.path); it != s.children.end()) {
      n.children = it->second;
      given = true;
    } else if (committed) {
      n.children = committed->children;
    }
    if (!pn.written && (!s.has_tern_record || s.compare_reads) &&
        (!committed || committed->value != n.value || committed->perms != n.perms))
      conflicted = true;  // what it read is no longer there
    auto& m = pn.written ? st.overlay : st.snapshot;
    auto [it, _] = m.insert_or_assign(pn.path, std::move(n));
    if (!given) guessed.push_back(&*it->second);
  }
  // Without children lists (another daemon's image): the committed children,
  // less those the transaction deleted, plus those it created.
  if (!guessed.empty()) {
    auto find_view = [&](std::string_view p) -> Node* {
      if (auto it = st.overlay.find(p); it != st.overlay.end())
        return it->second ? &*it->second : nullptr;
      if (auto it = st.snapshot.find(p); it != st.snapshot.end())
        return it->second ? &*it->second : nullptr;
      return nullptr;
    };
    for (const auto& pn : s.nodes) {
      if (pn.path == "/") continue;
      Node* parent = find_view(parent_path(pn.path));
      if (parent == nullptr || s.children.contains(std::string(parent_path(pn.path)))) continue;
      std::string_view leaf = leaf_name(pn.path);
      bool exists = find_view(pn.path) != nullptr;
      if (!exists && lists_child(parent->children, leaf)) drop_child(parent->children, leaf);
      if (exists && !lists_child(parent->children, leaf)) {
        parent->children.append(leaf);
        parent->children.push_back('\0');
      }
    }
  }
  if (conflicted)
    for (auto& [p, gen] : st.seen) gen = Transaction::kNeverGeneration;
  st.delta = std::move(s.delta);
  st.events = std::move(s.events);
  return Transaction::restore(store, node_limit, std::move(st));
}

}  // namespace tern::xs

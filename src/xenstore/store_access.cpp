#include "xenstore/store_access.hpp"

#include "xenstore/image_convert.hpp"
#include "xenstore/path.hpp"

namespace tern::xs {

Expected<void> visit_subtree(const Store& s, std::string_view top, const NodeVisitor& f) {
  const Node* root = s.lookup(top);
  if (root == nullptr) return {};
  std::string p(top);
  TERN_TRY(f(p, root->value, root->perms));
  // Each frame holds a node's children, all looked up at once when the node
  // is entered: independent hash lookups in a tight loop overlap their cache
  // misses, which dominate the walk of a large store.
  struct Frame {
    std::size_t len;  // length of this node's path
    std::vector<std::pair<std::string_view, const Node*>> children;
    std::size_t next = 0;
  };
  std::vector<Frame> stack;
  auto enter = [&](const Node& n) -> Expected<void> {
    Frame fr{p.size(), {}, 0};
    std::size_t base = p.size();
    for_each_child_name(n.children,
                        [&](std::string_view leaf) { fr.children.emplace_back(leaf, nullptr); });
    for (auto& [leaf, node] : fr.children) {
      p.resize(base);
      if (base != 1) p.push_back('/');  // below "/" no separator is added
      p.append(leaf);
      node = s.lookup(p);
      if (node == nullptr)
        return make_error(Errc::internal, "store: {} is listed by its parent but missing", p);
    }
    p.resize(base);
    stack.push_back(std::move(fr));
    return {};
  };
  TERN_TRY(enter(*root));
  while (!stack.empty()) {
    Frame& fr = stack.back();
    if (fr.next == fr.children.size()) {
      stack.pop_back();
      continue;
    }
    auto [leaf, node] = fr.children[fr.next++];
    p.resize(fr.len);
    if (fr.len != 1) p.push_back('/');
    p.append(leaf);
    TERN_TRY(f(p, node->value, node->perms));
    if (!node->children.empty()) TERN_TRY(enter(*node));
  }
  return {};
}

void visit_all(const Store& s, const std::function<void(std::string_view, const Perms&)>& f) {
  for (const auto& [path, n] : s.nodes()) f(path, n.perms);
}

bool node_exists(const Store& s, std::string_view path) { return s.lookup(path) != nullptr; }

std::uint64_t node_generation(const Store& s, std::string_view path) {
  const Node* n = s.lookup(path);
  return n ? n->gen : 0;
}

std::optional<Node> copy_node(const Store& s, std::string_view path) {
  const Node* n = s.lookup(path);
  if (n == nullptr) return std::nullopt;
  return *n;
}

StoreLoader::StoreLoader(Store& s, std::size_t expected_nodes) : s_(s) {
  s_.clear();
  if (expected_nodes) s_.reserve(expected_nodes);
}

const char* StoreLoader::add(std::string_view path, std::string value, Perms perms) {
  // Images list nodes depth first, so the parent is almost always on the
  // path to the previous node: found without a hash lookup.
  std::string_view parent = path == "/" ? std::string_view() : parent_path(path);
  while (!ancestors_.empty() && ancestors_.back().first != parent) ancestors_.pop_back();
  Node* hint = ancestors_.empty() ? nullptr : ancestors_.back().second;
  auto added = s_.restore_node(path, std::move(value), std::move(perms), hint);
  if (added.error != nullptr) return added.error;
  ancestors_.emplace_back(added.key, added.node);
  return nullptr;
}

const char* add_node_live(Store& s, std::string_view path, std::string value, Perms perms) {
  std::string parent(parent_path(path));
  auto added = s.restore_node(path, std::move(value), std::move(perms));
  if (added.error != nullptr) return added.error;
  if (const Node* p = s.lookup(parent)) (void)s.put(parent, Node(*p));  // a new generation
  return nullptr;
}

}  // namespace tern::xs

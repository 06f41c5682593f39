#include "xenstore/store_access.hpp"

#include "xenstore/image_convert.hpp"
#include "xenstore/path.hpp"

namespace tern::xs {

namespace {
// Why an insert was refused, in the words the image readers report.
const char* insert_error(Err e) {
  switch (e) {
    case Err::eexist:
      return "exists";
    case Err::enoent:
      return "parent missing";
    case Err::e2big:
      return "name, value or permissions too long for the store";
    default:
      return "refused by the store";
  }
}
}  // namespace

Expected<void> visit_subtree(const Store& s, std::string_view top, const NodeVisitor& f) {
  if (!s.lookup(top)) return {};
  // Store::visit walks parents before children and children in creation
  // (DIRECTORY) order; the nodes outside `top` are skipped. Stops calling f
  // after its first error.
  Expected<void> result;
  bool whole = top == "/";
  s.visit([&](std::string_view path, const NodeView& n) {
    if (!result || (!whole && !is_child(path, top))) return;
    result = f(path, n.value, Perms(n.perms));
  });
  return result;
}

void visit_all(const Store& s, const std::function<void(std::string_view, PermsView)>& f) {
  s.visit([&](std::string_view path, const NodeView& n) { f(path, n.perms); });
}

bool node_exists(const Store& s, std::string_view path) { return s.lookup(path).has_value(); }

std::uint64_t node_generation(const Store& s, std::string_view path) {
  auto n = s.lookup(path);
  return n ? n->gen : 0;
}

std::optional<Node> copy_node(const Store& s, std::string_view path) { return s.copy_node(path); }

StoreLoader::StoreLoader(Store& s, std::size_t /*expected_nodes*/) : s_(s) {}

const char* StoreLoader::add(std::string_view path, std::string value, Perms perms) {
  if (path == "/") {
    if (have_root_) return "exists";
    if (auto r = s_.reset_root(value, perms); !r) return insert_error(r.error());
    have_root_ = true;
    return nullptr;
  }
  if (!have_root_) return "parent missing";
  if (auto r = s_.insert(path, value, perms); !r) return insert_error(r.error());
  return nullptr;
}

const char* add_node_live(Store& s, std::string_view path, std::string value, Perms perms) {
  // Store::insert gives the parent a new generation, as a write would.
  if (auto r = s.insert(path, value, perms); !r) return insert_error(r.error());
  return nullptr;
}

}  // namespace tern::xs

#include "xenstore/watch_index.hpp"

#include "xenstore/path.hpp"

namespace tern::xs {

void WatchIndex::add(Connection& c, Watch& w) {
  auto& bucket = by_path_[w.path];
  w.slot = bucket.size();
  bucket.push_back(WatchRef{&c, &w});
  ++count_;
}

void WatchIndex::remove(Watch& w) {
  auto it = by_path_.find(w.path);
  if (it == by_path_.end() || w.slot >= it->second.size() || it->second[w.slot].watch != &w) return;
  auto& bucket = it->second;
  // Swap-remove: O(1) however many watch the same path (say @releaseDomain).
  bucket[w.slot] = bucket.back();
  bucket[w.slot].watch->slot = w.slot;
  bucket.pop_back();
  if (bucket.empty()) by_path_.erase(it);
  --count_;
}

void WatchIndex::on_path(std::string_view path, std::vector<WatchRef>& out) const {
  if (auto it = by_path_.find(path); it != by_path_.end())
    out.insert(out.end(), it->second.begin(), it->second.end());
}

void WatchIndex::on_path_or_ancestors(std::string_view path, std::vector<WatchRef>& out) const {
  for (std::string_view p = path; !p.empty(); p = parent_path(p)) on_path(p, out);
}

}  // namespace tern::xs

// Fuzzes sequences of store operations, with and without transactions and as
// privileged or unprivileged callers, then checks the store's invariants
// (parents exist and list their children, usage accounting matches).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "xenstore/path.hpp"
#include "xenstore/store.hpp"

namespace {
struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::xs;
  static const char* kNames[] = {"a", "b", "c", "local", "domain", "5", "x"};
  Reader r{data, size};
  Store store;
  Quotas q;
  q.nodes = 20;
  q.transaction_nodes = 30;
  std::vector<std::unique_ptr<Transaction>> txns;
  std::vector<Event> events;
  for (int step = 0; step < 200 && r.n > 0; ++step) {
    std::uint8_t op = r.byte();
    std::string path = "/";
    for (int depth = r.byte() % 4; depth > 0; --depth) {
      if (path != "/") path.push_back('/');
      path += kNames[r.byte() % 7];
    }
    if (path.size() > 1 && path.back() == '/') path.pop_back();
    bool priv = (op & 0x80) == 0;
    OpCtx ctx{Caller{priv ? 0u : 5u, priv, std::nullopt}, priv ? nullptr : &q, &events};
    std::size_t ti = r.byte() % 4;
    Tree* tree = &store;
    if (ti < txns.size()) tree = txns[ti].get();
    switch (op & 0x0f) {
      case 0: (void)tree->read(ctx, path); break;
      case 1: (void)tree->write(ctx, path, std::string(r.byte() % 8, 'v')); break;
      case 2: (void)tree->mkdir(ctx, path); break;
      case 3: (void)tree->rm(ctx, path); break;
      case 4: (void)tree->directory(ctx, path); break;
      case 5: (void)tree->directory_part(ctx, path, r.byte() % 16, 16 + r.byte()); break;
      case 6: (void)tree->get_perms(ctx, path); break;
      case 7: (void)tree->set_perms(ctx, path, Perms({Perm{static_cast<std::uint8_t>(r.byte() % 4), r.byte() % 8u}})); break;
      case 8: if (txns.size() < 4) txns.push_back(std::make_unique<Transaction>(store, priv ? 0 : q.transaction_nodes)); break;
      case 9:
        if (ti < txns.size()) {
          (void)txns[ti]->commit();
          txns.erase(txns.begin() + static_cast<std::ptrdiff_t>(ti));
        }
        break;
      default: break;
    }
    if (events.size() > 1000) events.clear();
  }
  if (auto bad = store.check()) {
    std::fprintf(stderr, "store inconsistent: %s\n", bad->c_str());
    std::abort();
  }
  return 0;
}

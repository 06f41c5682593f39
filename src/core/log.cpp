#include "core/log.hpp"

#include <atomic>

namespace tern::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::warn)};
}
Level level() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }
void set_level(Level l) { g_level.store(static_cast<int>(l), std::memory_order_relaxed); }
}  // namespace tern::log

// The Domain interface: everything above src/vm/ (save, restore, live
// migration, the CLI) sees a VM only through this class. Two backends
// implement it: kvm/ (a real VM on /dev/kvm) and sim/ (in-process,
// deterministic, with fault injection), so the engines above are tested on
// every machine.
//
// Threading: a Domain runs its vCPUs on threads of its own. Every method here
// may be called from one controlling thread at a time (the VMM's control
// loop); the backend synchronises with its vCPU threads internally.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "stream/domctx/state_image.hpp"
#include "vm/dirty_bitmap.hpp"
#include "vm/memory_map.hpp"

namespace tern::vm {

enum class Backend { kvm, sim };
[[nodiscard]] std::string_view backend_name(Backend b);

struct DomainConfig {
  std::uint64_t memory_bytes = 256ULL << 20;  // populated RAM from guest-physical 0
  std::uint32_t vcpus = 1;
  std::string kernel;   // Multiboot ELF; empty = the built-in guest
  std::string cmdline;  // Multiboot command line (guest options, guest/README.md)
  std::string console;  // COM1 output file; empty = stdout; "-" = discard
  // false for a restore target: memory is created empty (nothing populated,
  // nothing loaded) and vCPUs wait for load_state() + resume().
  bool boot = true;
};

// How a guest ended. The built-in guest writes its verdict to the exit port
// (guest/abi.h): 0 clean, 1..63 mismatches, 0x40.. its own failures.
struct GuestExit {
  std::uint32_t value = 0;
  [[nodiscard]] bool clean() const { return value == 0; }
};

enum class RunState { created, running, paused, exited, failed };
[[nodiscard]] std::string_view run_state_name(RunState s);

class Domain {
 public:
  virtual ~Domain() = default;
  Domain() = default;
  Domain(const Domain&) = delete;
  Domain& operator=(const Domain&) = delete;

  [[nodiscard]] virtual Backend backend() const = 0;
  [[nodiscard]] virtual std::uint32_t vcpu_count() const = 0;
  [[nodiscard]] virtual RunState state() const = 0;

  // ---- memory -------------------------------------------------------------
  // A consistent copy of the memory map (taken under the backend's lock).
  [[nodiscard]] virtual MemoryMap memory_map() const = 0;
  // The map's generation without copying it (seed 002: compare before a send).
  [[nodiscard]] virtual std::uint64_t map_generation() const = 0;
  // Host address of guest frame pfn, or nullptr when pfn is outside the
  // guest's address space. The address stays valid for the Domain's lifetime
  // even if the page later leaves the map (it then reads as zero), so a
  // sender racing a balloon never touches unmapped host memory.
  [[nodiscard]] virtual std::byte* page(std::uint64_t pfn) = 0;
  // Restore side: make frames present (zero-filled) / absent.
  virtual Expected<void> populate(std::uint64_t first_pfn, std::uint64_t count) = 0;
  virtual Expected<void> depopulate(std::uint64_t first_pfn, std::uint64_t count) = 0;

  // ---- dirty tracking -------------------------------------------------------
  // After start_dirty_log(), collect_dirty() returns every frame written
  // since the previous call (or since start): by the guest, and by the VMM
  // itself through page() or device emulation. Frames that left the map are
  // reported too, so the sender can notice them.
  virtual Expected<void> start_dirty_log() = 0;
  virtual Expected<DirtyBitmap> collect_dirty() = 0;
  virtual Expected<void> stop_dirty_log() = 0;

  // ---- execution ------------------------------------------------------------
  // Boots (config.boot) or, for a restore target, does nothing until resume().
  virtual Expected<void> start() = 0;
  // Stops every vCPU; returns once all are out of guest mode with pending
  // I/O completed, so state read afterwards is consistent.
  virtual Expected<void> pause() = 0;
  virtual Expected<void> resume() = 0;
  // Slows the guest for auto-converge: vCPUs sleep `fraction` (0..0.99) of
  // their time. 0 restores full speed.
  virtual void set_throttle(double fraction) = 0;
  // Waits until the guest exits (or the timeout passes: returns nullopt).
  virtual Expected<std::optional<GuestExit>> wait_exit(
      std::optional<std::chrono::milliseconds> timeout) = 0;
  // Stops the VM for good (vCPU threads joined). Idempotent.
  virtual void shutdown() = 0;

  // ---- state (only while paused) ---------------------------------------------
  // Every vCPU's and the VM's non-memory state as domain-context records.
  virtual Expected<stream::domctx::StateImage> save_state() = 0;
  // Refuses (before changing anything) state this host cannot run: missing
  // CPU features, unknown mandatory parts, wrong vCPU count.
  virtual Expected<void> check_state(const stream::domctx::StateImage& img) const = 0;
  virtual Expected<void> load_state(const stream::domctx::StateImage& img) = 0;
};

// Creates a Domain on the chosen backend.
Expected<std::unique_ptr<Domain>> create_domain(Backend backend, const DomainConfig& config);
// kvm when /dev/kvm can be opened, else sim.
[[nodiscard]] Backend default_backend();

}  // namespace tern::vm

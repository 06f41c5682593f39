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
#include <vector>

#include "core/error.hpp"
#include "stream/domctx/state_image.hpp"
#include "vm/cpu_policy.hpp"
#include "vm/dirty_bitmap.hpp"
#include "vm/host_ram.hpp"
#include "vm/memory_map.hpp"

namespace tern::vm {

enum class Backend { kvm, sim };
[[nodiscard]] std::string_view backend_name(Backend b);

struct DomainConfig {
  std::uint64_t memory_bytes = 256ULL << 20;  // populated RAM from guest-physical 0
  // Size of the guest-physical address space; 0 = memory_bytes. Frames above
  // memory_bytes start absent (balloon areas, restore targets of sparse
  // guests); a sparse multi-TiB space costs address space, not memory.
  std::uint64_t address_space_bytes = 0;
  std::uint32_t vcpus = 1;
  std::string kernel;   // Multiboot ELF; empty = the built-in guest
  std::string cmdline;  // Multiboot command line (guest options, guest/README.md)
  std::string console;  // COM1 output file; empty = stdout; "-" = discard
  // false for a restore target: memory is created empty (nothing populated,
  // nothing loaded) and vCPUs wait for load_state() + resume().
  bool boot = true;
  // RAM made (and perhaps faulted in) before the domain, by a migration
  // destination that knows the guest's size ahead (tern receive --memory).
  // The KVM backend takes it when its size is exactly the guest's RAM
  // (prepared_ram->base() is then null), else maps its own; others ignore it.
  std::shared_ptr<HostRam> prepared_ram;
};

// How a guest ended. The built-in guest writes its verdict to the exit port
// (guest/abi.h): 0 clean, 1..63 mismatches, 0x40.. its own failures.
struct GuestExit {
  std::uint32_t value = 0;
  [[nodiscard]] bool clean() const { return value == 0; }
};

enum class RunState { created, running, paused, exited, failed };

// Frames [first, end): see Domain::next_data_run.
struct FrameRun {
  std::uint64_t first = 0;
  std::uint64_t end = 0;
};
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
  // The CPU the guest sees (CPUID leaves), fixed for the domain's lifetime
  // and readable while it runs: a migration sends it as X86_CPUID_POLICY
  // before any memory, so a destination refuses early. Defaults to the
  // host's feature leaves (both backends run guest code on the host CPU).
  [[nodiscard]] virtual std::vector<CpuidEntry> cpu_policy() const { return host_cpu_policy(); }

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
  // Says the VMM wrote these frames through page(): a backend cannot see
  // writes through the raw pointer (KVM's dirty log records only the
  // guest's own writes), so whoever writes through page() while dirty
  // logging may be on calls this, and collect_dirty() reports the frames.
  virtual void mark_dirty(std::uint64_t first_pfn, std::uint64_t count) = 0;

  // Restore side, lazily: backs the populated frames [first_pfn,
  // first_pfn+count) by `count` pages of file `fd` from byte `offset` (a
  // multiple of 4 KiB), copy-on-write. The guest and page() then see the
  // file's bytes, read when first touched; writes (the guest's or the VMM's)
  // go to private copies and never reach the file. The file must not change
  // while the domain lives (tern save never rewrites an image in place: it
  // renames a new file over it). Frames later depopulated lose the backing.
  // Errc::unsupported when the backend cannot do it: the caller then copies
  // the bytes through page().
  virtual Expected<void> map_file(std::uint64_t first_pfn, std::uint64_t count, int fd,
                                  std::uint64_t offset);
  // Save side: the first run [first, end) of frames at or after `pfn` that
  // may hold data. Frames in [pfn, first) read as zero and were never
  // written, and a sender should not read them: reading an untouched frame
  // can allocate memory for it. Frames in the run must
  // be read to know. The default knows nothing: {pfn, kMaxPfn + 1}.
  [[nodiscard]] virtual FrameRun next_data_run(std::uint64_t pfn) const {
    return {pfn, kMaxPfn + 1};
  }

  // ---- dirty tracking -------------------------------------------------------
  // After start_dirty_log(), collect_dirty() returns every frame written
  // since the previous call (or since start): by the guest, and by the VMM
  // itself (device emulation, and writes through page() made known with
  // mark_dirty()). Frames that left the map are reported too, so the sender
  // can notice them.
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
  // Runs the vCPU threads as host background work (SCHED_IDLE) or normally
  // again (vm/thread_priority.hpp): a migration's round 0 on a host with no
  // spare core. A no-op while no vCPU thread exists.
  virtual Expected<void> set_vcpus_background(bool background) = 0;
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

// One past the highest guest frame a domain of `config` can hold on backend
// `b`: the sim backend's guest-physical space is flat (max of memory and
// address space); the KVM backend's RAM skips the 3-4 GiB MMIO hole, so
// above 3 GiB its frames reach 1 GiB higher than its size.
[[nodiscard]] std::uint64_t frame_limit(Backend b, const DomainConfig& config);

// Creates a Domain on the chosen backend.
Expected<std::unique_ptr<Domain>> create_domain(Backend backend, const DomainConfig& config);
// kvm when /dev/kvm can be opened, else sim.
[[nodiscard]] Backend default_backend();

}  // namespace tern::vm

// A Domain on /dev/kvm: in-kernel irqchip and PIT, memfd-backed RAM, one
// thread per vCPU, COM1, the exit port and the balloon (src/vm/kvm/*.hpp
// each do one of these; this class wires them together).
#pragma once

#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/unique_fd.hpp"
#include "vm/domain.hpp"
#include "vm/kvm/balloon.hpp"
#include "vm/kvm/console.hpp"
#include "vm/kvm/dirty_log.hpp"
#include "vm/kvm/guest_memory.hpp"
#include "vm/kvm/kvm_system.hpp"
#include "vm/kvm/port_bus.hpp"
#include "vm/kvm/runner.hpp"
#include "vm/kvm/uart.hpp"
#include "vm/kvm/vcpu.hpp"
#include "vm/kvm/vcpu_state.hpp"

namespace tern::vm::kvm {

class KvmDomain final : public Domain {
 public:
  static Expected<std::unique_ptr<KvmDomain>> create(const DomainConfig& config);
  ~KvmDomain() override;

  [[nodiscard]] Backend backend() const override { return Backend::kvm; }
  [[nodiscard]] std::uint32_t vcpu_count() const override { return config_.vcpus; }
  [[nodiscard]] RunState state() const override;

  [[nodiscard]] MemoryMap memory_map() const override { return memory_->map(); }
  [[nodiscard]] std::uint64_t map_generation() const override { return memory_->generation(); }
  [[nodiscard]] std::byte* page(std::uint64_t pfn) override { return memory_->page(pfn); }
  Expected<void> populate(std::uint64_t first_pfn, std::uint64_t count) override;
  Expected<void> depopulate(std::uint64_t first_pfn, std::uint64_t count) override;
  void mark_dirty(std::uint64_t first_pfn, std::uint64_t count) override;
  Expected<void> map_file(std::uint64_t first_pfn, std::uint64_t count, int fd,
                          std::uint64_t offset) override {
    return memory_->map_file(first_pfn, count, fd, offset);
  }
  [[nodiscard]] FrameRun next_data_run(std::uint64_t pfn) const override {
    return memory_->next_data_run(pfn);
  }
  // Frames currently backed by a file mapping (lazy restore).
  [[nodiscard]] std::uint64_t file_backed_pages() const { return memory_->file_backed_pages(); }

  Expected<void> start_dirty_log() override;
  Expected<DirtyBitmap> collect_dirty() override;
  Expected<void> stop_dirty_log() override;

  Expected<void> start() override;
  Expected<void> pause() override;
  Expected<void> resume() override;
  void set_throttle(double fraction) override;
  Expected<void> set_vcpus_background(bool background) override;
  Expected<std::optional<GuestExit>> wait_exit(
      std::optional<std::chrono::milliseconds> timeout) override;
  void shutdown() override;

  Expected<stream::domctx::StateImage> save_state() override;
  Expected<void> check_state(const stream::domctx::StateImage& img) const override;
  Expected<void> load_state(const stream::domctx::StateImage& img) override;

  // Backend-specific figures (tests, benchmarks, `tern run` status).
  [[nodiscard]] const BalloonDevice& balloon() const { return *balloon_; }
  [[nodiscard]] const StateCaps& state_caps() const { return caps_; }
  // MSRs the last load_state() could not set (KVM refused them).
  [[nodiscard]] const std::vector<std::uint32_t>& skipped_msrs() const { return skipped_msrs_; }

 private:
  explicit KvmDomain(const DomainConfig& config) : config_(config) {}
  Expected<void> init();
  // The in-kernel irqchip and PIT, the vCPUs and their runner.
  Expected<void> create_devices();
  Expected<void> boot();
  ExitOutcome on_exit(Vcpu& v);
  // Waits for the memory slots registered in the background by init().
  Expected<void> slots_ready();
  // Waits for create_devices() when init() left it running (a restore
  // target); everything that touches the irqchip, the PIT, a vCPU or the
  // runner calls this first.
  Expected<void> devices_ready() const;
  [[nodiscard]] bool state_readable() const;

  DomainConfig config_;
  std::optional<KvmSystem> sys_;
  std::uint32_t tsc_khz_ = 0;  // this host's guest TSC rate
  UniqueFd vm_;
  StateCaps caps_;
  std::unique_ptr<GuestMemory> memory_;
  std::unique_ptr<DirtyLog> dirty_;
  std::unique_ptr<Console> console_;
  std::unique_ptr<Uart16550> uart_;
  std::unique_ptr<BalloonDevice> balloon_;
  std::unique_ptr<PortBus> ports_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::vector<std::vector<kvm_cpuid_entry2>> cpuid_;  // what each vCPU was given
  std::unique_ptr<Runner> runner_;
  // Registering a memory slot waits for an SRCU grace period in the kernel
  // (microseconds on an idle host, a scheduler tick on a busy one), so a
  // booting domain's init() does it on a thread of its own while it creates
  // the rest (a restore target's devices thread does it, below); whatever
  // needs the slots (running vCPUs, state, dirty logs) waits in
  // slots_ready(). Declared after the members the thread uses, so it is
  // joined before they go.
  std::future<Expected<void>> slots_pending_;
  Expected<void> slots_result_;
  // A restore target registers its slots and creates its devices and vCPUs
  // on one thread: the kernel waits for an SRCU grace period several times
  // in there (each in-kernel device joins an I/O bus), a few microseconds
  // on an idle host but a scheduler tick each (4 ms) on a busy one, and a
  // restore maps the image's pages meanwhile. Declared after the members
  // create_devices() fills in.
  mutable std::mutex devices_mu_;
  mutable std::future<Expected<void>> devices_pending_;
  mutable Expected<void> devices_result_;

  std::mutex
      control_mu_;  // one controlling call at a time (Domain's contract), and the fields below
  bool state_loaded_ = false;
  std::optional<kvm_clock_data> clock_;  // read at pause, written back at resume
  std::vector<std::uint32_t> skipped_msrs_;
};

}  // namespace tern::vm::kvm

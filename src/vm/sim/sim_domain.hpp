// The sim backend: a Domain whose "vCPUs" are host threads running the
// built-in guest's workload (guest/README.md) directly on guest memory:
// the same pattern, options, console lines and exit values, with the
// workload's progress in the vCPU registers (work_state.hpp) and its tables
// in guest memory (guest_layout.hpp). Deterministic in what it writes, so
// save/restore/migration engines are tested on any machine, and with hooks
// to make operations fail on purpose.
//
// Pause points: a vCPU finishes the unit it is in (one 4 KiB page verified
// or written, one balloon step, or at most 1 ms of the pause between
// passes) and parks; pause() returns when every vCPU is parked.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vm/domain.hpp"
#include "vm/sim/console.hpp"
#include "vm/sim/guest_layout.hpp"
#include "vm/sim/sim_memory.hpp"
#include "vm/sim/work_state.hpp"

namespace tern::vm::sim {

// Fault injection for tests. Counters are 1-based call numbers (0 = never).
struct SimFaults {
  std::atomic<std::uint64_t> fail_collect_dirty_at{0};
  std::atomic<std::uint64_t> fail_populate_at{0};
  std::atomic<bool> fail_save_state{false};
  std::atomic<bool> fail_load_state{false};
};

class SimDomain final : public Domain {
 public:
  static Expected<std::unique_ptr<SimDomain>> create(const DomainConfig& config);
  ~SimDomain() override;

  [[nodiscard]] Backend backend() const override { return Backend::sim; }
  [[nodiscard]] std::uint32_t vcpu_count() const override { return config_.vcpus; }
  [[nodiscard]] RunState state() const override;
  // The host's feature leaves, read once at creation (so the policy does
  // not change with the host CPU a thread happens to run on).
  [[nodiscard]] std::vector<CpuidEntry> cpu_policy() const override { return cpu_policy_; }

  [[nodiscard]] MemoryMap memory_map() const override { return mem_->map(); }
  [[nodiscard]] std::uint64_t map_generation() const override { return mem_->generation(); }
  [[nodiscard]] std::byte* page(std::uint64_t pfn) override { return mem_->page(pfn); }
  Expected<void> populate(std::uint64_t first_pfn, std::uint64_t count) override;
  Expected<void> depopulate(std::uint64_t first_pfn, std::uint64_t count) override;
  void mark_dirty(std::uint64_t first_pfn, std::uint64_t count) override {
    for (std::uint64_t p = first_pfn; p < first_pfn + count; ++p) mark_dirty(p);
  }
  Expected<void> map_file(std::uint64_t first_pfn, std::uint64_t count, int fd,
                          std::uint64_t offset) override {
    return mem_->map_file(first_pfn, count, fd, offset, mem_->vmm_shard());
  }
  [[nodiscard]] std::uint64_t file_backed_pages() const { return mem_->file_backed_pages(); }

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

  // ---- sim only ----
  [[nodiscard]] SimFaults& faults() { return faults_; }
  [[nodiscard]] std::string console_text() const { return console_->text(); }
  [[nodiscard]] const DomainConfig& config() const { return config_; }
  // Marks a frame the VMM wrote through page() on the guest's behalf.
  void mark_dirty(std::uint64_t pfn) { mem_->mark(mem_->vmm_shard(), pfn); }

 private:
  // The workload's parameters, from the header in guest memory.
  struct Layout {
    WorkloadOptions opt;
    FaultKind fault = FaultKind::none;
    std::uint64_t region_pages = 0;
    std::uint64_t window_pages = 0;
  };

  SimDomain(const DomainConfig& config, std::unique_ptr<SimMemory> mem,
            std::unique_ptr<Console> console);

  // Boot (sim_boot.cpp): what the built-in guest's ring 0 does before the
  // workload starts; a bad command line or layout ends the guest like the
  // real one (console line, exit value 0x40).
  Expected<void> boot();
  std::optional<std::string> check_layout(const WorkloadOptions& o) const;
  void write_header(const WorkloadOptions& o, FaultKind fault);
  Expected<Layout> read_header() const;
  void guest_exit_now(std::uint32_t value);  // before any vCPU thread runs

  // vCPU threads (sim_domain.cpp).
  void spawn_vcpus();
  void vcpu_main(unsigned id);
  void park();
  bool barrier_passed(unsigned id) const;
  void wait_at_barrier(unsigned id);
  void notify_progress();
  void fail(const Error& e);
  void throttle_point(std::chrono::steady_clock::time_point& since, unsigned& units);

  // The workload (sim_workload.cpp): one unit of work per call.
  Expected<void> step(unsigned id);
  Expected<void> step_verify(unsigned id, bool final);
  Expected<void> step_write(unsigned id);
  void step_report(unsigned id);
  void step_pause(unsigned id);
  void step_final_report(unsigned id);
  void step_fault(unsigned id);
  void after_barrier(unsigned id);
  void verify_page(unsigned id, std::uint64_t addr, std::uint64_t pass);
  void write_page(unsigned shard, std::uint64_t addr, std::uint64_t pass);
  Expected<void> balloon_step(unsigned id);
  void print(std::string_view line) { console_->write(line); }
  [[nodiscard]] std::uint64_t load_word(std::uint64_t addr) const;
  void store_word(unsigned shard, std::uint64_t addr, std::uint64_t v);
  [[nodiscard]] std::uint64_t window_first(std::uint64_t pass) const;

  DomainConfig config_;
  std::vector<CpuidEntry> cpu_policy_;
  std::unique_ptr<SimMemory> mem_;
  std::unique_ptr<Console> console_;
  std::vector<std::unique_ptr<WorkState>> states_;
  Layout layout_;
  SimFaults faults_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  RunState state_ = RunState::created;
  bool state_loaded_ = false;
  std::optional<Error> failure_;
  std::uint32_t exit_value_ = 0;
  std::vector<std::thread> threads_;
  unsigned live_ = 0;    // vCPU threads still in their loop
  unsigned parked_ = 0;  // of those, parked
  std::atomic<bool> pause_req_{false};
  std::atomic<bool> stop_{false};
  std::atomic<double> throttle_{0.0};
  std::uint64_t collect_calls_ = 0;
  std::uint64_t populate_calls_ = 0;
};

}  // namespace tern::vm::sim

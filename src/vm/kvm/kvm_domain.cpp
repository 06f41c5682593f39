#include "vm/kvm/kvm_domain.hpp"

#include <sys/ioctl.h>

#include <algorithm>
#include <cmath>

#include "core/log.hpp"
#include "core/trace.hpp"
#include "vm/backends.hpp"
#include "vm/kvm/boot_state.hpp"
#include "vm/kvm/builtin_guest.hpp"
#include "vm/kvm/cpuid.hpp"
#include "vm/kvm/multiboot.hpp"
#include "vm/kvm/vm_state.hpp"

namespace tern::vm {

Expected<std::unique_ptr<Domain>> create_kvm_domain(const DomainConfig& config) {
  TERN_TRY_ASSIGN(auto d, kvm::KvmDomain::create(config));
  return std::unique_ptr<Domain>(std::move(d));
}

}  // namespace tern::vm

namespace tern::vm::kvm {

using stream::domctx::StateImage;
using stream::domctx::VcpuState;

namespace {

// Legacy addresses VMX needs for real-mode emulation (harmless elsewhere):
// three pages for the TSS and one for the identity page table, just below
// the BIOS area at the top of the 4 GiB space, inside the MMIO hole.
constexpr unsigned long kTssAddr = 0xfffbd000;
constexpr std::uint64_t kIdentityMapAddr = 0xfffbc000;
// kvm.tsc_tolerance_ppm's default: a rate this close needs no TSC scaling.
constexpr double kTscTolerancePpm = 250;

std::string_view exit_reason_name(std::uint32_t r) {
  switch (r) {
    case KVM_EXIT_SHUTDOWN:
      return "KVM_EXIT_SHUTDOWN (triple fault)";
    case KVM_EXIT_FAIL_ENTRY:
      return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTERNAL_ERROR:
      return "KVM_EXIT_INTERNAL_ERROR";
    case KVM_EXIT_HLT:
      return "KVM_EXIT_HLT";
    case KVM_EXIT_SYSTEM_EVENT:
      return "KVM_EXIT_SYSTEM_EVENT";
    case KVM_EXIT_EXCEPTION:
      return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_DEBUG:
      return "KVM_EXIT_DEBUG";
    default:
      return "unexpected exit";
  }
}

}  // namespace

Expected<std::unique_ptr<KvmDomain>> KvmDomain::create(const DomainConfig& config) {
  std::unique_ptr<KvmDomain> d(new KvmDomain(config));
  TERN_TRY(d->init());
  return d;
}

KvmDomain::~KvmDomain() {
  shutdown();
  (void)slots_ready();
}

Expected<void> KvmDomain::devices_ready() const {
  std::lock_guard lk(devices_mu_);
  if (devices_pending_.valid()) {
    trace::Scope span("kvm.wait_devices");
    devices_result_ = devices_pending_.get();
  }
  return devices_result_;
}

RunState KvmDomain::state() const {
  if (!devices_ready()) return RunState::failed;
  return runner_->state();
}

void KvmDomain::set_throttle(double fraction) {
  if (devices_ready()) runner_->set_throttle(fraction);
}

Expected<void> KvmDomain::set_vcpus_background(bool background) {
  if (!devices_ready()) return {};
  return runner_->set_background(background);
}

Expected<void> KvmDomain::slots_ready() {
  if (!config_.boot) return devices_ready();  // registered by the devices thread
  if (slots_pending_.valid()) {
    trace::Scope span("kvm.wait_slots");
    slots_result_ = slots_pending_.get();
  }
  return slots_result_;
}

Expected<void> KvmDomain::init() {
  trace::Scope sys_span("kvm.open_system");
  TERN_TRY_ASSIGN(KvmSystem sys, KvmSystem::open(/*tables=*/false));  // create_devices() reads them
  sys_.emplace(std::move(sys));
  sys_span.done();
  const KvmSystem& k = *sys_;
  if (const int max = k.extension(KVM_CAP_MAX_VCPUS);
      max > 0 && config_.vcpus > static_cast<std::uint32_t>(max))
    return make_error(Errc::unsupported, "{} vCPUs asked, this host's KVM allows {}", config_.vcpus,
                      max);

  trace::Scope vm_span("kvm.create_vm");
  TERN_TRY_ASSIGN(const int vm, kvm_ioctl(k.fd(), KVM_CREATE_VM, 0UL, "KVM_CREATE_VM"));
  vm_.reset(vm);
  vm_span.done();
  if (k.extension(KVM_CAP_SET_TSS_ADDR) > 0)
    TERN_TRY(kvm_ioctl(vm, KVM_SET_TSS_ADDR, kTssAddr, "KVM_SET_TSS_ADDR"));
  if (k.extension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
    std::uint64_t addr = kIdentityMapAddr;
    TERN_TRY(kvm_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &addr, "KVM_SET_IDENTITY_MAP_ADDR"));
  }
  bool manual_protect = false;
  if ((k.extension(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) != 0) {
    kvm_enable_cap cap{};
    cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
    cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;  // not INITIALLY_SET: logs start empty
    TERN_TRY(kvm_ioctl(vm, KVM_ENABLE_CAP, &cap, "KVM_ENABLE_CAP (MANUAL_DIRTY_LOG_PROTECT2)"));
    manual_protect = true;
  }

  caps_.sregs2 = k.extension(KVM_CAP_SREGS2) > 0;
  caps_.tsc_scaling = k.extension(KVM_CAP_TSC_CONTROL) > 0;
  if (const int xs = ::ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2); xs > 0) {
    caps_.xsave2 = true;
    caps_.xsave_size = std::max<std::size_t>(static_cast<std::size_t>(xs), kXsaveLegacy);
  }

  // The guest-physical space: RAM plus any sparse room above it (frames there
  // start absent; a restore target of a sparse guest populates them).
  trace::Scope mem_span("kvm.guest_memory");
  TERN_TRY_ASSIGN(memory_,
                  GuestMemory::create(std::max(config_.memory_bytes, config_.address_space_bytes),
                                      config_.prepared_ram.get()));
  dirty_ = std::make_unique<DirtyLog>(vm, *memory_, manual_protect);
  mem_span.done();

  TERN_TRY_ASSIGN(Console console, Console::open(config_.console));
  console_ = std::make_unique<Console>(std::move(console));
  uart_ = std::make_unique<Uart16550>(*console_);
  balloon_ = std::make_unique<BalloonDevice>(*memory_);
  ports_ = std::make_unique<PortBus>(*uart_, *balloon_);

  auto register_slots = [this]() -> Expected<void> {
    trace::Scope span("kvm.register_slots");
    return dirty_->register_slots();
  };
  if (config_.boot) {
    slots_pending_ = std::async(std::launch::async, register_slots);
    TERN_TRY(create_devices());
    return boot();
  }
  // One thread for the slots and the devices: both take the same kernel
  // lock (kvm->slots_lock) around their grace periods anyway, and on a busy
  // host a second new thread can wait a scheduler tick before it starts.
  devices_pending_ = std::async(std::launch::async, [this, register_slots]() -> Expected<void> {
    TERN_TRY(register_slots());
    return create_devices();
  });
  return {};
}

Expected<void> KvmDomain::create_devices() {
  const KvmSystem& k = *sys_;
  const int vm = vm_.get();
  trace::Scope chip_span("kvm.create_irqchip_pit");
  TERN_TRY(kvm_ioctl(vm, KVM_CREATE_IRQCHIP, 0UL, "KVM_CREATE_IRQCHIP"));
  kvm_pit_config pit{};  // flags 0: the PIT also drives the port 0x61 speaker gate (channel 2)
  TERN_TRY(kvm_ioctl(vm, KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2"));
  chip_span.done();
  {
    trace::Scope span("kvm.read_tables");
    TERN_TRY(sys_->read_tables());
  }

  trace::Scope vcpu_span("kvm.create_vcpus");
  for (std::uint32_t i = 0; i < config_.vcpus; ++i) {
    TERN_TRY_ASSIGN(auto v, Vcpu::create(vm, i, k.vcpu_mmap_size()));
    if (i == 0) {
      TERN_TRY_ASSIGN(const int khz,
                      v->io(KVM_GET_TSC_KHZ, static_cast<void*>(nullptr), "KVM_GET_TSC_KHZ"));
      tsc_khz_ = static_cast<std::uint32_t>(khz);
    }
    cpuid_.push_back(guest_cpuid(k.supported_cpuid(), i, tsc_khz_));
    TERN_TRY(set_cpuid(*v, cpuid_.back()));
    vcpus_.push_back(std::move(v));
  }
  std::vector<Vcpu*> ptrs;
  for (auto& v : vcpus_) ptrs.push_back(v.get());
  runner_ = std::make_unique<Runner>(std::move(ptrs), [this](Vcpu& v) { return on_exit(v); });
  return {};
}

Expected<void> KvmDomain::boot() {
  // memory_bytes of RAM from guest-physical 0 (continuing at 4 GiB past
  // the hole); any address space beyond it starts absent.
  std::uint64_t left = config_.memory_bytes >> kPageShift;
  for (const RamSlot& s : memory_->slots()) {
    const std::uint64_t n = std::min(left, s.pages());
    TERN_TRY(memory_->populate(s.first_pfn(), n));
    left -= n;
  }
  std::vector<std::byte> file;
  std::string path;
  if (config_.kernel.empty()) {
    TERN_TRY_ASSIGN(BuiltinGuest guest, builtin_guest());
    file = std::move(guest.elf);
    path = std::move(guest.origin);
  } else {
    TERN_TRY_ASSIGN(file, read_kernel_file(config_.kernel));
    path = config_.kernel;
  }
  auto image = parse_multiboot(file, MultibootFormat::automatic);
  if (!image) return std::unexpected(image.error().context(path));
  auto entry = load_multiboot(*image, *memory_, config_.cmdline);
  if (!entry) return std::unexpected(entry.error().context(fmt::format("loading {}", path)));
  // vCPU 0 is the bootstrap processor; the others wait for INIT/SIPI in
  // the in-kernel local APIC, as on a PC.
  return set_multiboot_entry_state(*vcpus_[0], *entry);
}

ExitOutcome KvmDomain::on_exit(Vcpu& v) {
  kvm_run& run = *v.run();
  switch (run.exit_reason) {
    case KVM_EXIT_IO:
      if (auto value = ports_->handle(run)) {
        console_->flush();
        return {ExitOutcome::Kind::guest_exit, *value, std::nullopt};
      }
      return {};
    case KVM_EXIT_MMIO:
      // Nothing is mapped in the MMIO hole but KVM's own devices: reads see
      // all ones, writes vanish.
      if (!run.mmio.is_write) std::fill(std::begin(run.mmio.data), std::end(run.mmio.data), 0xff);
      log::debug("vCPU {}: {}-byte MMIO {} at {:#x} ignored", v.index(), run.mmio.len,
                 run.mmio.is_write ? "write" : "read", run.mmio.phys_addr);
      return {};
    case KVM_EXIT_INTR:
      return {};
    default:
      break;
  }
  kvm_regs regs{};
  (void)v.io(KVM_GET_REGS, &regs, "KVM_GET_REGS");
  std::string detail;
  if (run.exit_reason == KVM_EXIT_FAIL_ENTRY)
    detail = fmt::format(", hardware reason {:#x}", run.fail_entry.hardware_entry_failure_reason);
  else if (run.exit_reason == KVM_EXIT_INTERNAL_ERROR)
    detail = fmt::format(", suberror {}", run.internal.suberror);
  else if (run.exit_reason == KVM_EXIT_SYSTEM_EVENT)
    detail = fmt::format(", event type {}", run.system_event.type);
  console_->flush();
  return {ExitOutcome::Kind::failure, 0,
          Error(Errc::io,
                fmt::format("vCPU {} stopped: {} (exit reason {}){} at rip {:#x}", v.index(),
                            exit_reason_name(run.exit_reason), run.exit_reason, detail, regs.rip))};
}

// ---- memory ---------------------------------------------------------------------

Expected<void> KvmDomain::populate(std::uint64_t first, std::uint64_t count) {
  return memory_->populate(first, count);
}
Expected<void> KvmDomain::depopulate(std::uint64_t first, std::uint64_t count) {
  return memory_->depopulate(first, count);
}
void KvmDomain::mark_dirty(std::uint64_t first, std::uint64_t count) {
  memory_->mark_written(first, count);
}

Expected<void> KvmDomain::start_dirty_log() {
  TERN_TRY(slots_ready());
  return dirty_->start();
}
Expected<DirtyBitmap> KvmDomain::collect_dirty() {
  TERN_TRY(slots_ready());
  return dirty_->collect();
}
Expected<void> KvmDomain::stop_dirty_log() {
  TERN_TRY(slots_ready());
  return dirty_->stop();
}

// ---- execution --------------------------------------------------------------------

Expected<void> KvmDomain::start() {
  std::lock_guard lk(control_mu_);
  TERN_TRY(devices_ready());
  if (runner_->started() || runner_->state() != RunState::created)
    return make_error(Errc::usage, "start() on a domain that is already {}",
                      run_state_name(runner_->state()));
  if (!config_.boot) return {};  // a restore target waits for load_state() + resume()
  TERN_TRY(slots_ready());
  runner_->start();
  return {};
}

Expected<void> KvmDomain::pause() {
  std::lock_guard lk(control_mu_);
  TERN_TRY(devices_ready());
  if (runner_->state() == RunState::paused) return {};
  TERN_TRY(runner_->pause());
  console_->flush();
  // Guest time stops here (read after every vCPU stopped), and continues
  // from this value when resumed.
  TERN_TRY_ASSIGN(clock_, get_clock(vm_.get()));
  return {};
}

Expected<void> KvmDomain::resume() {
  std::lock_guard lk(control_mu_);
  TERN_TRY(devices_ready());
  const RunState s = runner_->state();
  if (s == RunState::running) return {};
  if (s == RunState::created) {
    if (config_.boot || !state_loaded_)
      return make_error(Errc::usage, "resume() of a restore target before load_state()");
  } else if (s != RunState::paused) {
    return make_error(Errc::usage, "cannot resume a domain that is {}", run_state_name(s));
  }
  TERN_TRY(slots_ready());
  if (clock_) TERN_TRY(set_clock(vm_.get(), *clock_));
  clock_.reset();
  if (s == RunState::created) {
    runner_->start();
    return {};
  }
  return runner_->resume();
}

Expected<std::optional<GuestExit>> KvmDomain::wait_exit(
    std::optional<std::chrono::milliseconds> timeout) {
  TERN_TRY(devices_ready());
  if (!runner_->started() && runner_->state() == RunState::created)
    return make_error(Errc::usage, "wait_exit() on a domain that was never started");
  auto r = runner_->wait_exit(timeout);
  console_->flush();
  return r;
}

void KvmDomain::shutdown() {
  (void)devices_ready();
  if (runner_) runner_->stop();
  if (console_) console_->flush();
}

// ---- state ----------------------------------------------------------------------------

bool KvmDomain::state_readable() const {
  const RunState s = runner_->state();
  return s == RunState::paused || (s == RunState::created && (state_loaded_ || !config_.boot));
}

Expected<StateImage> KvmDomain::save_state() {
  std::lock_guard lk(control_mu_);
  TERN_TRY(devices_ready());
  if (!state_readable())
    return make_error(Errc::usage, "save_state() needs a paused domain (it is {})",
                      run_state_name(runner_->state()));
  StateImage img;
  for (std::size_t i = 0; i < vcpus_.size(); ++i) {
    TERN_TRY_ASSIGN(VcpuState v,
                    save_vcpu_state(*vcpus_[i], caps_, sys_->msr_indices(), cpuid_[i]));
    img.vcpus.push_back(std::move(v));
  }
  TERN_TRY(save_vm_devices(vm_.get(), img.vm));
  if (clock_) {
    img.vm.clock = *clock_;
  } else {
    TERN_TRY_ASSIGN(img.vm.clock, get_clock(vm_.get()));
  }
  return img;
}

Expected<void> KvmDomain::check_state(const StateImage& img) const {
  TERN_TRY(devices_ready());
  if (img.vcpus.size() != vcpus_.size())
    return make_error(Errc::unsupported, "the saved state has {} vCPUs, this domain has {}",
                      img.vcpus.size(), vcpus_.size());
  const std::size_t xsave_max = caps_.xsave2 ? caps_.xsave_size : kXsaveLegacy;
  for (std::size_t i = 0; i < img.vcpus.size(); ++i) {
    const VcpuState& v = img.vcpus[i];
    auto refuse = [i](std::string what) {
      return make_error(Errc::unsupported, "vCPU {}: {}", i, what);
    };
    if (!v.regs) return refuse("the saved state has no VCPU_REGS record");
    if (!v.sregs && !v.sregs2)
      return refuse("the saved state has neither a VCPU_SREGS nor a VCPU_SREGS2 record");
    if (v.cpuid) {
      if (auto r = check_cpuid_features(from_record(*v.cpuid), sys_->supported_cpuid()); !r)
        return refuse(r.error().message());
      if (runner_->started() && *v.cpuid != to_record(cpuid_[i]))
        return refuse(
            "the saved CPUID differs from the one this vCPU ran with, and KVM cannot change it "
            "after the first "
            "KVM_RUN (restore into a fresh domain instead)");
    }
    if (v.xsave && v.xsave->bytes.size() > xsave_max)
      return refuse(fmt::format("the saved XSAVE area is {} bytes, this host's KVM supports {}",
                                v.xsave->bytes.size(), xsave_max));
    if (v.tsc_khz && v.tsc_khz->khz != 0 && !caps_.tsc_scaling) {
      const double ppm =
          std::abs(double(v.tsc_khz->khz) - double(tsc_khz_)) * 1e6 / double(tsc_khz_);
      if (ppm > kTscTolerancePpm)
        return refuse(fmt::format(
            "the saved TSC runs at {} kHz, this host's at {} kHz, and its KVM cannot scale "
            "the guest TSC (no KVM_CAP_TSC_CONTROL)",
            v.tsc_khz->khz, tsc_khz_));
    }
  }
  return {};
}

Expected<void> KvmDomain::load_state(const StateImage& img) {
  std::lock_guard lk(control_mu_);
  TERN_TRY(devices_ready());
  const RunState s = runner_->state();
  const bool fresh_target = s == RunState::created && !config_.boot;
  if (!fresh_target && s != RunState::paused)
    return make_error(Errc::usage,
                      "load_state() needs a paused domain or a restore target (it is {})",
                      run_state_name(s));
  TERN_TRY(check_state(img));
  TERN_TRY(slots_ready());  // MSRs may name guest memory (kvmclock pages)
  trace::Scope load_span("kvm.load_state");
  skipped_msrs_.clear();
  for (std::size_t i = 0; i < vcpus_.size(); ++i) {
    auto skipped = load_vcpu_state(*vcpus_[i], caps_, img.vcpus[i], cpuid_[i], runner_->started());
    if (!skipped)
      return std::unexpected(skipped.error().context(fmt::format("loading vCPU {}", i)));
    for (std::uint32_t m : *skipped) {
      log::warn("vCPU {}: KVM refused MSR {:#x}; continuing without it", i, m);
      skipped_msrs_.push_back(m);
    }
    if (img.vcpus[i].cpuid) cpuid_[i] = from_record(*img.vcpus[i].cpuid);
  }
  TERN_TRY(load_vm_devices(vm_.get(), img.vm));
  if (img.vm.clock) clock_ = *img.vm.clock;  // written just before the vCPUs run again
  state_loaded_ = true;
  return {};
}

}  // namespace tern::vm::kvm

#include "vm/kvm/kvm_system.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdlib>

namespace tern::vm::kvm {

Expected<int> kvm_ioctl(int fd, unsigned long request, void* arg, std::string_view what) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return errno_error(what, errno);
  return r;
}

namespace {

// Both list ioctls answer E2BIG with the needed count when the buffer is too
// small; start with room for the usual sizes and grow once if asked.
Expected<std::vector<kvm_cpuid_entry2>> read_supported_cpuid(int fd) {
  for (std::size_t cap = 128; cap <= 4096; cap *= 4) {
    CpuidBuffer buf(kCpuid2Header, cap);
    buf.set_count(static_cast<std::uint32_t>(cap));
    if (::ioctl(fd, kIocGetSupportedCpuid, buf.data()) == 0)
      return std::vector<kvm_cpuid_entry2>(buf.entries(), buf.entries() + buf.count());
    if (errno != E2BIG) return errno_error("KVM_GET_SUPPORTED_CPUID", errno);
  }
  return make_error(Errc::unsupported, "KVM_GET_SUPPORTED_CPUID: more than 4096 leaves");
}

Expected<std::vector<std::uint32_t>> read_msr_indices(int fd) {
  MsrIndexBuffer probe(kMsrListHeader, 0);
  probe.set_count(0);
  std::uint32_t n = 0;
  if (::ioctl(fd, kIocGetMsrIndexList, probe.data()) == 0) return std::vector<std::uint32_t>{};
  if (errno != E2BIG) return errno_error("KVM_GET_MSR_INDEX_LIST", errno);
  n = probe.count();
  MsrIndexBuffer buf(kMsrListHeader, n);
  buf.set_count(n);
  if (::ioctl(fd, kIocGetMsrIndexList, buf.data()) != 0)
    return errno_error("KVM_GET_MSR_INDEX_LIST", errno);
  return std::vector<std::uint32_t>(buf.entries(), buf.entries() + buf.count());
}

}  // namespace

Expected<KvmSystem> KvmSystem::open(bool tables) {
  const char* path = std::getenv("TERN_KVM_DEVICE");
  if (path == nullptr || *path == '\0') path = "/dev/kvm";
  KvmSystem s;
  s.fd_.reset(::open(path, O_RDWR | O_CLOEXEC));
  if (!s.fd_) return errno_error(fmt::format("open {}", path), errno);
  TERN_TRY_ASSIGN(const int api,
                  kvm_ioctl(s.fd(), KVM_GET_API_VERSION, 0UL, "KVM_GET_API_VERSION"));
  if (api != KVM_API_VERSION)
    return make_error(Errc::unsupported, "{}: KVM API version {}, tern needs {}", path, api,
                      KVM_API_VERSION);
  struct Needed {
    int cap;
    std::string_view name;
  };
  static constexpr Needed kNeeded[] = {
      {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
      {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
      {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
      {KVM_CAP_PIT_STATE2, "KVM_CAP_PIT_STATE2"},
      {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
      {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
      {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
      {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
      {KVM_CAP_XSAVE, "KVM_CAP_XSAVE"},
      {KVM_CAP_XCRS, "KVM_CAP_XCRS"},
      {KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS"},
      {KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK"},
      {KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ"},
  };
  for (const Needed& n : kNeeded)
    if (s.extension(n.cap) <= 0)
      return make_error(Errc::unsupported, "{}: this KVM lacks {}, which tern needs", path, n.name);
  TERN_TRY_ASSIGN(const int mmap_size,
                  kvm_ioctl(s.fd(), KVM_GET_VCPU_MMAP_SIZE, 0UL, "KVM_GET_VCPU_MMAP_SIZE"));
  s.vcpu_mmap_size_ = static_cast<std::size_t>(mmap_size);
  if (tables) TERN_TRY(s.read_tables());
  return s;
}

Expected<void> KvmSystem::read_tables() {
  TERN_TRY_ASSIGN(cpuid_, read_supported_cpuid(fd()));
  TERN_TRY_ASSIGN(msrs_, read_msr_indices(fd()));
  return {};
}

int KvmSystem::extension(int cap) const {
  const int r = ::ioctl(fd(), KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& table,
                                   std::uint32_t function, std::uint32_t index) {
  for (const auto& e : table)
    if (e.function == function &&
        ((e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) == 0 || e.index == index))
      return &e;
  return nullptr;
}

}  // namespace tern::vm::kvm

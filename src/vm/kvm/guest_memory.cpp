#include "vm/kvm/guest_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace tern::vm::kvm {

namespace {
bool thp_requested() {
  const char* v = std::getenv("TERN_GUEST_THP");
  return v != nullptr && std::string_view(v) == "1";
}
}  // namespace

Expected<std::unique_ptr<GuestMemory>> GuestMemory::create(std::uint64_t ram_bytes,
                                                           HostRam* prepared) {
  if (ram_bytes == 0 || ram_bytes % kPageSize != 0)
    return make_error(Errc::usage, "guest RAM of {} bytes is not a non-zero multiple of 4 KiB",
                      ram_bytes);
  if (ram_bytes > (kMaxPfn << kPageShift) - kHighRamBase)
    return make_error(Errc::usage,
                      "guest RAM of {} bytes exceeds the 52-bit physical address space", ram_bytes);
  std::unique_ptr<GuestMemory> m(new GuestMemory);
  m->ram_bytes_ = ram_bytes;
  // Anonymous private memory (HostRam): fresh anonymous pages fault in
  // about 1.6x faster than a memfd's (shmem) pages here, every time. With
  // TERN_GUEST_THP=1 it is also advised for transparent huge pages (which
  // need only THP's default `madvise` mode; shmem THP needs shmem_enabled,
  // usually `never`): up to 10 GB/s when the host already backs the memory,
  // but 3x slower than 4 KiB pages when it does not — so not by default.
  std::byte* base = nullptr;
  if (prepared != nullptr && prepared->bytes() == ram_bytes) {
    base = prepared->take();
    m->prepared_ = base != nullptr;
  }
  if (base == nullptr) {
    TERN_TRY_ASSIGN(auto fresh, HostRam::create(ram_bytes));
    base = fresh->take();
  }
  m->thp_ = thp_requested();
  if (m->thp_) (void)::madvise(base, ram_bytes, MADV_HUGEPAGE);  // a hint, may be refused
  m->base_ = base;
  // The zero hint reads which pages exist (never written = none).
  m->pagemap_.reset(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));

  const std::uint64_t low = std::min(ram_bytes, kLowRamLimit);
  m->slots_.push_back(RamSlot{0, 0, low, 0, m->base_});
  if (ram_bytes > low)
    m->slots_.push_back(RamSlot{1, kHighRamBase, ram_bytes - low, low, m->base_ + low});
  return m;
}

GuestMemory::~GuestMemory() {
  if (base_ != nullptr) ::munmap(base_, ram_bytes_);
}

const RamSlot* GuestMemory::slot_of(std::uint64_t pfn) const {
  for (const RamSlot& s : slots_)
    if (pfn >= s.first_pfn() && pfn - s.first_pfn() < s.pages()) return &s;
  return nullptr;
}

std::byte* GuestMemory::page(std::uint64_t pfn) const {
  const RamSlot* s = slot_of(pfn);
  return s ? s->host + ((pfn - s->first_pfn()) << kPageShift) : nullptr;
}

MemoryMap GuestMemory::map() const {
  std::lock_guard lk(mu_);
  return map_;
}

std::uint64_t GuestMemory::generation() const {
  std::lock_guard lk(mu_);
  return map_.generation();
}

bool GuestMemory::populated(std::uint64_t pfn) const {
  std::lock_guard lk(mu_);
  return map_.contains(pfn);
}

Expected<void> GuestMemory::check_range(std::string_view what, std::uint64_t first,
                                        std::uint64_t count) const {
  std::uint64_t covered = 0;
  for (const RamSlot& s : slots_) {
    const std::uint64_t lo = std::max(first, s.first_pfn());
    const std::uint64_t hi = std::min(first + count, s.first_pfn() + s.pages());
    if (lo < hi) covered += hi - lo;
  }
  if (count > kMaxPfn || first > kMaxPfn - count || covered != count)
    return make_error(
        Errc::usage, "{}: frames {:#x}+{:#x} are not all inside guest RAM ({:#x} bytes{})", what,
        first, count, ram_bytes_, slots_.size() > 1 ? ", with a hole at 3-4 GiB" : "");
  return {};
}

template <typename F>
Expected<void> GuestMemory::for_slots(std::uint64_t first, std::uint64_t count, F&& f) const {
  for (const RamSlot& s : slots_) {
    const std::uint64_t lo = std::max(first, s.first_pfn());
    const std::uint64_t hi = std::min(first + count, s.first_pfn() + s.pages());
    if (lo < hi) TERN_TRY(f(s, lo, hi - lo));
  }
  return {};
}

Expected<void> GuestMemory::populate(std::uint64_t first, std::uint64_t count) {
  TERN_TRY(check_range("populate", first, count));
  std::lock_guard lk(mu_);
  TERN_TRY(map_.add(first, count));
  if (logging_) written_.set_range(first, count);
  return {};
}

Expected<void> GuestMemory::depopulate(std::uint64_t first, std::uint64_t count) {
  TERN_TRY(check_range("depopulate", first, count));
  std::lock_guard lk(mu_);
  TERN_TRY(unmap_file(first, count));
  // Under the lock: a copy of the map never shows a dropped frame as present.
  TERN_TRY(for_slots(
      first, count, [&](const RamSlot& s, std::uint64_t lo, std::uint64_t n) -> Expected<void> {
        if (::madvise(s.host + ((lo - s.first_pfn()) << kPageShift), n << kPageShift,
                      MADV_DONTNEED) != 0)
          return errno_error(fmt::format("dropping frames {:#x}+{:#x} from guest RAM", lo, n),
                             errno);
        return {};
      }));
  TERN_TRY(map_.remove(first, count));
  if (logging_) written_.set_range(first, count);
  return {};
}

Expected<void> GuestMemory::map_file(std::uint64_t first, std::uint64_t count, int fd,
                                     std::uint64_t offset) {
  TERN_TRY(check_range("map_file", first, count));
  if (offset % kPageSize != 0)
    return make_error(Errc::usage, "map_file: file offset {:#x} is not 4 KiB-aligned", offset);
  std::lock_guard lk(mu_);
  for (std::uint64_t p = first; p < first + count;) {
    const auto e = map_.extent_from(p);
    if (!e || e->first_pfn > p)
      return make_error(Errc::usage, "map_file: frame {:#x} is not populated", p);
    p = e->end();
  }
  TERN_TRY(for_slots(
      first, count, [&](const RamSlot& s, std::uint64_t lo, std::uint64_t n) -> Expected<void> {
        std::byte* host = s.host + ((lo - s.first_pfn()) << kPageShift);
        const std::uint64_t file_off = offset + ((lo - first) << kPageShift);
        // Over the VMM's (and so KVM's) view of these frames; KVM drops any
        // translation of the old pages through its MMU notifier.
        void* m = ::mmap(host, n << kPageShift, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, static_cast<off_t>(file_off));
        if (m == MAP_FAILED)
          return errno_error(
              fmt::format("mapping file offset {:#x} over frames {:#x}+{:#x}", file_off, lo, n),
              errno);
        // (The anonymous pages it replaced are freed with the old mapping.)
        TERN_TRY(file_backed_.add(lo, n));
        return {};
      }));
  if (logging_) written_.set_range(first, count);
  return {};
}

Expected<void> GuestMemory::unmap_file(std::uint64_t first, std::uint64_t count) {
  for (std::uint64_t p = first; p < first + count;) {
    const auto e = file_backed_.extent_from(p);
    if (!e || e->first_pfn >= first + count) break;
    const std::uint64_t lo = std::max(p, e->first_pfn);
    const std::uint64_t hi = std::min(first + count, e->end());
    TERN_TRY(for_slots(
        lo, hi - lo, [&](const RamSlot& s, std::uint64_t a, std::uint64_t n) -> Expected<void> {
          const std::uint64_t rel = (a - s.first_pfn()) << kPageShift;
          void* m = ::mmap(s.host + rel, n << kPageShift, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
          if (m == MAP_FAILED)
            return errno_error(fmt::format("putting guest RAM back under frames {:#x}+{:#x}", a, n),
                               errno);
          if (thp_) (void)::madvise(m, n << kPageShift, MADV_HUGEPAGE);
          return {};
        }));
    TERN_TRY(file_backed_.remove(lo, hi - lo));
    p = hi;
  }
  return {};
}

FrameRun GuestMemory::next_data_run(std::uint64_t pfn) const {
  const RamSlot* s = slot_of(pfn);
  if (s == nullptr) return {pfn, pfn + 1};
  const std::uint64_t slot_end = s->first_pfn() + s->pages();
  FrameRun run{slot_end, slot_end};
  if (!pagemap_) return {pfn, slot_end};  // cannot tell: read them all
  // First mincore(): resident pages hold data, and it costs ~0.5 ms per GiB
  // against ~13 for pagemap. Only where it finds a page not resident does
  // pagemap decide: such a page may be swapped out (data) or never written.
  const auto host_of = [&](std::uint64_t p) { return s->host + ((p - s->first_pfn()) << kPageShift); };
  std::uint64_t resident_end = pfn;  // [pfn, resident_end) all resident
  {
    std::array<unsigned char, 4096> v;
    bool done = false;
    while (!done && resident_end < slot_end) {
      const std::uint64_t n = std::min<std::uint64_t>(v.size(), slot_end - resident_end);
      if (::mincore(host_of(resident_end), n << kPageShift, v.data()) != 0) break;  // ask pagemap
      std::uint64_t i = 0;
      while (i < n && (v[i] & 1) != 0) ++i;
      resident_end += i;
      done = i < n;
    }
  }
  if (resident_end > pfn) run.first = pfn;
  if (resident_end == slot_end) run.end = slot_end;
  // /proc/self/pagemap: one 64-bit entry per 4 KiB page of our address
  // space; bit 63 = present, bit 62 = swapped. Neither: never written since
  // mapped (or dropped), so it reads zero.
  constexpr std::uint64_t kExists = 3ULL << 62;
  std::array<std::uint64_t, 4096> e;
  bool in_data = resident_end > pfn;
  for (std::uint64_t p = resident_end; p < slot_end && run.end == slot_end;) {
    const std::uint64_t n = std::min<std::uint64_t>(e.size(), slot_end - p);
    const auto va = reinterpret_cast<std::uintptr_t>(host_of(p));
    const ssize_t got = ::pread(pagemap_.get(), e.data(), n * sizeof e[0],
                                static_cast<off_t>(va / kPageSize * sizeof e[0]));
    if (got != static_cast<ssize_t>(n * sizeof e[0]))
      return {in_data ? run.first : pfn, slot_end};  // cannot tell: data
    for (std::uint64_t i = 0; i < n; ++i) {
      const bool data = (e[i] & kExists) != 0;
      if (!in_data && data) {
        run.first = p + i;
        in_data = true;
      } else if (in_data && !data) {
        run.end = p + i;
        break;
      }
    }
    p += n;
  }
  // File-backed frames hold data whatever the page tables say (a file page
  // not faulted in yet is not present).
  std::lock_guard lk(mu_);
  if (const auto fb = file_backed_.extent_from(pfn); fb && fb->first_pfn < run.first) {
    run.first = std::max(pfn, fb->first_pfn);
    run.end = std::min(fb->end(), slot_end);
  }
  return run;
}

std::uint64_t GuestMemory::file_backed_pages() const {
  std::lock_guard lk(mu_);
  return file_backed_.populated_pages();
}

Expected<void> GuestMemory::write(std::uint64_t gpa, std::span<const std::byte> bytes) {
  if (bytes.empty()) return {};
  const std::uint64_t first = gpa >> kPageShift, last = (gpa + bytes.size() - 1) >> kPageShift;
  TERN_TRY(check_range("write", first, last - first + 1));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::uint64_t a = gpa + done;
    const std::size_t n =
        std::min<std::uint64_t>(bytes.size() - done, kPageSize - (a & (kPageSize - 1)));
    std::memcpy(page(a >> kPageShift) + (a & (kPageSize - 1)), bytes.data() + done, n);
    done += n;
  }
  mark_written(first, last - first + 1);
  return {};
}

Expected<void> GuestMemory::fill_zero(std::uint64_t gpa, std::uint64_t len) {
  if (len == 0) return {};
  const std::uint64_t first = gpa >> kPageShift, last = (gpa + len - 1) >> kPageShift;
  TERN_TRY(check_range("zero-fill", first, last - first + 1));
  for (std::uint64_t done = 0; done < len;) {
    const std::uint64_t a = gpa + done;
    const std::uint64_t n = std::min(len - done, kPageSize - (a & (kPageSize - 1)));
    std::memset(page(a >> kPageShift) + (a & (kPageSize - 1)), 0, n);
    done += n;
  }
  mark_written(first, last - first + 1);
  return {};
}

void GuestMemory::mark_written(std::uint64_t first, std::uint64_t count) {
  std::lock_guard lk(mu_);
  if (logging_) written_.set_range(first, count);
}

void GuestMemory::set_logging(bool on) {
  std::lock_guard lk(mu_);
  logging_ = on;
  written_.reset();
}

DirtyBitmap GuestMemory::take_written() {
  std::lock_guard lk(mu_);
  return written_.take();
}

}  // namespace tern::vm::kvm

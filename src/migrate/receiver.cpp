#include "migrate/receiver.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "migrate/prefault.hpp"
#include "migrate/record_map_update.hpp"
#include "migrate/state_blob.hpp"
#include "stream/libxl/stream_reader.hpp"
#include "stream/xl/xl_header.hpp"

namespace tern::migrate {

namespace libxc = stream::libxc;
namespace libxl = stream::libxl;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint32_t kNoSubleaf = 0xffffffff;

std::string where(const libxc::Record& r) {
  return fmt::format("offset {}: record #{} ({})", r.offset, r.index,
                     libxc::record_type_name(r.type));
}

class Receiver {
 public:
  Receiver(ByteSource& src, const ReceiverOptions& opts)
      : src_(src), opts_(opts), start_(src.offset()) {}

  Expected<ReceiveResult> run() {
    const auto t0 = Clock::now();
    auto r = read_all();
    stop_prefault();  // before the domain can go away
    if (!r) {
      if (out_.domain) out_.domain->shutdown();  // never a partial VM
      out_.domain.reset();
      return std::unexpected(r.error());
    }
    out_.stats.bytes = src_.offset() - start_;
    out_.stats.total = Clock::now() - t0;
    return std::move(out_);
  }

 private:
  Expected<void> read_all() {
    TERN_TRY_ASSIGN(auto xl, stream::xl::read_header(src_));
    if (!xl.has_config)
      return make_error(Errc::unsupported,
                        "the xl header carries no VM config, so this is not a tern image");
    auto cfg = ImageConfig::from_json(xl.config);
    if (!cfg) return std::unexpected(cfg.error().context("xl header"));
    out_.config = *cfg;
    frame_limit_ = vm::frame_limit(cfg->backend, cfg->domain_config("-"));

    libxc::ReaderOptions ro;
    ro.skip_page_payloads = !opts_.factory && !opts_.on_page_data;  // (views cost nothing)
    // Building a domain: page payloads are read straight into guest memory.
    ro.defer_page_payloads = opts_.factory && !opts_.on_page_data;
    libxl::StreamReader reader(src_, ro);
    reader_ = &reader;
    TERN_TRY(reader.read_header());
    while (!reader.done()) {
      TERN_TRY_ASSIGN(auto ev, reader.next());
      ++out_.stats.records;
      switch (ev.kind) {
        case libxl::StreamEvent::Kind::libxl_record:
          TERN_TRY(on_libxl(ev.libxl));
          break;
        case libxl::StreamEvent::Kind::libxc_header:
          TERN_TRY(on_libxc_header(ev));
          break;
        case libxl::StreamEvent::Kind::libxc_event:
          if (ev.libxc.is_record()) TERN_TRY(on_libxc(ev.libxc.record));
          break;
      }
    }
    stop_prefault();
    if (opts_.expect_end_of_input) TERN_TRY(reader.expect_end_of_input());
    if (!blob_)
      return make_error(Errc::invalid, "the stream has no HVM_CONTEXT record (no vCPU state)");
    const auto t0 = Clock::now();
    auto state = decode_state(*blob_, out_.config.vcpus);
    if (!state) return std::unexpected(state.error().context(blob_where_));
    out_.state = std::move(*state);
    if (out_.domain) {
      TERN_TRY(out_.domain->check_state(out_.state));
      TERN_TRY(out_.domain->load_state(out_.state));
    }
    out_.stats.state = Clock::now() - t0;
    return {};
  }

  Expected<void> on_libxl(const libxl::Record& r) {
    switch (r.raw.type) {
      case libxl::kLibxcContext:
      case libxl::kEnd:
        return {};
      default:
        if (r.skipped_optional) return {};
        return make_error(Errc::unsupported,
                          "libxl stream offset {}: record #{} ({}): tern's VMs have no device "
                          "model, so it cannot restore this record",
                          r.raw.offset, r.raw.index, libxl::type_name(r.raw.type));
    }
  }

  Expected<void> on_libxc_header(const libxl::StreamEvent& ev) {
    const auto& h = ev.libxc_header;
    if (h.domain_type != libxc::DomainType::x86_hvm || h.page_shift != vm::kPageShift)
      return make_error(Errc::unsupported,
                        "libxc stream at offset {}: tern restores x86 HVM streams with 4 KiB "
                        "pages, this one is {} with page shift {}",
                        ev.libxc_offset, libxc::domain_type_name(h.domain_type), h.page_shift);
    if (h.version != libxc::kVersion3)
      return make_error(Errc::unsupported,
                        "libxc stream at offset {}: version {} (tern images are v3; `tern convert "
                        "--to v3` upgrades v2 streams)",
                        ev.libxc_offset, h.version);
    return {};
  }

  Expected<void> on_libxc(const libxc::Record& r) {
    using T = libxc::RecordType;
    switch (static_cast<T>(r.type)) {
      case T::x86_cpuid_policy:
        return on_cpuid(r);
      case T::static_data_end:
        return create_domain(r);
      case T::page_data:
        return on_pages(r);
      case T::hvm_context: {
        const auto& body = std::get<libxc::Opaque>(r.typed).data;
        blob_.emplace(body.begin(), body.end());
        blob_where_ = where(r);
        return {};
      }
      case T::checkpoint:
        return make_error(Errc::unsupported,
                          "{}: checkpointed streams (Remus/COLO) cannot be restored by tern",
                          where(r));
      case T::x86_tsc_info:
        stop_prefault();  // the pages are over: the state records follow
        if (opts_.on_state_records && out_.domain) opts_.on_state_records();
        return {};
      default:
        return {};  // MSR policy, HVM params, END: nothing to apply
    }
  }

  Expected<void> on_cpuid(const libxc::Record& r) {
    const auto& p = std::get<libxc::CpuidPolicy>(r.typed);
    std::vector<vm::CpuidEntry> wanted;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const libxc::CpuidLeaf l = p.leaf(i);
      const bool sub = l.subleaf != kNoSubleaf;
      wanted.push_back(
          {l.leaf, sub ? l.subleaf : 0, sub ? vm::kCpuidFlagSubleaf : 0u, l.a, l.b, l.c, l.d});
    }
    if (auto ok = vm::check_cpu_policy(wanted); !ok)
      return std::unexpected(ok.error().context(where(r)));
    return {};
  }

  Expected<void> create_domain(const libxc::Record& r) {
    if (!opts_.factory) return {};
    auto d = opts_.factory(out_.config);
    if (!d)
      return std::unexpected(d.error().context(fmt::format("{}: creating the domain", where(r))));
    out_.domain = std::move(*d);
    if (opts_.prefault)
      prefault_ = std::make_unique<Prefaulter>(*out_.domain, frame_limit_);
    else if (opts_.prefault_lead_frames > 0)
      prefault_ =
          std::make_unique<Prefaulter>(*out_.domain, frame_limit_, opts_.prefault_lead_frames);
    return {};
  }

  void stop_prefault() {
    if (!prefault_) return;
    prefault_->stop();
    // Lead mode: what it touched past round 0's last frame stays zero.
    if (prefault_->leads()) prefault_->release(round0_next_, frame_limit_);
    out_.stats.prefaulted_bytes = prefault_->bytes();
    out_.stats.prefault_released_bytes = prefault_->released_bytes();
    prefault_.reset();
  }

  // Lead mode, for a round-0 record whose map changes are applied: the
  // pre-fault thread is told where the record's data goes and what the
  // stream has settled, then the frames the record leaves zero (XALLOC
  // entries new to the map, XTAB entries, frames it skips over) are given
  // back if the thread touched them. Round 0's entries ascend.
  void lead_prefault(const libxc::PageData& pd) {
    lead_data_.clear();
    lead_zero_.clear();
    auto add = [](std::vector<Prefaulter::Run>& runs, std::uint64_t first, std::uint64_t end) {
      if (!runs.empty() && runs.back().end == first)
        runs.back().end = end;
      else
        runs.push_back({first, end});
    };
    for (std::uint32_t i = 0; i < pd.count; ++i) {
      const std::uint64_t pfn = pd.pfn(i);
      const unsigned t = pd.type(i);
      if (pfn > round0_next_) add(lead_zero_, round0_next_, pfn);
      if (t == static_cast<unsigned>(libxc::PageType::xtab)) {
        add(lead_zero_, pfn, pfn + 1);  // (out of the map: reads zero)
      } else if (t == static_cast<unsigned>(libxc::PageType::xalloc)) {
        if (!was_present_[i]) add(lead_zero_, pfn, pfn + 1);
      } else {
        add(lead_data_, pfn, pfn + 1);
      }
      round0_next_ = std::max(round0_next_, pfn + 1);
    }
    // (first the news, so the thread stops heading for frames left zero;
    // then what it already touched of them goes back)
    prefault_->lead(lead_data_, round0_next_);
    for (const auto& z : lead_zero_) prefault_->release(z.first, z.end);
  }

  Expected<void> on_pages(const libxc::Record& r) {
    const auto& pd = std::get<libxc::PageData>(r.typed);
    // Validate every entry first (both modes).
    for (std::uint32_t i = 0; i < pd.count; ++i) {
      const unsigned t = pd.type(i);
      const std::uint64_t pfn = pd.pfn(i);
      if (t == static_cast<unsigned>(libxc::PageType::broken))
        return make_error(Errc::unsupported, "{}: pfn[{}] {:#x} is marked BROKEN", where(r), i,
                          pfn);
      if (pfn >= frame_limit_)
        return make_error(Errc::invalid,
                          "{}: pfn[{}] {:#x} lies beyond the VM's guest-physical space ({} frames "
                          "up to {:#x} for {} bytes on the {} backend)",
                          where(r), i, pfn, frame_limit_, frame_limit_,
                          out_.config.address_space_bytes, vm::backend_name(out_.config.backend));
      if (t == static_cast<unsigned>(libxc::PageType::xtab))
        ++out_.stats.xtab_pages;
      else if (t == static_cast<unsigned>(libxc::PageType::xalloc))
        ++out_.stats.zero_pages;
      else
        ++out_.stats.data_pages;
    }
    if (opts_.on_page_data) return opts_.on_page_data(r, pd);
    if (!out_.domain) {  // (PAGE_DATA before STATIC_DATA_END: nowhere to put it)
      if (!pd.payload_pending) return {};
      dests_.assign(pd.data_pages, nullptr);
      return reader_->libxc()->read_page_payload(dests_);
    }
    // Round 0 arrives in ascending frame order; a record starting below the
    // last frame seen begins a later round: pre-faulting (for round 0) ends.
    if (pd.count > 0) {
      if (prefault_ && pd.pfn(0) < last_pfn_) stop_prefault();
      last_pfn_ = pd.pfn(pd.count - 1);
    }
    TERN_TRY(apply_pages(r, pd));
    if (opts_.on_pages_applied) opts_.on_pages_applied(src_.offset() - start_);
    return {};
  }

  // Two passes: first the map changes (populate runs, XTAB removals) in
  // entry order, then the contents.
  Expected<void> apply_pages(const libxc::Record& r, const libxc::PageData& pd) {
    vm::Domain& d = *out_.domain;
    TERN_TRY_ASSIGN(const bool has_xtab,
                    update_map_for_record(
                        pd, map_, was_present_,
                        [&](std::uint64_t first, std::uint64_t n) -> Expected<void> {
                          if (auto ok = d.populate(first, n); !ok)
                            return std::unexpected(ok.error().context(where(r)));
                          return {};
                        },
                        [&](std::uint64_t pfn) -> Expected<void> {
                          if (auto ok = d.depopulate(pfn, 1); !ok)
                            return std::unexpected(ok.error().context(where(r)));
                          return {};
                        }));
    if (prefault_ && prefault_->leads()) lead_prefault(pd);

    // Where each data page's payload goes: straight into the guest's frame,
    // or nowhere when an XTAB later in the record removed the frame again.
    // The payload is read in one go after the zero pages are cleared, so a
    // frame named twice in a record (data, then re-sent as zero, or the
    // reverse) must get only its last entry's effect: entries are walked
    // from the last, and a frame a later entry already settled is left
    // alone. (Round 0's records name each frame once, in ascending order.)
    bool unique = true;
    for (std::uint32_t i = 1; i < pd.count && unique; ++i) unique = pd.pfn(i) > pd.pfn(i - 1);
    settled_.clear();
    dests_.clear();
    for (std::uint32_t k = pd.count; k-- > 0;) {
      const unsigned t = pd.type(k);
      const std::uint64_t pfn = pd.pfn(k);
      if (t == static_cast<unsigned>(libxc::PageType::xtab)) continue;
      // Every other frame of the record is present now, unless an XTAB
      // later in the same record removed it again.
      const bool present = !has_xtab || map_.contains(pfn);
      const bool later = !unique && !settled_.insert(pfn).second;
      if (t == static_cast<unsigned>(libxc::PageType::xalloc)) {
        if (present && was_present_[k] && !later)
          std::memset(d.page(pfn), 0, vm::kPageSize);  // re-sent as zero
        continue;
      }
      dests_.push_back(present && !later ? d.page(pfn) : nullptr);
    }
    std::reverse(dests_.begin(), dests_.end());
    // (read_all() reads in defer mode whenever it builds a domain.)
    return reader_->libxc()->read_page_payload(dests_);
  }

  ByteSource& src_;
  const ReceiverOptions& opts_;
  std::uint64_t start_;
  ReceiveResult out_;
  std::optional<std::vector<std::byte>> blob_;
  std::string blob_where_;
  vm::MemoryMap map_;  // the destination's map, as this receiver built it
  std::vector<bool> was_present_;
  std::uint64_t frame_limit_ = 0;  // frames at or above it cannot exist in the VM
  std::unique_ptr<Prefaulter> prefault_;
  std::uint64_t last_pfn_ = 0;              // last frame of the previous PAGE_DATA record
  std::uint64_t round0_next_ = 0;           // the frame after round 0's last entry so far
  std::vector<Prefaulter::Run> lead_data_;  // lead_prefault()'s runs, kept for their capacity
  std::vector<Prefaulter::Run> lead_zero_;
  libxl::StreamReader* reader_ = nullptr;      // read_all()'s, while it runs
  std::vector<std::byte*> dests_;              // a PAGE_DATA record's page destinations
  std::unordered_set<std::uint64_t> settled_;  // frames a later entry of the record settled
};

}  // namespace

Expected<ReceiveResult> receive_stream(ByteSource& src, const ReceiverOptions& opts) {
  Receiver r(src, opts);
  return r.run();
}

}  // namespace tern::migrate

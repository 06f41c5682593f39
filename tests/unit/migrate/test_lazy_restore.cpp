// restore_image() maps an image's page payloads into the guest instead of
// copying them (lazy restore), falls back to copying where it cannot (a
// pipe, unaligned payloads, --copy), and still refuses a bad image before
// anything runs. Sim always; KVM when /dev/kvm is usable.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "../vm/kvm_test_support.hpp"
#include "core/trace.hpp"
#include "io/image_file_sink.hpp"
#include "migrate/page_plan.hpp"
#include "migrate/precopy.hpp"
#include "migrate/restore.hpp"
#include "migrate_test_util.hpp"
#include "stream/libxc/writer.hpp"
#include "stream/libxl/stream_reader.hpp"
#include "stream/xl/xl_header.hpp"
#include "vm/sim/host_check.hpp"

namespace tern::migrate {
namespace {

using namespace testing;
namespace libxc = stream::libxc;

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size()));
}

// What `tern save` does: the image sink with O_DIRECT and pipelining,
// drained before the guest resumes, committed after.
SaveStats save_to_file(vm::Domain& d, const vm::DomainConfig& c, vm::Backend b,
                       const std::string& path, SenderOptions sender = {}) {
  io::ImageFileSink::Options so;
  so.pipeline = true;
  auto sink = io::ImageFileSink::create(path, so);
  EXPECT_TRUE(sink) << sink.error().message();
  SaveOptions o;
  o.then = AfterSave::stop;
  o.sender = sender;
  o.before_resume = [&] { return (*sink)->drain(); };
  auto st = save_domain(d, ImageConfig::from(c, b), **sink, o);
  EXPECT_TRUE(st) << st.error().message();
  auto ok = (*sink)->commit();
  EXPECT_TRUE(ok) << ok.error().message();
  return st ? *st : SaveStats{};
}

struct RecordAt {
  std::uint64_t offset;
  std::uint32_t type;
  std::uint32_t length;
};

// Where the libxc records of an image file are.
std::vector<RecordAt> record_offsets(const std::string& path) {
  const auto bytes = read_all(path);
  MemorySource src(Bytes(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  std::vector<RecordAt> out;
  EXPECT_TRUE(stream::xl::read_header(src));
  stream::libxl::StreamReader r(src);
  EXPECT_TRUE(r.read_header());
  while (!r.done()) {
    auto ev = r.next();
    if (!ev) {
      ADD_FAILURE() << ev.error().message();
      break;
    }
    if (ev->kind == stream::libxl::StreamEvent::Kind::libxc_event && ev->libxc.is_record())
      out.push_back({ev->libxc.record.offset, ev->libxc.record.type, ev->libxc.record.length});
  }
  return out;
}

class LazyRestoreSim : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tern-lazy-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A sim guest saved mid-run to `name`; the source stays paused (for
  // comparisons) in src_.
  std::string saved(const std::string& name, SenderOptions sender = {}) {
    cfg_ = sim_config("passes=20 mib=8 ws=5", 2);
    src_ = make_sim(cfg_);
    EXPECT_TRUE(src_->start());
    pause_mid_pass(*src_, 3);
    stats_ = save_to_file(*src_, cfg_, vm::Backend::sim, path(name), sender);
    return path(name);
  }

  // The restored guest matches the source and finishes clean.
  void expect_runs_clean(ReceiveResult& r) {
    ASSERT_TRUE(r.domain);
    std::string why;
    EXPECT_TRUE(same_memory(*src_, *r.domain, &why)) << why;
    ASSERT_TRUE(r.domain->resume());
    EXPECT_EQ(run_to_exit(*r.domain), 0);
    EXPECT_NE(as_sim(*r.domain).console_text().find("done, passes=20 errors=0"), std::string::npos)
        << as_sim(*r.domain).console_text();
  }

  std::filesystem::path dir_;
  vm::DomainConfig cfg_;
  std::unique_ptr<vm::sim::SimDomain> src_;
  SaveStats stats_;
};

TEST_F(LazyRestoreSim, EveryPageIsMappedAndTheImageIsNeverWritten) {
  const std::string img = saved("vm.img");
  const auto before = read_all(img);
  RestoreOptions o;
  o.console = "-";
  auto r = restore_image(img, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stats.data_pages, stats_.pages.data_pages);
  EXPECT_EQ(r->stats.mapped_pages, r->stats.data_pages);  // tern aligns every payload
  EXPECT_GT(r->stats.mapped_pages, 2000U);
  EXPECT_EQ(as_sim(*r->domain).file_backed_pages(), r->stats.mapped_pages);
  expect_runs_clean(*r);  // 17 more passes rewrite the region
  // The VMM writing a mapped page as well.
  const std::uint64_t pfn = (0x200000 >> vm::kPageShift) + 1;
  std::memset(r->domain->page(pfn), 0x5a, vm::kPageSize);
  r->domain->shutdown();
  r->domain.reset();
  EXPECT_EQ(read_all(img), before) << "guest or VMM writes reached the image";
}

TEST_F(LazyRestoreSim, CopyModeMapsNothing) {
  const std::string img = saved("vm.img");
  RestoreOptions o;
  o.console = "-";
  o.copy = true;
  auto r = restore_image(img, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stats.mapped_pages, 0U);
  EXPECT_EQ(r->stats.data_pages, stats_.pages.data_pages);
  expect_runs_clean(*r);
}

TEST_F(LazyRestoreSim, UnalignedPayloadsAreCopiedTheRestMapped) {
  // 100 entries per record: the writer cannot align those payloads (it
  // needs 510 or more), so most records land unaligned.
  SenderOptions small;
  small.max_batch = 100;
  const std::string img = saved("vm.img", small);
  RestoreOptions o;
  o.console = "-";
  auto r = restore_image(img, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_LT(r->stats.mapped_pages, r->stats.data_pages);
  EXPECT_EQ(r->stats.data_pages, stats_.pages.data_pages);
  expect_runs_clean(*r);
}

TEST_F(LazyRestoreSim, PipeInputIsReadNotMapped) {
  const std::string img = saved("vm.img");
  const std::string fifo = path("vm.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto bytes = read_all(img);
  std::thread writer([&] { write_all(fifo, bytes); });
  RestoreOptions o;
  o.console = "-";
  auto r = restore_image(fifo, o);
  writer.join();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stats.mapped_pages, 0U);
  EXPECT_EQ(r->stats.data_pages, stats_.pages.data_pages);
  expect_runs_clean(*r);
}

TEST_F(LazyRestoreSim, CorruptOrTruncatedImagesAreRefusedBeforeAnythingRuns) {
  const std::string img = saved("vm.img");
  const auto good = read_all(img);
  const auto recs = record_offsets(img);
  RecordAt last_pages{0, 0, 0};
  for (const auto& rec : recs)
    if (rec.type == libxc::code(libxc::RecordType::page_data)) last_pages = rec;
  ASSERT_GT(last_pages.offset, 0U);
  struct Case {
    const char* what;
    std::vector<char> bytes;
  };
  std::vector<Case> cases;
  cases.push_back({"truncated in the last page record", good});
  cases.back().bytes.resize(last_pages.offset + 8 + last_pages.length / 2);
  cases.push_back({"truncated before the libxl END", good});
  cases.back().bytes.resize(good.size() - 4);
  cases.push_back({"last page record: pfn entry type BROKEN", good});
  // Entry 0's type lives in the top nibble of its last byte (offset +16+7).
  cases.back().bytes[last_pages.offset + 16 + 7] = static_cast<char>(0xd0);
  cases.push_back({"state blob corrupted", good});
  for (const auto& rec : recs)
    if (rec.type == libxc::code(libxc::RecordType::hvm_context))
      cases.back().bytes[rec.offset + 8] ^= static_cast<char>(0xff);
  for (const auto& c : cases) {
    const std::string bad = path("bad.img");
    write_all(bad, c.bytes);
    RestoreOptions o;
    o.console = "-";
    auto r = restore_image(bad, o);
    ASSERT_FALSE(r) << c.what << ": accepted";
    EXPECT_NE(r.error().message().find("offset"), std::string::npos)
        << c.what << ": " << r.error().message();
  }
}

// A live migration's stream, written to a file, has everything a page plan
// must get right: frames re-sent in later rounds (with new data, or as
// zero), frames the balloon took away (XTAB) and gave back, and, with small
// batches, payloads that are not 4 KiB-aligned (copied, not mapped). The
// plan-based restore must leave exactly the memory the streaming receiver
// leaves, and the source's.
TEST_F(LazyRestoreSim, PagePlanOfAMigrationStreamMatchesTheStreamingReceiver) {
  for (const std::uint32_t batch : {0U, 100U}) {
    SCOPED_TRACE(batch == 0 ? "default batches" : "batches of 100");
    // passes=0: the guest runs until stopped, however long small batches take.
    const auto cfg = sim_config("passes=0 mib=16 ws=4 balloon=2048,8", 2, 64ULL << 20);
    auto src = running_mid_pass(cfg, 3);
    ASSERT_NE(src, nullptr);
    MigrateOptions mo;
    mo.max_downtime = std::chrono::milliseconds(1);  // several rounds
    mo.max_iterations = 5;
    if (batch != 0) mo.sender.max_batch = batch;
    VectorSink sink;
    auto ms = migrate_domain(*src, ImageConfig::from(cfg, vm::Backend::sim), sink, mo);
    ASSERT_TRUE(ms) << ms.error().message();
    ASSERT_EQ(src->state(), vm::RunState::paused);
    std::uint64_t xtab = 0;
    for (const auto& r : ms->rounds) xtab += r.xtab_pages;
    EXPECT_GT(xtab, 0U) << "the balloon took no page away: the test lost its point";
    EXPECT_GE(ms->rounds.size(), 2U);
    const auto bytes = sink.take();
    const std::string img = path("stream.img");
    write_all(img, std::vector<char>(reinterpret_cast<const char*>(bytes.data()),
                                     reinterpret_cast<const char*>(bytes.data()) + bytes.size()));

    CountingFactory f;
    auto streamed = receive_bytes(bytes, f.get());
    ASSERT_TRUE(streamed) << streamed.error().message();
    RestoreOptions o;
    o.console = "-";
    auto planned = restore_image(img, o);
    ASSERT_TRUE(planned) << planned.error().message();
    std::string why;
    EXPECT_TRUE(same_memory(*streamed->domain, *planned->domain, &why)) << why;
    EXPECT_TRUE(same_memory(*src, *planned->domain, &why)) << why;
    EXPECT_GT(planned->stats.mapped_pages, 0U);
    if (batch != 0) {
      EXPECT_LT(planned->stats.mapped_pages, planned->stats.data_pages);
    }
    auto hc = vm::sim::host_check(*planned->domain, planned->state);
    ASSERT_TRUE(hc) << hc.error().message();
    EXPECT_TRUE(hc->clean()) << hc->mismatched_words << " words, " << hc->map_mismatches << " map";
    planned->domain->shutdown();
    streamed->domain->shutdown();
    src->shutdown();
  }
}

// Records a save never writes, spliced into a saved image after its page
// data: frames re-sent as zero, a frame sent twice in one record (data,
// then zero), frames removed (XTAB) and re-added, XTAB and data for the same
// frame in one record, a frame the guest never had. The records after the
// splice lose their 4 KiB alignment, so payloads are copied as well as
// mapped. The plan must leave what the streaming receiver leaves.
TEST_F(LazyRestoreSim, PagePlanMatchesTheStreamingReceiverOnUnusualRecords) {
  const std::string img = saved("vm.img");
  auto bytes = read_all(img);
  const auto recs = record_offsets(img);
  std::uint64_t splice = 0;
  for (const auto& rec : recs)
    if (rec.type == libxc::code(libxc::RecordType::page_data))
      splice = rec.offset + 8 + ((rec.length + 7) & ~7U);
  ASSERT_GT(splice, 0U);

  using libxc::PageType;
  const auto e = [](std::uint64_t pfn, PageType t) { return libxc::make_pfn_entry(pfn, t); };
  const std::uint64_t region = 0x200000 >> vm::kPageShift;     // the guest's pattern lives here
  const std::uint64_t high = (28ULL << 20) >> vm::kPageShift;  // untouched RAM (of 32 MiB)
  std::vector<std::vector<std::uint64_t>> records = {
      {e(region, PageType::xalloc), e(region + 1, PageType::xalloc), e(region + 2, PageType::notab),
       e(region + 3, PageType::notab), e(region + 3, PageType::xalloc)},
      {e(region + 10, PageType::xtab), e(region + 11, PageType::xtab),
       e(region + 12, PageType::notab), e(region + 12, PageType::xtab),
       e(region + 13, PageType::xtab), e(region + 13, PageType::notab)},
      {e(region + 10, PageType::notab), e(high, PageType::notab), e(high + 1, PageType::xalloc),
       e(high + 2, PageType::notab), e(region + 11, PageType::xalloc)},
  };
  VectorSink sink;
  libxc::Writer w(sink);
  ASSERT_TRUE(w.write_header(libxc::StreamHeader{}));
  ASSERT_TRUE(w.write_static_data_end());
  const std::size_t skip = sink.data().size();
  std::vector<std::byte> page(vm::kPageSize);
  std::uint8_t fill = 0x11;
  for (const auto& entries : records) {
    std::vector<std::byte> payload;
    for (std::uint64_t en : entries)
      if (libxc::page_type_has_data(libxc::pfn_entry_type(en))) {
        std::fill(page.begin(), page.end(), std::byte{fill++});
        payload.insert(payload.end(), page.begin(), page.end());
      }
    ASSERT_TRUE(w.write_page_data(entries, Bytes(payload)));
  }
  const auto& extra = sink.data();
  bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(splice),
               reinterpret_cast<const char*>(extra.data()) + skip,
               reinterpret_cast<const char*>(extra.data()) + extra.size());
  const std::string spliced = path("spliced.img");
  write_all(spliced, bytes);

  CountingFactory f;
  auto streamed = receive_bytes(
      std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()), f.get());
  ASSERT_TRUE(streamed) << streamed.error().message();
  RestoreOptions o;
  o.console = "-";
  auto planned = restore_image(spliced, o);
  ASSERT_TRUE(planned) << planned.error().message();
  std::string why;
  EXPECT_TRUE(same_memory(*streamed->domain, *planned->domain, &why)) << why;
  EXPECT_GT(planned->stats.mapped_pages, 0U);
  EXPECT_LT(planned->stats.mapped_pages, planned->stats.data_pages);
  // Through a pipe, payloads read straight into guest memory.
  CountingFactory f2;
  auto piped = receive_through_pipe(
      std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()), f2.get());
  ASSERT_TRUE(piped) << piped.error().message();
  EXPECT_TRUE(same_memory(*piped->domain, *planned->domain, &why)) << why;
  piped->domain->shutdown();
  // A few frames by hand, so both receivers being wrong alike is caught too.
  const vm::MemoryMap map = planned->domain->memory_map();
  const auto all = [&](std::uint64_t pfn, std::uint8_t v) {
    const std::byte* p = planned->domain->page(pfn);
    return std::all_of(p, p + vm::kPageSize, [v](std::byte b) { return b == std::byte{v}; });
  };
  EXPECT_TRUE(all(region, 0)) << "re-sent as zero";
  EXPECT_TRUE(all(region + 2, 0x11));
  EXPECT_FALSE(map.contains(region + 12));
  EXPECT_TRUE(map.contains(region + 13));
  EXPECT_TRUE(all(region + 10, 0x15)) << "removed, then sent again";
  EXPECT_TRUE(all(region + 11, 0)) << "removed, then allocated again";
  EXPECT_TRUE(all(high + 2, 0x17));
  planned->domain->shutdown();
  streamed->domain->shutdown();
}

// The plan merges what continues: a tern image of a filled guest becomes
// one populate and one map per PAGE_DATA record at most, never per page.
TEST_F(LazyRestoreSim, PagePlanWorksPerExtentNotPerPage) {
  const std::string img = saved("vm.img");
  const auto bytes = read_all(img);
  const Bytes view(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
  PagePlan plan(MappedImage{-1, view});
  ReceiverOptions ro;
  ro.on_page_data = [&plan](const libxc::Record& r, const libxc::PageData& pd) {
    return plan.add(r, pd);
  };
  MemorySource src(view);
  auto pre = receive_stream(src, ro);
  ASSERT_TRUE(pre) << pre.error().message();
  std::uint64_t page_records = 0;
  for (const auto& rec : record_offsets(img))
    if (rec.type == libxc::code(libxc::RecordType::page_data)) ++page_records;
  std::uint64_t mapped = 0;
  for (const PageOp& op : plan.ops()) {
    EXPECT_TRUE(op.kind == PageOp::Kind::populate || op.kind == PageOp::Kind::map)
        << static_cast<int>(op.kind);
    if (op.kind == PageOp::Kind::map) {
      mapped += op.count;
      EXPECT_EQ(op.file_offset % vm::kPageSize, 0U);
    }
  }
  EXPECT_EQ(mapped, pre->stats.data_pages);
  EXPECT_LE(plan.ops().size(), 2 * page_records);
  EXPECT_LT(plan.ops().size(), pre->stats.data_pages / 100);
}

// KVM: the real thing. The guest is paused mid-run, saved with O_DIRECT,
// restored lazily into a fresh domain (memory compared host-side before it
// runs), and finishes its passes with zero errors; the image is unchanged
// although the guest rewrote its whole region after the restore.
class LazyRestoreKvm : public vm::kvm::testing::KvmTest {
 protected:
  struct Saved {
    std::unique_ptr<vm::kvm::KvmDomain> src;  // paused where it was saved; null on failure
    std::string img;                           // vm.img in the test's directory
    SaveStats stats;
  };
  // Boots the built-in guest with `cmd` (console src.log), lets it reach
  // `pass` ("pass N:" on its console) and saves it to vm.img.
  Saved boot_and_save(const std::string& cmd, std::uint32_t vcpus, std::uint64_t mib,
                      const std::string& pass) {
    Saved out;
    auto src = make(cmd, vcpus, "src.log", mib);
    if (!src || !src->start()) {
      ADD_FAILURE() << "the source domain did not start";
      return out;
    }
    if (!wait_console("src.log", pass)) {
      ADD_FAILURE() << "no '" << pass << "': " << read_file(console_path("src.log"));
      return out;
    }
    vm::DomainConfig c;
    c.memory_bytes = mib << 20;
    c.vcpus = vcpus;
    c.cmdline = cmd;
    out.img = console_path("vm.img");
    out.stats = save_to_file(*src, c, vm::Backend::kvm, out.img);
    out.src = std::move(src);
    return out;
  }
};

TEST_F(LazyRestoreKvm, RestoredGuestFinishesCleanAndNeverWritesTheImage) {
  auto [src, img, st] = boot_and_save("passes=8 mib=24 ws=24 io=gp", 2, 64, "pass 3:");
  ASSERT_NE(src, nullptr);
  ASSERT_EQ(src->state(), vm::RunState::paused);
  const auto before = read_all(img);
  ASSERT_EQ(before.size(), st.bytes);

  RestoreOptions o;
  o.console = console_path("dst.log");
  auto r = restore_image(img, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stats.data_pages, st.pages.data_pages);
  EXPECT_EQ(r->stats.mapped_pages, r->stats.data_pages);
  std::string why;
  EXPECT_TRUE(same_memory(*src, *r->domain, &why)) << why;
  src->shutdown();

  ASSERT_TRUE(r->domain->resume());
  auto e = r->domain->wait_exit(vm::kvm::testing::kGuestTimeout);
  ASSERT_TRUE(e && *e) << read_file(console_path("dst.log"));
  const std::string log = read_file(console_path("dst.log"));
  EXPECT_EQ((*e)->value, 0U) << log;
  EXPECT_NE(log.find("tern-guest: done, passes=8 errors=0"), std::string::npos) << log;
  EXPECT_EQ(log.find("tern-guest: start"), std::string::npos) << "booted again:\n" << log;
  r->domain->shutdown();
  r->domain.reset();
  EXPECT_EQ(read_all(img), before) << "the guest's writes reached the image";
}

// The domain is created (irqchip, PIT, vCPUs on threads of their own) while
// the image is validated; an image found corrupt at its very end must still
// be refused before any vCPU entered KVM_RUN, and the domain be gone.
TEST_F(LazyRestoreKvm, CorruptImageIsRefusedBeforeAnyVcpuRuns) {
  auto [src, img, st] = boot_and_save("passes=8 mib=8 ws=8 io=gp", 2, 64, "pass 2:");
  ASSERT_NE(src, nullptr);
  src->shutdown();
  auto bytes = read_all(img);
  const auto recs = record_offsets(img);
  RecordAt last_pages{0, 0, 0}, ctx{0, 0, 0};
  for (const auto& rec : recs) {
    if (rec.type == libxc::code(libxc::RecordType::page_data)) last_pages = rec;
    if (rec.type == libxc::code(libxc::RecordType::hvm_context)) ctx = rec;
  }
  ASSERT_GT(last_pages.offset, 0U);
  ASSERT_GT(ctx.offset, 0U);
  struct Case {
    const char* what;
    std::vector<char> bytes;
  };
  std::vector<Case> cases{{"last page record: pfn BROKEN", bytes},
                          {"state blob corrupted", bytes},
                          {"truncated before the end", bytes}};
  cases[0].bytes[last_pages.offset + 16 + 7] = static_cast<char>(0xd0);
  cases[1].bytes[ctx.offset + 8] ^= static_cast<char>(0xff);
  cases[2].bytes.resize(bytes.size() - 4);
  for (const auto& k : cases) {
    SCOPED_TRACE(k.what);
    const std::string bad = console_path("bad.img");
    write_all(bad, k.bytes);
    trace::clear();
    RestoreOptions o;
    o.console = console_path("bad.log");
    auto r = restore_image(bad, o);
    ASSERT_FALSE(r) << "accepted";
    ASSERT_EQ(trace::dropped(), 0U);
    bool created = false, ran = false;
    for (const trace::Span& s : trace::spans()) {
      created = created || s.name == "kvm.create_vm";
      ran = ran || s.name.find("first_run") != std::string_view::npos;
    }
    EXPECT_TRUE(created) << "no domain was created in parallel: the test lost its point";
    EXPECT_FALSE(ran) << "a vCPU entered KVM_RUN for a refused image";
    EXPECT_EQ(read_file(console_path("bad.log")), "");
  }
}

// A 4 GiB guest working above the 3-4 GiB hole (its frames from 4 GiB up):
// the image is accepted (frames up to 5 GiB exist on KVM), the untouched
// gigabytes cost nothing to save or restore, and the guest finishes clean.
TEST_F(LazyRestoreKvm, GuestAboveTheMmioHoleRoundTrips) {
  auto [src, img, st] = boot_and_save("passes=6 mib=16 base=0x100000000 io=gp", 1, 4096, "pass 2:");
  ASSERT_NE(src, nullptr);
  EXPECT_LT(st.pages.data_pages, 16384U);  // the region, the image, tables: not 4 GiB
  EXPECT_GT(st.pages.zero_pages, 1000000U);
  src->shutdown();
  RestoreOptions o;
  o.console = console_path("dst.log");
  auto r = restore_image(img, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->stats.mapped_pages, st.pages.data_pages);
  ASSERT_TRUE(r->domain->resume());
  auto e = r->domain->wait_exit(vm::kvm::testing::kGuestTimeout);
  ASSERT_TRUE(e && *e) << read_file(console_path("dst.log"));
  const std::string log = read_file(console_path("dst.log"));
  EXPECT_EQ((*e)->value, 0U) << log;
  EXPECT_NE(log.find("tern-guest: done, passes=6 errors=0"), std::string::npos) << log;
}

}  // namespace
}  // namespace tern::migrate

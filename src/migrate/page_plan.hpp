// What a stream's PAGE_DATA records do to guest memory, recorded while the
// stream is validated and applied to the domain afterwards.
//
// A restore from a file walks the image once: the validating pass records,
// record by record, the memory-map changes (populate, XTAB removals) and the
// contents (map the payload from the file, copy it, or zero a re-sent frame)
// as a list of operations in stream order, merging each with the previous
// one when it continues it (the same kind, the next frame and, for file
// payloads, the next page of the file). Applying the list afterwards does the
// same as applying every record as it was read (receiver.cpp's streaming
// path), but needs no second walk over the image, does its work per extent
// instead of per page, and lets the walk run while the domain is still being
// created: nothing touches a domain until the whole image was validated.
#pragma once

#include <cstdint>
#include <vector>

#include "migrate/receiver.hpp"
#include "stream/libxc/reader.hpp"
#include "vm/memory_map.hpp"

namespace tern::migrate {

// Each mapped run is a mapping of its own in the VMM (Linux allows about
// 65530 per process by default); past this many runs, pages are copied.
inline constexpr std::uint64_t kMaxMappedRuns = 16384;

// The stream as a whole file: its mapping (the bytes the ByteSource reads)
// and a descriptor of it for Domain::map_file.
struct MappedImage {
  int fd = -1;
  Bytes bytes;
};

struct PageOp {
  enum class Kind : std::uint8_t { populate, depopulate, zero, map, copy };
  Kind kind = Kind::populate;
  std::uint64_t pfn = 0;
  std::uint64_t count = 0;
  std::uint64_t file_offset = 0;  // map, copy: where the first page's payload is in the image
  // The record the operation came from (the first one, when merged), for
  // error messages.
  std::uint64_t record_offset = 0;
  std::uint64_t record_index = 0;
};

class PagePlan {
 public:
  // `image`: the whole image file mapped (its bytes hold the records that
  // will be added, and the payloads that copy operations read).
  explicit PagePlan(MappedImage image) : image_(image) {}

  // Adds the operations of a validated PAGE_DATA record whose payload is a
  // view into the image (not skipped): ReceiverOptions::on_page_data.
  Expected<void> add(const stream::libxc::Record& r, const stream::libxc::PageData& pd);

  // Applies the operations to `d` in order. Map operations become
  // Domain::map_file calls; if the backend cannot map (Errc::unsupported),
  // they and all later ones are copied instead. Counts mapped pages, runs and
  // the time spent mapping into `stats`. The image must still be mapped.
  Expected<void> apply(vm::Domain& d, ReceiveStats& stats) const;

  [[nodiscard]] const std::vector<PageOp>& ops() const { return ops_; }
  [[nodiscard]] const MappedImage& image() const { return image_; }

 private:
  // The shorter way for a record of consecutive frames, none an XTAB, none
  // present yet; false (nothing added) for any other record.
  bool add_fresh_run(const stream::libxc::PageData& pd, std::uint64_t payload);
  void push(PageOp::Kind kind, std::uint64_t pfn, std::uint64_t count, std::uint64_t file_offset);
  // Whether a data page at `file_offset` for `pfn` can be mapped: it is
  // 4 KiB-aligned in the file and continues the last map operation, or a new
  // one is still allowed (kMaxMappedRuns).
  [[nodiscard]] bool mappable(std::uint64_t pfn, std::uint64_t file_offset) const;

  MappedImage image_;
  std::vector<PageOp> ops_;
  vm::MemoryMap map_;  // the destination's map as the operations so far leave it
  std::vector<bool> was_present_;
  std::uint64_t map_runs_ = 0;
  std::uint64_t record_offset_ = 0, record_index_ = 0;  // the record being added
};

}  // namespace tern::migrate

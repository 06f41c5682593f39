// Saving a domain: HEADER, then every registered type in ascending typecode
// order (per-vCPU types once per vCPU, global types once), then END. Each
// save handler writes zero or one record through a RecordWriter.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "stream/domctx/domain.hpp"
#include "stream/domctx/registry.hpp"
#include "stream/domctx/writer.hpp"

namespace tern::stream::domctx {

struct ProducerVersion {
  std::uint32_t major = TERN_VERSION_MAJOR;
  std::uint32_t minor = TERN_VERSION_MINOR;
};

// Writes the whole blob into `w` (a buffer writer or a dry-run writer).
// Handler errors and handler misuse (a record left open, two records for
// one instance) are returned naming the type and instance.
Expected<void> save(const Registry& reg, const DomainShape& dom, BlobWriter& w, ProducerVersion v = {});

// The blob, in a vector written in place (no second copy of any body).
Expected<std::vector<std::byte>> save_blob(const Registry& reg, const DomainShape& dom, ProducerVersion v = {});

// Replaces the contents of `out` with the blob, keeping its capacity: a VMM
// that saves repeatedly (checkpoints, live update) reuses one buffer and
// avoids regrowing and page-faulting a fresh one each time.
Expected<void> save_into(const Registry& reg, const DomainShape& dom, std::vector<std::byte>& out,
                         ProducerVersion v = {});

// Dry run: runs every handler against a counting writer and returns the
// exact size save_blob would produce.
Expected<std::uint64_t> save_size(const Registry& reg, const DomainShape& dom, ProducerVersion v = {});

}  // namespace tern::stream::domctx

// Restore from an image file. A regular file is read twice: first a
// validate-only pass (page payloads skipped, so it costs little), which
// refuses a corrupt or truncated image, one this host's CPU cannot run, one
// needing more memory than the host has, or one with a record tern cannot
// restore, all before any domain exists; then the real pass into a new
// domain, whose check_state() has also approved the saved state before any
// memory was touched. Pipes are read once (errors then discard the domain).
//
// The real pass over a regular file is lazy by default: page payloads that
// sit 4 KiB-aligned in the file (all of them in tern's images) are mapped
// into the guest copy-on-write instead of read (receiver.hpp), so the VM
// runs after reading only the stream's structure, and each page is read
// from the file when the guest first touches it. The image must then stay
// unchanged while the VM runs (replacing it by rename, as tern save does,
// is fine). `copy` reads every payload into guest memory instead.
#pragma once

#include <optional>
#include <string>

#include "migrate/receiver.hpp"

namespace tern::migrate {

struct RestoreOptions {
  std::optional<vm::Backend> backend;  // default: the backend that saved the image
  std::string console;                 // the restored guest's COM1 ("" stdout, "-" discard)
  bool copy = false;                   // read page data instead of mapping the image
};

Expected<ReceiveResult> restore_image(const std::string& path, const RestoreOptions& opts);

// MemAvailable from /proc/meminfo (bytes); nullopt if it cannot be read.
[[nodiscard]] std::optional<std::uint64_t> host_available_memory();

}  // namespace tern::migrate

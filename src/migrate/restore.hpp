// Restore from an image file. A regular file is read twice: first a
// validate-only pass (page payloads skipped, so it costs little), which
// refuses a corrupt or truncated image, one this host's CPU cannot run, one
// needing more memory than the host has, or one with a record tern cannot
// restore, all before any domain exists; then the real pass into a new
// domain, whose check_state() has also approved the saved state before any
// memory was touched. Pipes are read once (errors then discard the domain).
#pragma once

#include <optional>
#include <string>

#include "migrate/receiver.hpp"

namespace tern::migrate {

struct RestoreOptions {
  std::optional<vm::Backend> backend;  // default: the backend that saved the image
  std::string console;                 // the restored guest's COM1 ("" stdout, "-" discard)
};

Expected<ReceiveResult> restore_image(const std::string& path, const RestoreOptions& opts);

// MemAvailable from /proc/meminfo (bytes); nullopt if it cannot be read.
[[nodiscard]] std::optional<std::uint64_t> host_available_memory();

}  // namespace tern::migrate

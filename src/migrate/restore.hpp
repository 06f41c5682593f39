// Restore from an image file. A regular file is mapped and walked once by
// the validating reader, which refuses a corrupt or truncated image, one
// this host's CPU cannot run, or one with a record tern cannot restore, and
// records what its pages do (page_plan.hpp); then the host's memory is
// checked, and only then does anything reach the domain. The domain is
// created from the image's config before that walk, so that a KVM domain's
// kernel-side devices come up meanwhile (kvm_domain.hpp); a refused image's
// domain is destroyed without ever running. Pipes are read once (errors
// then discard the domain).
//
// A regular file is restored lazily by default: page payloads that sit
// 4 KiB-aligned in the file (all of them in tern's images) are mapped into
// the guest copy-on-write instead of read, so the VM runs after reading only
// the stream's structure, and each page is read from the file when the
// guest first touches it. The image must then stay unchanged while the VM
// runs (replacing it by rename, as tern save does, is fine). `copy` reads
// every payload into guest memory instead (after check_state()).
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

// Where the guest's COM1 output goes: a file (truncated), stdout, or nowhere.
// Bytes are buffered per line, so concurrent vCPUs and the VMM's own output
// interleave by lines, and a file can be followed while the guest runs.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace tern::vm::kvm {

class Console {
 public:
  // spec: "" = stdout, "-" = discard, anything else = a file path.
  static Expected<Console> open(const std::string& spec);
  Console(Console&& o) noexcept
      : fd_(std::move(o.fd_)), discard_(o.discard_), line_(std::move(o.line_)) {}
  ~Console() { flush(); }

  void put(char c);
  void flush();

 private:
  Console() = default;
  void flush_locked();
  std::mutex mu_;
  UniqueFd fd_;  // invalid: stdout
  bool discard_ = false;
  std::string line_;
};

}  // namespace tern::vm::kvm

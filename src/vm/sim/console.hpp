// The sim guest's COM1: lines go to a file, stdout ("" ), or nowhere ("-"),
// and the last 1 MiB is kept in memory for tests.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace tern::vm::sim {

class Console {
 public:
  // truncate: a booting guest starts a fresh console file; a restored one
  // continues (appends to) it.
  static Expected<std::unique_ptr<Console>> open(const std::string& path, bool truncate);
  void write(std::string_view text);
  [[nodiscard]] std::string text() const;

 private:
  Console(UniqueFd fd, int out) : owned_(std::move(fd)), out_(out) {}
  static constexpr std::size_t kKeep = 1 << 20;
  UniqueFd owned_;
  int out_;  // -1: discard
  mutable std::mutex mu_;
  std::string kept_;
};

}  // namespace tern::vm::sim

// Errors are values: every fallible operation returns tern::Expected<T>.
// An Error carries a category (what kind of failure, used for exit codes and
// tests) and a message a user can act on (what, and where: offset, record, path).
#pragma once

#include <expected>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace tern {

enum class Errc {
  invalid,      // input violates a format or protocol rule
  truncated,    // input ended early
  unsupported,  // valid but not handled by this build/host
  io,           // an OS call failed
  usage,        // the caller asked for something impossible
  internal,     // a bug in tern (never expected in production)
};

class Error {
 public:
  Error(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  [[nodiscard]] Errc code() const { return code_; }
  [[nodiscard]] const std::string& message() const { return message_; }

  // Prefixes context ("while reading FILE: ...") keeping the category.
  [[nodiscard]] Error context(std::string_view what) const& {
    return Error(code_, fmt::format("{}: {}", what, message_));
  }

 private:
  Errc code_;
  std::string message_;
};

template <typename T = void>
using Expected = std::expected<T, Error>;

// make_error(Errc::invalid, "offset {}: bad magic", off)
template <typename... Args>
[[nodiscard]] std::unexpected<Error> make_error(Errc code, fmt::format_string<Args...> f,
                                                Args&&... args) {
  return std::unexpected(Error(code, fmt::format(f, std::forward<Args>(args)...)));
}

// Error from errno, naming the operation (and path, if any).
[[nodiscard]] std::unexpected<Error> errno_error(std::string_view what, int err);

}  // namespace tern

// Propagates an error out of the current function, LLVM-style:
//   TERN_TRY(sink.write(bytes));
//   TERN_TRY_ASSIGN(auto hdr, reader.read_header());
#define TERN_TRY(expr)                                        \
  do {                                                        \
    if (auto tern_try_r_ = (expr); !tern_try_r_)              \
      return std::unexpected(std::move(tern_try_r_).error()); \
  } while (0)

#define TERN_CONCAT_INNER_(a, b) a##b
#define TERN_CONCAT_(a, b) TERN_CONCAT_INNER_(a, b)
// tmp and decl are a name and a declaration: they cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define TERN_TRY_ASSIGN_IMPL_(tmp, decl, expr)              \
  auto tmp = (expr);                                        \
  if (!tmp) return std::unexpected(std::move(tmp).error()); \
  decl = std::move(*tmp)
#define TERN_TRY_ASSIGN(decl, expr) \
  TERN_TRY_ASSIGN_IMPL_(TERN_CONCAT_(tern_try_v_, __LINE__), decl, expr)
// NOLINTEND(bugprone-macro-parentheses)

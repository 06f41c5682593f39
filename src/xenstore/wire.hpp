// Xenstore wire protocol (xs_wire.h facts): message header, types, errno
// names, and a total request parser. No OS calls: used by the server, the
// tests and the fuzzers alike.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tern::xs {

enum class Type : std::uint32_t {
  control = 0, directory = 1, read = 2, get_perms = 3, watch = 4, unwatch = 5,
  transaction_start = 6, transaction_end = 7, introduce = 8, release = 9,
  get_domain_path = 10, write = 11, mkdir = 12, rm = 13, set_perms = 14,
  watch_event = 15, error = 16, is_domain_introduced = 17, resume = 18,
  set_target = 19, /* 20 was RESTRICT, removed */ reset_watches = 21,
  directory_part = 22, get_feature = 23, set_feature = 24, get_quota = 25,
  set_quota = 26,
};
inline constexpr std::uint32_t kTypeCount = 27;

inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::size_t kPayloadMax = 4096;    // XENSTORE_PAYLOAD_MAX
inline constexpr std::size_t kAbsPathMax = 3072;    // XENSTORE_ABS_PATH_MAX
inline constexpr std::size_t kRelPathMax = 2048;    // XENSTORE_REL_PATH_MAX

// The errno values a reply may name (xsd_errors), sent as their names.
enum class Err : std::uint8_t {
  einval, eacces, eexist, eisdir, enoent, enomem, enospc, eio, enotempty,
  enosys, erofs, ebusy, eagain, eisconn, e2big, eperm,
};
std::string_view err_name(Err e);

template <typename T = void>
using Result = std::expected<T, Err>;
inline std::unexpected<Err> fail(Err e) { return std::unexpected(e); }

std::string_view type_name(std::uint32_t type);

struct Header {
  std::uint32_t type = 0;
  std::uint32_t req_id = 0;
  std::uint32_t tx_id = 0;
  std::uint32_t len = 0;
};

// Decodes a header from at least kHeaderSize bytes (little-endian host order,
// as on the socket). Returns nullopt if fewer bytes are available.
std::optional<Header> decode_header(std::span<const std::uint8_t> bytes);

// Why a byte stream cannot continue; the connection is dropped.
enum class FrameError { payload_too_long };

// A fully received request: header plus payload bytes.
struct Message {
  Header hdr;
  std::string payload;
};

// Requests carry a handful of arguments: up to kInline are kept in place, so
// splitting a request costs no allocation; more (a long SET_PERMS) move to
// the heap.
class ArgList {
 public:
  static constexpr std::size_t kInline = 8;
  ArgList() = default;
  ArgList(const ArgList& o) { *this = o; }
  ArgList& operator=(const ArgList& o) {
    if (this != &o) {
      n_ = 0;
      heap_.clear();
      for (std::string_view s : o) push_back(s);
    }
    return *this;
  }

  void push_back(std::string_view s) {
    if (n_ < kInline) {
      inline_[n_++] = s;
      return;
    }
    if (n_ == kInline) heap_.assign(inline_.begin(), inline_.end());
    heap_.push_back(s);
    ++n_;
  }
  [[nodiscard]] std::size_t size() const { return n_; }
  [[nodiscard]] bool empty() const { return n_ == 0; }
  [[nodiscard]] const std::string_view* data() const {
    return n_ > kInline ? heap_.data() : inline_.data();
  }
  [[nodiscard]] const std::string_view* begin() const { return data(); }
  [[nodiscard]] const std::string_view* end() const { return data() + n_; }
  const std::string_view& operator[](std::size_t i) const { return data()[i]; }
  [[nodiscard]] const std::string_view& at(std::size_t i) const {
    if (i >= n_) throw std::out_of_range("ArgList::at");
    return data()[i];
  }

 private:
  std::array<std::string_view, kInline> inline_{};
  std::vector<std::string_view> heap_;  // all of them, once there are more than kInline
  std::size_t n_ = 0;
};

// Splits a payload at NUL bytes. Returns the NUL-terminated strings and, if the
// payload does not end in a NUL, the trailing unterminated part.
struct Args {
  ArgList strings;                       // each was followed by a NUL
  std::optional<std::string_view> tail;  // bytes after the last NUL, if any
};
Args split_args(std::string_view payload);

// Appends one message (header + payload) to an output byte buffer.
void append_message(std::string& out, std::uint32_t type, std::uint32_t req_id,
                    std::uint32_t tx_id, std::string_view payload);
void append_error(std::string& out, std::uint32_t req_id, std::uint32_t tx_id, Err e);

}  // namespace tern::xs

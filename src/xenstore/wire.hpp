// Xenstore wire protocol (xs_wire.h facts): message header, types, errno
// names, and a total request parser. No OS calls: used by the server, the
// tests and the fuzzers alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
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

// Splits a payload at NUL bytes. Returns the NUL-terminated strings and, if the
// payload does not end in a NUL, the trailing unterminated part.
struct Args {
  std::vector<std::string_view> strings;   // each was followed by a NUL
  std::optional<std::string_view> tail;    // bytes after the last NUL, if any
};
Args split_args(std::string_view payload);

// Appends one message (header + payload) to an output byte buffer.
void append_message(std::string& out, std::uint32_t type, std::uint32_t req_id,
                    std::uint32_t tx_id, std::string_view payload);
void append_error(std::string& out, std::uint32_t req_id, std::uint32_t tx_id, Err e);

}  // namespace tern::xs

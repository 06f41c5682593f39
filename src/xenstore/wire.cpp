#include "xenstore/wire.hpp"

#include <array>
#include <cstring>

namespace tern::xs {

std::string_view err_name(Err e) {
  static constexpr std::array<std::string_view, 16> kNames = {
      "EINVAL", "EACCES", "EEXIST", "EISDIR", "ENOENT", "ENOMEM", "ENOSPC", "EIO",
      "ENOTEMPTY", "ENOSYS", "EROFS", "EBUSY", "EAGAIN", "EISCONN", "E2BIG", "EPERM"};
  auto i = static_cast<std::size_t>(e);
  return i < kNames.size() ? kNames[i] : "EINVAL";
}

std::string_view type_name(std::uint32_t type) {
  static constexpr std::array<std::string_view, kTypeCount> kNames = {
      "CONTROL", "DIRECTORY", "READ", "GET_PERMS", "WATCH", "UNWATCH",
      "TRANSACTION_START", "TRANSACTION_END", "INTRODUCE", "RELEASE",
      "GET_DOMAIN_PATH", "WRITE", "MKDIR", "RM", "SET_PERMS", "WATCH_EVENT",
      "ERROR", "IS_DOMAIN_INTRODUCED", "RESUME", "SET_TARGET", "RESTRICT",
      "RESET_WATCHES", "DIRECTORY_PART", "GET_FEATURE", "SET_FEATURE",
      "GET_QUOTA", "SET_QUOTA"};
  return type < kNames.size() ? kNames[type] : "UNKNOWN";
}

std::optional<Header> decode_header(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) return std::nullopt;
  std::array<std::uint32_t, 4> w{};
  std::memcpy(w.data(), bytes.data(), kHeaderSize);
  return Header{w[0], w[1], w[2], w[3]};
}

Args split_args(std::string_view payload) {
  Args a;
  std::size_t pos = 0;
  while (pos < payload.size()) {
    auto nul = payload.find('\0', pos);
    if (nul == std::string_view::npos) {
      a.tail = payload.substr(pos);
      break;
    }
    a.strings.push_back(payload.substr(pos, nul - pos));
    pos = nul + 1;
  }
  return a;
}

void append_message(std::string& out, std::uint32_t type, std::uint32_t req_id,
                    std::uint32_t tx_id, std::string_view payload) {
  std::array<std::uint32_t, 4> w{type, req_id, tx_id, static_cast<std::uint32_t>(payload.size())};
  out.append(reinterpret_cast<const char*>(w.data()), kHeaderSize);
  out.append(payload);
}

void append_error(std::string& out, std::uint32_t req_id, std::uint32_t tx_id, Err e) {
  std::string p(err_name(e));
  p.push_back('\0');
  append_message(out, static_cast<std::uint32_t>(Type::error), req_id, tx_id, p);
}

}  // namespace tern::xs

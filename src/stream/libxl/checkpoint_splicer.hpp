// Lets a libxl writer regain control at each libxc CHECKPOINT without the
// libxc producer knowing about libxl: a ByteSink that forwards a libxc
// stream unchanged to `target`, following its record framing as the bytes
// pass, and calls `hook(target)` right after each complete CHECKPOINT record
// (where the libxl layer writes its checkpoint records and CHECKPOINT_END).
// Payloads are never copied: parts are forwarded as given, split at most
// once per CHECKPOINT.
#pragma once

#include <array>
#include <functional>

#include "core/byte_sink.hpp"

namespace tern::stream::libxl {

class CheckpointSplicer final : public ByteSink {
 public:
  using Hook = std::function<Expected<void>(ByteSink&)>;
  CheckpointSplicer(ByteSink& target, Hook hook) : target_(target), hook_(std::move(hook)) {}

  Expected<void> write_gather(std::span<const Bytes> parts) override;
  // The target's count: offsets stay true file offsets.
  [[nodiscard]] std::uint64_t bytes_written() const override { return target_.bytes_written(); }
  [[nodiscard]] std::uint64_t checkpoints() const { return checkpoints_; }

 private:
  // Consumes up to b.size() bytes of framing state; returns how many were
  // consumed and sets `checkpoint_done` when a CHECKPOINT record just ended.
  std::size_t advance(Bytes b, bool& checkpoint_done);

  ByteSink& target_;
  Hook hook_;
  std::uint64_t headers_left_ = 40;  // libxc image + domain header
  std::array<std::byte, 8> rec_hdr_{};
  std::size_t rec_hdr_have_ = 0;
  std::uint64_t body_left_ = 0;  // body + padding of the current record
  bool in_body_ = false;
  std::uint32_t type_ = 0;
  std::uint64_t checkpoints_ = 0;
};

}  // namespace tern::stream::libxl

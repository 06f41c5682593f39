#include "stream/libxl/checkpoint_splicer.hpp"

#include <algorithm>
#include <vector>

#include "stream/libxc/format.hpp"
#include "stream/record_framing.hpp"

namespace tern::stream::libxl {

std::size_t CheckpointSplicer::advance(Bytes b, bool& checkpoint_done) {
  checkpoint_done = false;
  std::size_t used = 0;
  while (used < b.size() && !checkpoint_done) {
    Bytes rest = b.subspan(used);
    if (headers_left_ > 0) {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(headers_left_, rest.size()));
      headers_left_ -= n;
      used += n;
    } else if (!in_body_) {
      std::size_t n = std::min(rest.size(), rec_hdr_.size() - rec_hdr_have_);
      std::copy_n(rest.begin(), n, rec_hdr_.begin() + static_cast<long>(rec_hdr_have_));
      rec_hdr_have_ += n;
      used += n;
      if (rec_hdr_have_ == rec_hdr_.size()) {
        rec_hdr_have_ = 0;
        type_ = load_le<std::uint32_t>(rec_hdr_.data());
        auto len = load_le<std::uint32_t>(rec_hdr_.data() + 4);
        body_left_ = len + record_padding(len);
        in_body_ = true;
      }
    } else {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, rest.size()));
      body_left_ -= n;
      used += n;
    }
    if (in_body_ && body_left_ == 0) {
      in_body_ = false;
      checkpoint_done = type_ == libxc::code(libxc::RecordType::checkpoint);
    }
  }
  return used;
}

Expected<void> CheckpointSplicer::write_gather(std::span<const Bytes> parts) {
  std::vector<Bytes> pending;
  pending.reserve(parts.size());
  for (Bytes p : parts) {
    while (!p.empty()) {
      bool checkpoint = false;
      std::size_t n = advance(p, checkpoint);
      pending.push_back(p.first(n));
      p = p.subspan(n);
      if (checkpoint) {
        TERN_TRY(target_.write_gather(pending));
        pending.clear();
        ++checkpoints_;
        TERN_TRY(hook_(target_));
      }
    }
  }
  if (pending.empty()) return {};
  return target_.write_gather(pending);
}

}  // namespace tern::stream::libxl

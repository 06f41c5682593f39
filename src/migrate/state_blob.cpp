#include "migrate/state_blob.hpp"

#include "stream/domctx/loader.hpp"
#include "stream/domctx/save.hpp"

namespace tern::migrate {

using stream::domctx::Registry;
using stream::domctx::StateImage;

Expected<std::vector<std::byte>> encode_state(const StateImage& img) {
  StateImage copy = img;  // the registry's handlers bind to a mutable image
  Registry reg;
  TERN_TRY(register_state_image(reg, copy));
  return save_blob(reg, copy.shape());
}

Expected<StateImage> decode_state(Bytes blob, std::uint32_t vcpus) {
  StateImage img;
  img.vcpus.resize(vcpus);
  Registry reg;
  TERN_TRY(register_state_image(reg, img));
  auto st = load(reg, img.shape(), blob);
  if (!st) return std::unexpected(st.error().context("domain-context blob"));
  return img;
}

}  // namespace tern::migrate

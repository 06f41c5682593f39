// Fuzzes the domain-context loader and tools: any byte sequence must load,
// verify and describe to a value or a clean error; never a crash, leak or
// out-of-bounds read. A blob that loads must also re-save to a blob that
// loads to the same state (the load -> save path is exercised too).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "stream/domctx/describe.hpp"
#include "stream/domctx/loader.hpp"
#include "stream/domctx/save.hpp"
#include "stream/domctx/state_image.hpp"

using namespace tern::stream::domctx;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tern::Bytes in(reinterpret_cast<const std::byte*>(data), size);
  (void)looks_like_domctx(in);
  (void)verify(in);
  (void)describe(in);

  StateImage img;
  img.vcpus.resize(4);
  Registry reg;
  if (!register_state_image(reg, img)) std::abort();
  if (!load(reg, img.shape(), in)) return 0;

  // Round trip what was loaded.
  auto blob = save_blob(reg, img.shape());
  if (!blob) std::abort();
  StateImage again;
  again.vcpus.resize(4);
  Registry reg2;
  if (!register_state_image(reg2, again)) std::abort();
  if (!load(reg2, again.shape(), *blob)) std::abort();
  if (!(again == img)) std::abort();
  return 0;
}

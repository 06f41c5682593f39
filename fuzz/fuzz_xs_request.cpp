// Fuzzes the request path: arbitrary bytes arrive on a connection (split at
// a fuzzer-chosen point) and go through framing, parsing and dispatch. Any
// input must yield replies, errors or a dropped connection, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "xenstore/daemon.hpp"
#include "xenstore/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)tern::xs::split_args(bytes);
  (void)tern::xs::decode_header(std::span(data, size));

  tern::xs::Daemon d;
  d.control_may_write_files =
      false;  // CONTROL logfile/memreport would create files named by the input
  auto& c = d.add_connection(nullptr);
  std::size_t cut = size ? data[0] % (size + 1) : 0;
  c.in.append(bytes.substr(0, cut));
  if (!d.process_input(c)) return 0;
  c.in.append(bytes.substr(cut));
  (void)d.process_input(c);
  d.consumed_output(c, c.pending_out());
  return 0;
}

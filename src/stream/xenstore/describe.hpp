// Tool-facing views of a xenstore image: `tern inspect --format xenstore`
// (describe), `tern verify --format xenstore` (verify) and format
// auto-detection (looks_like_xenstore_image).
#pragma once

#include <array>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/xenstore/image_format.hpp"

namespace tern::stream::xenstore {

struct Summary {
  std::uint32_t version = 0;
  bool big_endian = false;
  std::uint64_t bytes = 0;    // image size
  std::uint64_t records = 0;  // including END
  std::array<std::uint64_t, kRecordTypeSlots> per_type{};  // indexed by record_type_slot()
  std::uint64_t pending_nodes = 0;      // NODE_DATA of open transactions
  std::uint64_t padding_in_length = 0;  // records whose len counted their padding (Xen C xenstored)

  [[nodiscard]] std::uint64_t count(RecordType t) const { return per_type[record_type_slot(t)]; }
};

// Every record with its offset, type name, len and decoded fields. Strings
// and data that are not printable ASCII are escaped (\xNN), so the JSON is
// always valid UTF-8. Fails on the first rule broken, like verify().
[[nodiscard]] Expected<nlohmann::json> describe(Bytes image);

// Strict validation of a whole image; counts per record type.
[[nodiscard]] Expected<Summary> verify(Bytes image);

// Same, as JSON ({"format":"xenstore","version":..,"records":{"NODE_DATA":n,..}}).
[[nodiscard]] nlohmann::json summary_json(const Summary& s);

// True when the prefix (any length) can be the start of a xenstore image:
// the "xenstore" ident and, when present, a known version and valid flags.
[[nodiscard]] bool looks_like_xenstore_image(Bytes prefix);

// Escapes octets for display: printable ASCII stays, '\\' and the rest become \xNN.
[[nodiscard]] std::string escape_octets(Bytes b);

}  // namespace tern::stream::xenstore

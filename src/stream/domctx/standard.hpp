// The standard record catalogue: for each state typecode of typecodes.hpp,
// the rules a loader or verifier applies (scope, body sizes, body decoder)
// and a decoder to JSON fields for tools. Used when no domain-specific
// registry is at hand (tern verify / inspect) and by Registry::add_standard.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/domctx/registry.hpp"

namespace tern::stream::domctx {

// nullptr when `typecode` is not a standard state record type.
[[nodiscard]] const TypeRules* standard_rules(std::uint16_t typecode);

// Decodes a (size-checked, zero-extended) body of a standard type into named
// fields; an error when the typecode is not standard or the body is invalid.
[[nodiscard]] Expected<nlohmann::json> standard_fields(std::uint16_t typecode, Bytes body);

// "VCPU_REGS", "HEADER", ... or "typecode-N" for codes not in the table.
[[nodiscard]] std::string typecode_name(std::uint16_t typecode);

}  // namespace tern::stream::domctx

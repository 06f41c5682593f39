// Backend constructors behind create_domain(); each lives in its folder.
#pragma once

#include <memory>

#include "vm/domain.hpp"

namespace tern::vm {
Expected<std::unique_ptr<Domain>> create_sim_domain(const DomainConfig& config);  // sim/
Expected<std::unique_ptr<Domain>> create_kvm_domain(const DomainConfig& config);  // kvm/
}  // namespace tern::vm

// Save: pause -> one round with every populated frame -> the vCPU/VM state
// -> resume (or stay stopped). On any failure the domain is resumed if this
// call paused it, so a failed save never leaves the guest stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "core/byte_sink.hpp"
#include "migrate/image_config.hpp"
#include "migrate/stream_sender.hpp"
#include "vm/domain.hpp"

namespace tern::migrate {

enum class AfterSave { resume, stop };

struct SaveOptions {
  AfterSave then = AfterSave::resume;
  SenderOptions sender;
  // Runs after the last byte was handed to the sink, before the guest
  // resumes (and counted as paused time): a sink still reading guest memory
  // asynchronously finishes here. An error fails the save.
  std::function<Expected<void>()> before_resume;
};

struct SaveStats {
  std::uint64_t bytes = 0;
  RoundStats pages;
  std::chrono::nanoseconds total{0};   // pause request to stream complete (and resumed)
  std::chrono::nanoseconds paused{0};  // guest not running: pause to resume
  std::chrono::nanoseconds state{0};   // reading the vCPU/VM state
};

// `config` describes the domain (the VMM's DomainConfig and backend).
Expected<SaveStats> save_domain(vm::Domain& d, const ImageConfig& config, ByteSink& sink,
                                const SaveOptions& opts = {});

}  // namespace tern::migrate

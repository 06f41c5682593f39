// The running VMM behind `tern run` and `tern restore`: owns the Domain,
// serves the control socket (status, pause, resume, save, quit) on its one
// control thread, and turns the guest's end into the process exit status:
//   0  the guest ended reporting zero errors, or the VM was stopped on
//      request (quit, save with then=stop)
//   1  the guest reported errors (exit value 1..63, or its own failures 0x40..)
//   3  VMM error (the domain failed, the control socket broke)
//   4  (restore) the image was refused: invalid, truncated, or not runnable here
//   128+N  terminated by signal N (SIGINT/SIGTERM): the VM is shut down
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/tern/control_server.hpp"
#include "vm/domain.hpp"

namespace tern::cli {

inline constexpr int kExitGuestErrors = 1;
inline constexpr int kExitVmmError = 3;
inline constexpr int kExitRefused = 4;

class Vmm {
 public:
  Vmm(std::unique_ptr<vm::Domain> domain, vm::DomainConfig config, vm::Backend backend)
      : domain_(std::move(domain)), config_(std::move(config)), backend_(backend) {}

  // Serves `api` (if not empty) until the guest ends or is stopped; returns
  // the exit status above. The domain must be running.
  int run(const std::string& api);

  [[nodiscard]] vm::Domain& domain() { return *domain_; }

 private:
  nlohmann::json handle(const nlohmann::json& req, const ControlServer::Emit& emit);
  nlohmann::json status();
  nlohmann::json save(const nlohmann::json& req);
  // vmm_migrate.cpp: live migration to another tern (tern receive).
  nlohmann::json migrate(const nlohmann::json& req, const ControlServer::Emit& emit);

  std::unique_ptr<vm::Domain> domain_;
  vm::DomainConfig config_;
  vm::Backend backend_;
  bool stop_ = false;
  ControlServer* server_ = nullptr;
  bool migrating_ = false;
  bool cancel_ = false;
};

// "auto" -> the default backend; kvm falls back to sim (with a note on
// stderr) when the KVM backend reports it cannot run here.
Expected<std::unique_ptr<vm::Domain>> create_domain_for(const std::string& backend_name,
                                                        const vm::DomainConfig& cfg,
                                                        vm::Backend* chosen);

// "256M", "1G", "4T", "4096K", "65536" (bytes).
Expected<std::uint64_t> parse_size(std::string_view s);

}  // namespace tern::cli

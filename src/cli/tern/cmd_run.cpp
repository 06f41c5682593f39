// tern run [--backend auto|kvm|sim] [--memory SIZE] [--address-space SIZE]
//          [--vcpus N] [--cmdline STR] [--api SOCKET] [--console FILE] [ELF]
#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/vmm.hpp"
#include "core/log.hpp"

namespace tern::cli {

namespace {

struct RunArgs {
  std::string backend = "auto";
  std::string memory = "256M";
  std::string address_space;
  std::uint32_t vcpus = 1;
  std::string cmdline;
  std::string api;
  std::string console;
  std::string kernel;
};

int run_vm(const RunArgs& a) {
  vm::DomainConfig cfg;
  auto mem = parse_size(a.memory);
  if (!mem) {
    fmt::print(stderr, "tern run: --memory: {}\n", mem.error().message());
    return kExitUsage;
  }
  cfg.memory_bytes = *mem;
  if (!a.address_space.empty()) {
    auto space = parse_size(a.address_space);
    if (!space) {
      fmt::print(stderr, "tern run: --address-space: {}\n", space.error().message());
      return kExitUsage;
    }
    cfg.address_space_bytes = *space;
  }
  cfg.vcpus = a.vcpus;
  cfg.cmdline = a.cmdline;
  cfg.console = a.console;
  cfg.kernel = a.kernel;
  vm::Backend backend = vm::Backend::sim;
  auto d = create_domain_for(a.backend, cfg, &backend);
  if (!d) {
    fmt::print(stderr, "tern run: {}\n", d.error().message());
    return d.error().code() == Errc::usage ? kExitUsage : kExitVmmError;
  }
  if (backend == vm::Backend::sim && !a.kernel.empty()) {
    fmt::print(stderr,
               "tern run: the sim backend runs only the built-in guest's workload, not {}\n",
               a.kernel);
    return kExitUsage;
  }
  log::info("running on the {} backend", vm::backend_name(backend));
  if (auto s = (*d)->start(); !s) {
    fmt::print(stderr, "tern run: starting the VM: {}\n", s.error().message());
    return kExitVmmError;
  }
  Vmm vmm(std::move(*d), cfg, backend);
  return vmm.run(a.api);
}

}  // namespace

void add_run(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "run a VM (the built-in guest by default)");
  cmd->add_option("--backend", a->backend, "auto, kvm or sim")
      ->check(CLI::IsMember({"auto", "kvm", "sim"}))
      ->capture_default_str();
  cmd->add_option("--memory", a->memory, "guest RAM (K/M/G/T suffixes)")->capture_default_str();
  cmd->add_option("--address-space", a->address_space,
                  "guest-physical address space, if larger than the RAM (sparse guests)");
  cmd->add_option("--vcpus", a->vcpus, "vCPUs")->check(CLI::Range(1, 256))->capture_default_str();
  cmd->add_option("--cmdline", a->cmdline,
                  "guest command line (guest/README.md: passes=, mib=, ...)");
  cmd->add_option("--api", a->api, "control socket path (JSON lines)");
  cmd->add_option("--console", a->console, "COM1 output file (default stdout, - discards)");
  cmd->add_option("elf", a->kernel, "Multiboot ELF (default: the built-in guest)");
  cmd->callback([a, &ctx] { ctx.exit_code = run_vm(*a); });
}

}  // namespace tern::cli

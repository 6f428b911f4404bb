#pragma once
// The mode dispatch: builds each mode's providers and runs the serve loop
// (control/serve_loop.hpp) with them; and --cleanup.
#include <string>

#include "control/config.hpp"
#include "control/observability.hpp"
#include "control/serve_loop.hpp"

namespace nicproxy {

/// Runs `config.mode` until SIGINT/SIGTERM or hooks.exitCode; returns the exit code.
/// Start-up failures are logged (critical) and give 1. Mode dpdk in a build without
/// DPDK is refused with the reason. `observability`: what the daemon serves on its HTTP
/// endpoints (control/observability.hpp); its objects outlive the call.
int runMode(Config config, const ServeLoopHooks& hooks, const Observability& observability = {});

/// `nicproxy --cleanup [--config FILE]`: removes what any mode installed in the kernel.
int runCleanup(const std::string& configPath);

}  // namespace nicproxy

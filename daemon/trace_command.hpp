#pragma once
// `nicproxy trace SRC[:PORT] DST:PORT/PROTO`: asks the running nicproxy (DPDK mode) what
// its data path does with that packet, through the EAL's telemetry socket and the
// /nicproxy/trace command (dpdk_app/inspect.hpp). A plain client of a Unix socket: no
// DPDK here.
#include <ostream>
#include <string>

namespace nicproxy {

/// The telemetry socket of the EAL with `filePrefix` (its --file-prefix; DPDK's default
/// is "rte"): /var/run/dpdk/PREFIX/dpdk_telemetry.v2 for root, else under
/// $XDG_RUNTIME_DIR (or /tmp), as the EAL makes it.
std::string telemetrySocketPath(const std::string& filePrefix);

/// Sends `command` (for example "/nicproxy/trace,10.1.0.2 10.96.0.10:80/tcp") to the
/// socket at `path` and returns the JSON reply. Throws std::runtime_error naming the
/// socket when it cannot connect or read.
std::string askTelemetry(const std::string& path, const std::string& command);

/// The subcommand: checks `source` and `destination`, asks, prints the answer to `out`.
/// Returns 0, 1 when the process cannot be asked or answers an error, 2 for bad input.
int runTrace(const std::string& source, const std::string& destination, const std::string& socketPath,
             std::ostream& out, std::ostream& err);

}  // namespace nicproxy

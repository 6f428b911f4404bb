#pragma once
// The exception path's settings (docs/configuration.md, docs/exception-path.md):
// dpdk.ports[].exceptionPath, .exceptionInterface, .exceptionAddresses, and
// dpdk.exception.{packetsPerSecond, burst, ringSize}. Read by parseConfig; the checks
// that span ports (one interface name per port) run once every port is read.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.hpp"
#include "control/json_reader.hpp"

namespace nicproxy {

/// "tap", "virtio-user", "none".
const char* exceptionPathKindName(ExceptionPathKind kind);
std::optional<ExceptionPathKind> exceptionPathKindFromName(std::string_view name);

/// The bounds parseConfig enforces on dpdk.exception.
inline constexpr uint32_t kMaxExceptionPacketsPerSecond = 10000000;
inline constexpr uint32_t kMaxExceptionBurst = 1000000;
inline constexpr uint32_t kMinExceptionRingSize = 64;
inline constexpr uint32_t kMaxExceptionRingSize = 32768;

/// Why `name` cannot be a kernel interface's name, or empty when it can: 1 to 15 bytes
/// (IFNAMSIZ less its terminator), not "." or "..", and only letters, digits, '-', '_'
/// and '.' (Linux refuses '/', ':' and white space; ',' and '=' would break the devargs
/// string the interface is created with).
std::string whyNotAnInterfaceName(std::string_view name);

/// The kernel interface of dpdk.ports[index]: exceptionInterface, or "nicproxy<index>".
std::string exceptionInterfaceName(const DpdkPortConfig& port, size_t index);

/// Reads dpdk.ports[i].exceptionPath, .exceptionInterface and .exceptionAddresses into
/// port.exception. `port.address`/`addressUnresolved` must be read already.
void readPortException(json::ObjectReader& reader, DpdkPortConfig& port);

/// The checks across ports, after every port is read: each port's exception interface
/// name is its own, and is not an interface a DPDK port's device attaches to. Errors
/// name "dpdk.ports[i].exceptionInterface".
std::vector<std::string> exceptionInterfaceErrors(const std::vector<DpdkPortConfig>& ports);

/// dpdk.exception: {"packetsPerSecond": 200000, "burst": 2000, "ringSize": 4096}.
void readExceptionLimits(json::ObjectReader& dpdk, json::Errors& errors, ExceptionLimitsConfig& limits);

}  // namespace nicproxy

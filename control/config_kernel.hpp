#pragma once
// The configuration sections of the kernel dataplanes (iptables, nftables, ipvs) and
// dpdk.kernelFallback, read by parseConfig; kept apart from config.cpp so the DPDK
// sections and these grow independently.
#include <chrono>
#include <string_view>

#include "control/config.hpp"
#include "control/json_reader.hpp"

namespace nicproxy {

/// Reads `iptables`, `nftables` and `ipvs` from the top-level object.
void readKernelSections(json::ObjectReader& top, json::Errors& errors, Config& config);
/// Reads `dpdk.kernelFallback`.
void readKernelFallback(json::ObjectReader& dpdk, DpdkConfig& config);
const char* kernelFallbackName(KernelFallback fallback);
/// Reads a Go duration string field (see duration.hpp) into `out`, or records an error
/// naming the key. Shared by every section with a duration.
void readDurationField(json::ObjectReader& reader, std::string_view key, std::chrono::milliseconds& out);

}  // namespace nicproxy

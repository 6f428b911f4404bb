#pragma once
// The configuration sections of the kernel dataplanes (iptables, nftables, ipvs) and
// dpdk.kernelFallback, read by parseConfig; kept apart from config.cpp so the DPDK
// sections and these grow independently.
#include "control/config.hpp"
#include "control/json_reader.hpp"

namespace nicproxy {

/// Reads `iptables`, `nftables` and `ipvs` from the top-level object.
void readKernelSections(json::ObjectReader& top, json::Errors& errors, Config& config);
/// Reads `dpdk.kernelFallback`.
void readKernelFallback(json::ObjectReader& dpdk, DpdkConfig& config);
const char* kernelFallbackName(KernelFallback fallback);

}  // namespace nicproxy

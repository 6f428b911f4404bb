#pragma once
// The configuration sections of the kernel dataplanes (iptables, nftables, ipvs) and
// dpdk.kernelFallback, read by parseConfig; kept apart from config.cpp so the DPDK
// sections and these grow independently.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.hpp"
#include "control/json_reader.hpp"

namespace nicproxy {

/// Reads `iptables`, `nftables` and `ipvs` from the top-level object; kube-proxy's fields
/// there that nicproxy ignores go to `ignored` (config_kube.hpp).
void readKernelSections(json::ObjectReader& top, json::Errors& errors, std::vector<std::string>& ignored,
                        Config& config);
/// Reads `dpdk.kernelFallback`.
void readKernelFallback(json::ObjectReader& dpdk, DpdkConfig& config);
const char* kernelFallbackName(KernelFallback fallback);
/// Reads a Go duration string field (see duration.hpp) into `out`, or records an error
/// naming the key. Shared by every section with a duration.
void readDurationField(json::ObjectReader& reader, std::string_view key, std::chrono::milliseconds& out);
/// The same for kube-proxy's sync periods, where null and "0s" keep the default in `out`
/// (kube-proxy's defaulting: syncPeriod 0s is 30s, minSyncPeriod 0s is 1s).
void readPeriodField(json::ObjectReader& reader, std::string_view key, std::chrono::milliseconds& out);

}  // namespace nicproxy

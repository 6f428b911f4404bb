#pragma once
// Whether this kernel can do IPVS, as kube-proxy's IPVS mode checks it before it
// starts: the ip_vs core (/proc/net/ip_vs), the schedulers it needs and nf_conntrack.
// Mode "ipvs" (and dpdk.kernelFallback "ipvs") fails at start naming what is missing.
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace nicproxy {

struct IpvsProbe {
  bool procNetIpVs = false;                 // /proc/net/ip_vs exists: the ip_vs core is there
  std::set<std::string> modules;            // loaded (/proc/modules, /sys/module) or built in (modules.builtin)
};

/// Reads /proc/net/ip_vs, /proc/modules, /sys/module and /lib/modules/<release>/modules.builtin
/// under `root` (a test passes a fake tree).
IpvsProbe probeIpvs(const std::filesystem::path& root, const std::string& kernelRelease);

/// The modules kube-proxy requires (ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh, nf_conntrack)
/// plus ip_vs_<scheduler>, in that order, that the probe did not find.
std::vector<std::string> missingIpvsModules(const IpvsProbe& probe, const std::string& scheduler);

}  // namespace nicproxy

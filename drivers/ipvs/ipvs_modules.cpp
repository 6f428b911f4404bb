#include "drivers/ipvs/ipvs_modules.hpp"

#include <algorithm>
#include <fstream>

namespace nicproxy {

IpvsProbe probeIpvs(const std::filesystem::path& root, const std::string& kernelRelease) {
  IpvsProbe probe;
  std::error_code ec;
  probe.procNetIpVs = std::filesystem::exists(root / "proc/net/ip_vs", ec);
  std::ifstream loaded(root / "proc/modules");
  for (std::string line; std::getline(loaded, line);) probe.modules.insert(line.substr(0, line.find(' ')));
  for (const auto& entry : std::filesystem::directory_iterator(root / "sys/module", ec)) {
    probe.modules.insert(entry.path().filename().string());
  }
  // Lines such as "kernel/net/netfilter/ipvs/ip_vs_rr.ko".
  std::ifstream builtin(root / "lib/modules" / kernelRelease / "modules.builtin");
  for (std::string line; std::getline(builtin, line);) {
    std::string name = std::filesystem::path(line).stem().string();
    std::replace(name.begin(), name.end(), '-', '_');
    probe.modules.insert(name);
  }
  return probe;
}

std::vector<std::string> missingIpvsModules(const IpvsProbe& probe, const std::string& scheduler) {
  std::vector<std::string> required{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"};
  const std::string schedulerModule = "ip_vs_" + scheduler;
  if (std::find(required.begin(), required.end(), schedulerModule) == required.end()) {
    required.push_back(schedulerModule);
  }
  std::vector<std::string> missing;
  for (const std::string& module : required) {
    const bool present = module == "ip_vs" ? probe.procNetIpVs || probe.modules.contains(module)
                                           : probe.modules.contains(module);
    // Without the core, no scheduler can be loaded either: name them all.
    if (!present || (!probe.procNetIpVs && module.rfind("ip_vs", 0) == 0)) missing.push_back(module);
  }
  return missing;
}

}  // namespace nicproxy

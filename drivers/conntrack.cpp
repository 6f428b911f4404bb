#include "drivers/conntrack.hpp"

#include <sstream>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "control/endpoints.hpp"

namespace nicproxy {

// kube-proxy deletes the conntrack entries of UDP endpoints that went away, or replies
// keep flowing to (and requests keep being sent to) a backend that is gone.
void clearRemovedUdpEndpoints(Executor& executor, const ServicePort& before, const ServicePort* after) {
  const std::vector<Endpoint> now = after == nullptr ? std::vector<Endpoint>{} : categorizeEndpoints(*after).allReachable;
  for (const Endpoint& old : categorizeEndpoints(before).allReachable) {
    bool kept = false;
    for (const Endpoint& e : now) kept = kept || e.address == old.address;
    if (kept) continue;
    const std::string endpoint = formatIpv4(old.address);
    std::vector<std::vector<std::string>> commands;
    for (const auto* ips : {&before.clusterIPs, &before.externalIPs, &before.loadBalancerIPs}) {
      for (Ipv4 vip : *ips) {
        commands.push_back({"conntrack", "-D", "--orig-dst", formatIpv4(vip), "--dst-nat", endpoint, "-p", "udp"});
      }
    }
    if (before.nodePort != 0) {
      commands.push_back(
          {"conntrack", "-D", "-p", "udp", "--dport", std::to_string(before.nodePort), "--dst-nat", endpoint});
    }
    for (const auto& argv : commands) {
      const ExecResult result = executor.run(argv);
      // conntrack exits 1 when there was nothing to delete.
      if (!result.ok() && result.err.find("0 flow entries") == std::string::npos) {
        spdlog::warn("{} failed: {}", fmt::join(argv, " "),
                     result.failureText(2));
      }
    }
  }
}

}  // namespace nicproxy

// kernel_sync_bench: times the iptables and nftables providers against the real kernel
// (run it inside a network namespace: scripts/bench_kernel.sh does). Prints numbers, asserts nothing.
//
//   kernel_sync_bench --mode iptables|nftables --services N [--endpoints 10] [--changes 5]
//                     [--change-kinds endpoint,remove,add,no-endpoints] [--target 10.21.0.2:8080] [--keep]
//
// Builds N services of E endpoints (cluster IPs 10.100.0.0/16 and up, endpoints
// 10.180.0.0/14), then: one full sync; then --changes one-service syncs, each replacing
// one endpoint of a different service (the same path a single EndpointSlice update
// takes; --change-kinds adds other one-service changes); prints each time, the size of
// what was written, and how much of the time went to the external commands, to the
// netlink deletions and to our own code. With --target, one more
// service "zz-bench/target" (sorted last, so last in KUBE-SERVICES) at 10.99.255.254:80
// goes to that endpoint; --keep leaves everything installed for a connection test.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "drivers/exec.hpp"
#include "drivers/iptables/iptables_provider.hpp"
#include "drivers/nftables/nft_netlink.hpp"
#include "drivers/nftables/nftables_provider.hpp"

namespace nicproxy {
namespace {

Ipv4 addressAt(Ipv4 base, uint32_t index) { return base + index; }

ServicePort makeService(uint32_t i, uint32_t endpoints) {
  ServicePort p;
  p.name = ServicePortName{"bench", "svc-" + std::to_string(i), "http", Protocol::Tcp};
  p.clusterIPs = {addressAt(parseIpv4("10.100.0.0").value(), i)};
  p.port = 80;
  for (uint32_t e = 0; e < endpoints; ++e) {
    Endpoint ep;
    ep.address = addressAt(parseIpv4("10.180.0.0").value(), i * endpoints + e);
    ep.port = 8080;
    p.endpoints.push_back(ep);
  }
  return p;
}

double millisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Splits a sync's time into the external commands (nft, iptables-restore, iptables-save,
// iptables, conntrack), the netlink deletions, and the rest (our own rendering and diffing).
struct TimingExecutor : Executor {
  ProcessExecutor real;
  double commandMs = 0;
  ExecResult run(const std::vector<std::string>& argv, std::string_view stdinData = {}) override {
    const auto start = std::chrono::steady_clock::now();
    ExecResult result = real.run(argv, stdinData);
    commandMs += millisSince(start);
    return result;
  }
};

}  // namespace
}  // namespace nicproxy

int main(int argc, char** argv) {
  using namespace nicproxy;
  CLI::App cli{"time kernel provider syncs"};
  std::string mode = "iptables";
  uint32_t services = 1000, endpoints = 10, changes = 5;
  std::string target;
  bool keep = false;
  std::string iptablesCommand = "iptables";
  cli.add_option("--mode", mode)->check(CLI::IsMember({"iptables", "nftables"}));
  cli.add_option("--services", services);
  cli.add_option("--endpoints", endpoints);
  cli.add_option("--changes", changes);
  cli.add_option("--target", target, "ip:port of a real backend for service zz-bench/target");
  cli.add_flag("--keep", keep);
  std::string kinds = "endpoint";
  uint32_t grow = 0;
  cli.add_option("--grow", grow,
                 "build the table by a full sync of this many services and partial syncs adding as many each "
                 "(for iptables-nft, whose one full sync of 10,000 services does not finish in 15 minutes)");
  cli.add_option("--change-kinds", kinds,
                 "comma-separated: endpoint (one endpoint replaced), remove (a service deleted), add (a new "
                 "service), no-endpoints (a service loses all its endpoints)");
  cli.add_option("--iptables-command", iptablesCommand, "iptables (Debian: iptables-nft) or iptables-legacy");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  ServiceTable::Map map;
  for (uint32_t i = 0; i < services; ++i) {
    auto port = std::make_shared<const ServicePort>(makeService(i, endpoints));
    map.emplace(port->name, port);
  }
  if (!target.empty()) {
    ServicePort t;
    t.name = ServicePortName{"zz-bench", "target", "http", Protocol::Tcp};
    t.clusterIPs = {parseIpv4("10.99.255.254").value()};
    t.port = 80;
    Endpoint ep;
    ep.address = parseIpv4(target.substr(0, target.find(':'))).value();
    ep.port = static_cast<uint16_t>(std::stoi(target.substr(target.find(':') + 1)));
    t.endpoints = {ep};
    map.emplace(t.name, std::make_shared<const ServicePort>(t));
  }

  TimingExecutor exec;
  double netlinkMs = 0;
  std::unique_ptr<Provider> provider;
  const auto written = [&]() -> size_t {
    if (mode != "nftables") return static_cast<IptablesProvider*>(provider.get())->lastRestoreInput().size();
    return static_cast<NftablesProvider*>(provider.get())->lastTransaction().size();
  };
  if (mode == "iptables") {
    IptablesProviderOptions options;
    options.iptablesCommand = iptablesCommand;
    provider = std::make_unique<IptablesProvider>(exec, options);
  } else {
    NftablesProviderOptions options;
    options.deleteObjects = [&netlinkMs](const std::string& deletions) {  // as nicproxy does (drivers/kernel_proxy.cpp)
      const auto start = std::chrono::steady_clock::now();
      auto error = nftDeleteByNetlink(deletions);
      netlinkMs += millisSince(start);
      return error;
    };
    provider = std::make_unique<NftablesProvider>(exec, options);
  }
  uint64_t generation = 1;
  auto start = std::chrono::steady_clock::now();
  const std::string label = mode == "iptables" ? iptablesCommand : mode;
  if (grow == 0 || grow >= services) {
    provider->sync(ServiceTable(map, generation), {}, true);
    std::printf("%s services=%u endpoints/service=%u full_sync_ms=%.1f bytes=%zu\n", label.c_str(), services,
                endpoints, millisSince(start), written());
  } else {
    // A full sync of `grow` services, then partial syncs adding `grow` more each time.
    ServiceTable::Map part;
    for (auto it = map.begin(); it != map.end();) {
      ChangedPorts added;
      for (uint32_t i = 0; i < grow && it != map.end(); ++i, ++it) {
        part.insert(*it);
        added.insert(it->first);
      }
      provider->sync(ServiceTable(part, generation++), added, part.size() == added.size());
    }
    std::printf("%s services=%u endpoints/service=%u built_in_steps_of=%u ms=%.1f\n", label.c_str(), services,
                endpoints, grow, millisSince(start));
  }
  mode = label;

  // One-service syncs of each kind asked for; "endpoint" is the measure.
  std::istringstream kindList(kinds);
  std::string kind;
  uint32_t added = 0;
  while (std::getline(kindList, kind, ',')) {
    std::vector<double> times;
    for (uint32_t c = 0; c < changes && services > 0; ++c) {
      const uint32_t which = (c * 7919U + services / 2 + static_cast<uint32_t>(kind.size()) * 101U) % services;
      ServicePort changed = makeService(which, endpoints);
      if (kind == "endpoint") {
        changed.endpoints[0].address = addressAt(parseIpv4("10.190.0.0").value(), c + 1);
        map[changed.name] = std::make_shared<const ServicePort>(changed);
      } else if (kind == "remove") {
        map.erase(changed.name);
      } else if (kind == "add") {
        changed = makeService(services + added++, endpoints);
        map[changed.name] = std::make_shared<const ServicePort>(changed);
      } else if (kind == "no-endpoints") {
        changed.endpoints.clear();
        map[changed.name] = std::make_shared<const ServicePort>(changed);
      } else {
        std::fprintf(stderr, "unknown change kind %s\n", kind.c_str());
        return 2;
      }
      const ServiceTable snapshot(map, ++generation);  // the change tracker's work, not the provider's
      exec.commandMs = netlinkMs = 0;
      start = std::chrono::steady_clock::now();
      provider->sync(snapshot, {changed.name}, false);
      times.push_back(millisSince(start));
      std::printf("%s services=%u %s one_service_sync_ms=%.1f bytes=%zu (commands %.1f ms, netlink deletions %.1f ms, own %.1f ms)\n",
                  mode.c_str(), services, kind.c_str(), times.back(), written(), exec.commandMs, netlinkMs,
                  times.back() - exec.commandMs - netlinkMs);
    }
    if (!times.empty()) {
      std::sort(times.begin(), times.end());
      std::printf("%s services=%u %s one_service_sync_median_ms=%.1f\n", mode.c_str(), services, kind.c_str(),
                  times[times.size() / 2]);
    }
  }
  if (!keep) {
    if (mode != "nftables") IptablesProvider::cleanup(exec, "KUBE", iptablesCommand);
    else NftablesProvider::cleanup(exec, "kube-proxy");
  }
  return 0;
}

// nicproxy: a kube-proxy replacement with a DPDK data path. The composition root of every mode.
#include <cstdio>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "control/config.hpp"
#include "control/per_node.hpp"
#include "control/validate.hpp"
#ifdef NICPROXY_WITH_DPDK
#include "dpdk_app/app.hpp"
#endif
#include "drivers/kernel_proxy.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"nicproxy: Kubernetes Service proxy with a DPDK data path"};
  std::string configPath;
  bool validateOnly = false;
  bool cleanup = false;
  std::string logLevel = "info";
  std::string kubeconfig;
  cli.add_option("--config", configPath, "configuration file (JSON)")->check(CLI::ExistingFile);
  cli.add_option("--kubeconfig", kubeconfig, "kubeconfig of the API server to follow (overrides clientConnection.kubeconfig)")
      ->check(CLI::ExistingFile);
  cli.add_flag("--cleanup", cleanup,
               "remove everything nicproxy installed in the kernel (IPVS services, kube-ipvs0, ipsets, iptables chains, "
               "nftables table) and exit; "
               "--config gives a non-default chain prefix or table name");
  cli.add_flag("--validate", validateOnly, "check the configuration and the services file, print what they hold, exit");
  cli.add_option("--log-level", logLevel, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  // Per-node values (issue 11): one config file for every node; the node name and the DPDK
  // ports' addresses may come from flags, the environment or the Node (control/per_node.hpp).
  nicproxy::PerNodeOptions perNode;
  cli.add_option("--hostname-override", perNode.hostnameOverride,
                 "this node's name; else nodeName in the file, then NODE_NAME, then the hostname");
  cli.add_option("--dpdk-port-address", perNode.portAddresses,
                 "INDEX=CIDR: dpdk.ports[INDEX]'s address on this node, repeatable; else the file's, then "
                 "NICPROXY_DPDK_PORT<INDEX>_ADDRESS, then the Node's InternalIP with dpdk.ports[INDEX].prefixLength")
      ->type_name("INDEX=CIDR");
  cli.set_version_flag("--version", "nicproxy " NICPROXY_VERSION);
  CLI11_PARSE(cli, argc, argv);

  auto logger = spdlog::stderr_color_mt("nicproxy");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(logLevel));

  if (cleanup) {
    nicproxy::Config config;
    if (!configPath.empty()) {
      nicproxy::ConfigResult loaded = nicproxy::loadConfigFile(configPath);
      for (const std::string& error : loaded.errors) spdlog::error("{}: {}", configPath, error);
      if (!loaded.ok()) return 1;
      config = std::move(*loaded.config);
    }
    nicproxy::ProcessExecutor executor;
    return nicproxy::cleanupKernel(config, executor);
  }
  if (configPath.empty()) {
    std::cerr << "--config is required\n" << cli.help();
    return 2;
  }
  if (validateOnly) return nicproxy::validateConfiguration(configPath, std::cout, std::cerr, kubeconfig, perNode);

  nicproxy::ConfigResult result = nicproxy::loadConfigFile(configPath);
  nicproxy::applyKubeconfigFlag(result, kubeconfig);
  if (!result.ok()) {
    for (const std::string& error : result.errors) spdlog::error("{}: {}", configPath, error);
    return 1;
  }
  const nicproxy::PerNodeResult node = nicproxy::applyPerNodeValues(*result.config, perNode);
  for (const std::string& note : node.notes) spdlog::info("{}", note);
  for (const std::string& error : node.errors) spdlog::error("{}: {}", configPath, error);
  if (!node.ok()) return 1;
  try {
    // The kernel-only modes need no EAL, no hugepages and no NIC.
    if (result.config->mode != nicproxy::ProxyMode::Dpdk) return nicproxy::runKernelProxy(*result.config);
#ifdef NICPROXY_WITH_DPDK
    nicproxy::App app(std::move(*result.config));
    return app.run();
#else
    spdlog::critical("mode dpdk: this nicproxy was built without DPDK (meson -Ddpdk=disabled); use mode iptables, "
                     "nftables or ipvs, or a build with DPDK");
    return 1;
#endif
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}

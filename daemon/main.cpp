// nicproxy: a kube-proxy replacement with a DPDK data path. The composition root of every mode.
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <utility>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "control/config.hpp"
#include "control/config_writer.hpp"
#include "control/json_reader.hpp"
#include "control/per_node.hpp"
#include "control/proxy_metrics.hpp"
#include "control/scrape_collectables.hpp"
#include "control/proxier_health.hpp"
#include "control/serve_loop.hpp"
#include "control/validate.hpp"
#include "daemon/health_check_ports.hpp"
#include "daemon/health_server.hpp"
#include "daemon/logging.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/modes.hpp"
#include "daemon/supervision.hpp"
#include "daemon/trace_command.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"nicproxy: Kubernetes Service proxy with a DPDK data path"};
  std::string configPath;
  bool validateOnly = false;
  bool cleanup = false;
  std::string logLevel = "info";
  std::string kubeconfig;
  cli.add_option("--config", configPath, "configuration file: a KubeProxyConfiguration, YAML or JSON")
      ->check(CLI::ExistingFile);
  cli.add_option("--kubeconfig", kubeconfig, "kubeconfig of the API server to follow (overrides clientConnection.kubeconfig)")
      ->check(CLI::ExistingFile);
  cli.add_flag("--cleanup", cleanup,
               "remove everything nicproxy installed in the kernel (IPVS services, kube-ipvs0, ipsets, iptables chains, "
               "nftables table) and exit; "
               "--config gives a non-default chain prefix or table name");
  cli.add_flag("--validate", validateOnly, "check the configuration and the services file, print what they hold, exit");
  cli.add_option("--log-level", logLevel, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  // kube-proxy's --write-config-to (control/config_writer).
  std::string writeConfigTo;
  cli.add_option("--write-config-to", writeConfigTo,
                 "write the effective configuration (defaults filled in) as a YAML KubeProxyConfiguration to "
                 "this file, then exit");
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
  // kube-proxy's logging flags (daemon/logging.hpp, docs/configuration.md "Command line").
  int verbosity = 0;
  std::string loggingFormat = "text";
  cli.add_option("-v,--v", verbosity,
                 "log verbosity as kube-proxy's -v: 0-2 info, 3-4 debug, 5 and more trace; --log-level wins when both "
                 "are given")
      ->transform([](std::string value) { return value.starts_with('=') ? value.substr(1) : value; })  // -v=2
      ->check(CLI::Range(0, 99));
  cli.add_option("--logging-format", loggingFormat,
                 "text, or json: one JSON object per line, as Kubernetes' JSON log format")
      ->check(CLI::IsMember({"text", "json"}));
  // `nicproxy trace SRC[:PORT] DST:PORT/PROTO` (issue 12): asks the running DPDK data path
  // through its telemetry socket (daemon/trace_command.hpp).
  std::string traceSource, traceDestination, traceFilePrefix = "rte", traceSocket;
  CLI::App* traceCommand = cli.add_subcommand(
      "trace", "ask the running nicproxy (DPDK mode) which frontend and backend a packet gets, and its flow");
  traceCommand->add_option("SRC", traceSource, "client address, optionally :PORT")->required();
  traceCommand->add_option("DST", traceDestination, "frontend as ADDRESS:PORT/PROTO, e.g. 10.96.0.10:80/tcp")->required();
  traceCommand->add_option("--file-prefix", traceFilePrefix, "the --file-prefix in dpdk.eal (DPDK's default: rte)");
  traceCommand->add_option("--telemetry-socket", traceSocket, "the telemetry socket itself (overrides --file-prefix)");
  CLI11_PARSE(cli, argc, argv);
  if (*traceCommand) {
    return nicproxy::runTrace(traceSource, traceDestination,
                              traceSocket.empty() ? nicproxy::telemetrySocketPath(traceFilePrefix) : traceSocket,
                              std::cout, std::cerr);
  }

  const bool levelGiven = cli.count("--log-level") > 0;
  nicproxy::setUpLogging(*nicproxy::logFormatFromName(loggingFormat),
                         levelGiven ? spdlog::level::from_str(logLevel) : *nicproxy::levelFromVerbosity(verbosity));
  if (levelGiven && cli.count("-v") > 0) spdlog::warn("--log-level {} wins over -v {}", logLevel, verbosity);

  if (cleanup) return nicproxy::runCleanup(configPath);
  if (configPath.empty()) {
    std::cerr << "--config is required\n" << cli.help();
    return 2;
  }
  if (validateOnly) return nicproxy::validateConfiguration(configPath, std::cout, std::cerr, kubeconfig, perNode);

  // The text the configuration is parsed from is the one the config-file watch
  // (daemon/config_watch.hpp) compares with: an edit after this read is a change.
  std::string readError;
  std::optional<std::string> runningConfigText = nicproxy::json::readFile(configPath, readError);
  if (!runningConfigText) {
    spdlog::error("{}: {}", configPath, readError);
    return 1;
  }
  nicproxy::NodeConfig loaded = nicproxy::loadNodeConfig(*runningConfigText, configPath, kubeconfig, perNode);
  nicproxy::ConfigResult& result = loaded.result;
  for (const std::string& warning : result.warnings) spdlog::warn("{}: {}", configPath, warning);
  for (const std::string& note : loaded.notes) spdlog::info("{}", note);
  if (!result.ok()) {
    for (const std::string& error : result.errors) spdlog::error("{}: {}", configPath, error);
    return 1;
  }
  // --write-config-to: the configuration as it would run (flags applied), then exit.
  if (!writeConfigTo.empty()) {
    const std::string error = nicproxy::writeEffectiveConfig(*result.config, writeConfigTo);
    if (!error.empty()) spdlog::error("{}", error);
    return error.empty() ? 0 : 1;
  }
  // What other parts add to the serve loop (systemd, the config-file watch) goes here.
  nicproxy::ServeLoopHooks hooks;
  // systemd's notify protocol and the config-file watch (daemon/supervision.hpp); a
  // changed file is checked exactly as this one was.
  nicproxy::Supervision supervision(configPath, std::move(*runningConfigText), [&](const std::string& text) {
    return nicproxy::loadNodeConfig(text, configPath, kubeconfig, perNode).result.errors;
  });
  supervision.addTo(hooks);
  // What operators and load balancers watch (issue 12): metrics on metricsBindAddress,
  // /healthz and /livez on healthzBindAddress, the health-check node ports.
  nicproxy::Observability observability;
  // Metrics (issue 12, part a): kube-proxy's sync metrics in a registry, served with the
  // modes' scrape-time collectables on metricsBindAddress (validated by the config
  // parser); declared before the mode runs, so they outlive it and the server stops first.
  prometheus::Registry registry;
  nicproxy::ProxyMetrics proxyMetrics(registry);
  nicproxy::ScrapeCollectables collectables;
  observability.registry = &registry;
  observability.metrics = &proxyMetrics;
  observability.collectables = &collectables;
  std::string metricsAddressError;
  const auto metricsAddress = nicproxy::parseBindAddress(result.config->metricsBindAddress,
                                                         nicproxy::kDefaultMetricsPort, metricsAddressError);
  if (!metricsAddress) {
    spdlog::error("metricsBindAddress: {}", metricsAddressError);
    return 1;
  }
  const nicproxy::MetricsServer metricsServer(*metricsAddress, {&registry, &collectables},
                                              nicproxy::proxyModeName(result.config->mode));
  // /healthz and /livez on healthzBindAddress (daemon/health_server.hpp, docs/health.md),
  // kube-proxy's health timeout: 2 x syncPeriod. The serve loop reports its syncs and the
  // Node's eligibility through hooks.health. After the metrics block: the server counts
  // its answers in observability.metrics. Declared after `health`, so stopped first.
  nicproxy::ProxierHealth health(nicproxy::healthTimeoutFor(*result.config));
  observability.health = &health;
  hooks.health = &health;
  // An empty healthzBindAddress is kube-proxy's zero value: its default, 0.0.0.0:10256.
  std::string healthzAddressError;
  const auto healthzAddress =
      result.config->healthzBindAddress.empty()
          ? std::optional(nicproxy::BindAddress{"0.0.0.0", nicproxy::kDefaultHealthzPort})
          : nicproxy::parseBindAddress(result.config->healthzBindAddress, nicproxy::kDefaultHealthzPort,
                                       healthzAddressError);
  if (!healthzAddress) {
    spdlog::error("healthzBindAddress: {}", healthzAddressError);
    return 1;
  }
  nicproxy::HealthServer healthServer(*healthzAddress, health, observability.metrics);
  healthServer.start();
  // The health-check node ports of LoadBalancer Services with eTP Local (issue 12): a
  // companion provider, synced after the mode's own; on the kernel's addresses in every
  // mode (docs/health-check-node-ports.md). Their serviceProxyHealthy is /healthz's verdict
  // (kube-proxy's); declared after `health`, so stopped before it goes.
  nicproxy::HealthCheckPorts::Options healthCheckOptions;
  healthCheckOptions.nodePortAddresses = result.config->nodePortAddresses;
  healthCheckOptions.proxyHealthy = [&health] { return health.healthy(std::chrono::system_clock::now()); };
  nicproxy::HealthCheckPorts healthCheckPorts(std::move(healthCheckOptions));
  observability.companions.push_back(&healthCheckPorts);
  const int exitCode = nicproxy::runMode(std::move(*result.config), hooks, observability);
  supervision.stopped(exitCode);
  return exitCode;
}

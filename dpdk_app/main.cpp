// nicproxy: a kube-proxy replacement with a DPDK data path.
#include <cstdio>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "control/config.hpp"
#include "control/validate.hpp"
#include "dpdk_app/app.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"nicproxy: Kubernetes Service proxy with a DPDK data path"};
  std::string configPath;
  bool validateOnly = false;
  std::string logLevel = "info";
  std::string kubeconfig;
  cli.add_option("--config", configPath, "configuration file (JSON)")->required()->check(CLI::ExistingFile);
  cli.add_option("--kubeconfig", kubeconfig, "kubeconfig of the API server to follow (overrides clientConnection.kubeconfig)")
      ->check(CLI::ExistingFile);
  cli.add_flag("--validate", validateOnly, "check the configuration and the services file, print what they hold, exit");
  cli.add_option("--log-level", logLevel, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  cli.set_version_flag("--version", "nicproxy 0.1.0");
  CLI11_PARSE(cli, argc, argv);

  auto logger = spdlog::stderr_color_mt("nicproxy");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(logLevel));

  if (validateOnly) return nicproxy::validateConfiguration(configPath, std::cout, std::cerr, kubeconfig);

  nicproxy::ConfigResult result = nicproxy::loadConfigFile(configPath);
  nicproxy::applyKubeconfigFlag(result, kubeconfig);
  if (!result.ok()) {
    for (const std::string& error : result.errors) spdlog::error("{}: {}", configPath, error);
    return 1;
  }
  try {
    nicproxy::App app(std::move(*result.config));
    return app.run();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}

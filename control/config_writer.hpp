#pragma once
// `--write-config-to FILE`, as kube-proxy's flag: the effective configuration, every
// default filled in, as a YAML KubeProxyConfiguration that loads back into the same
// Config. An operator sees what nicproxy runs with, and gets a complete file to edit.
#include <filesystem>
#include <string>

#include <boost/json/object.hpp>

#include "control/config.hpp"

namespace nicproxy {

/// The configuration as the object parseConfig reads: apiVersion and kind first, then
/// every field nicproxy uses with its value (defaults included). The dpdk section is
/// written in mode dpdk, or when it has ports.
boost::json::object effectiveConfigJson(const Config& config);

/// effectiveConfigJson as YAML text.
std::string effectiveConfigYaml(const Config& config);

/// Writes effectiveConfigYaml to `path`. Returns "" or why it could not.
std::string writeEffectiveConfig(const Config& config, const std::filesystem::path& path);

}  // namespace nicproxy

#include "control/node_identity.hpp"

#include <unistd.h>

#include <array>
#include <cctype>
#include <climits>
#include <cstdlib>

namespace nicproxy {

std::string normalizeNodeName(std::string_view text) {
  const auto isSpace = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  std::string name(text);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

NodeName resolveNodeName(const NodeNameSources& sources) {
  // take(): the first source that is set decides, whether or not its value is usable.
  const auto take = [](std::string_view value, const char* origin) {
    NodeName result;
    result.origin = origin;
    result.name = normalizeNodeName(value);
    if (result.name.empty()) result.error = std::string(origin) + " is blank: the node name would be empty";
    return result;
  };
  if (!sources.hostnameOverride.empty()) return take(sources.hostnameOverride, "--hostname-override");
  if (!sources.fileNodeName.empty()) return take(sources.fileNodeName, "nodeName in the config file");
  if (sources.nodeNameEnv) {
    if (const auto env = sources.nodeNameEnv(); env && !env->empty()) return take(*env, "NODE_NAME");
  }
  const auto hostname = sources.hostname ? sources.hostname() : std::nullopt;
  if (!hostname) {
    NodeName result;
    result.origin = "the hostname";
    result.error = "no node name: no --hostname-override, no nodeName in the config file, no NODE_NAME, and the "
                   "hostname cannot be read";
    return result;
  }
  NodeName result = take(*hostname, "the hostname");
  if (!result.ok()) {
    result.error = "no node name: no --hostname-override, no nodeName in the config file, no NODE_NAME, and the "
                   "hostname is empty";
  }
  return result;
}

NodeNameSources systemNodeNameSources(std::string hostnameOverride, std::string fileNodeName) {
  NodeNameSources sources;
  sources.hostnameOverride = std::move(hostnameOverride);
  sources.fileNodeName = std::move(fileNodeName);
  sources.nodeNameEnv = []() -> std::optional<std::string> {
    const char* value = std::getenv("NODE_NAME");  // NOLINT(concurrency-mt-unsafe): read before threads start
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
  };
  sources.hostname = []() -> std::optional<std::string> {
    std::array<char, HOST_NAME_MAX + 1> buffer{};
    if (gethostname(buffer.data(), buffer.size() - 1) != 0) return std::nullopt;
    return std::string(buffer.data());
  };
  return sources;
}

}  // namespace nicproxy

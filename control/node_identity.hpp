#pragma once
// Which node this nicproxy serves. One ConfigMap serves every node of a DaemonSet, so
// the name usually comes from outside the file. The order, first non-empty wins:
//   1. --hostname-override            (kube-proxy's flag)
//   2. the file's nodeName            (kube-proxy's hostnameOverride field maps onto it)
//   3. the NODE_NAME environment variable (a DaemonSet sets it from spec.nodeName)
//   4. the hostname
// and the result is trimmed and lowercased, as kube-proxy's GetHostname does
// (k8s.io/component-helpers/node/util). A source that is set but blank is an error,
// not a reason to fall through: kube-proxy refuses a blank --hostname-override too.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace nicproxy {

/// Where each candidate comes from. The functions are asked only when the sources
/// before them gave nothing.
struct NodeNameSources {
  std::string hostnameOverride;  // --hostname-override; empty: not given
  std::string fileNodeName;      // Config::nodeName as the file has it; empty: not set
  std::function<std::optional<std::string>()> nodeNameEnv;  // NODE_NAME; nullopt or empty: unset
  std::function<std::optional<std::string>()> hostname;     // gethostname(); nullopt: failed
};

struct NodeName {
  std::string name;    // trimmed, lowercase; empty when `error` is set
  std::string origin;  // "--hostname-override", "nodeName in the config file", "NODE_NAME", "the hostname"
  std::string error;   // names the source at fault ("NODE_NAME is blank")
  bool ok() const { return error.empty(); }
};

NodeName resolveNodeName(const NodeNameSources& sources);

/// kube-proxy's normalisation: surrounding whitespace removed, lowercase (ASCII).
std::string normalizeNodeName(std::string_view text);

/// The process's NODE_NAME and gethostname(), for resolveNodeName.
NodeNameSources systemNodeNameSources(std::string hostnameOverride, std::string fileNodeName);

}  // namespace nicproxy

#pragma once
// What makes a kube-proxy configuration file (KubeProxyConfiguration,
// kubeproxy.config.k8s.io/v1alpha1) load in nicproxy: its header is checked, and the
// fields kube-proxy defines that nicproxy has no use for are accepted, type-checked and
// collected for one warning, instead of being refused as unknown keys. The fields
// nicproxy does use are read by config.cpp and config_kernel.cpp.
#include <string>
#include <string_view>
#include <vector>

#include "control/config.hpp"
#include "control/json_reader.hpp"

namespace nicproxy {

inline constexpr std::string_view kKubeProxyApiVersion = "kubeproxy.config.k8s.io/v1alpha1";
inline constexpr std::string_view kKubeProxyKind = "KubeProxyConfiguration";

/// `apiVersion` and `kind`: optional, but when present they must be kube-proxy's.
void readKubeProxyHeader(json::ObjectReader& top);

/// `hostnameOverride`: the node name, as kube-proxy takes it (trimmed, lower case). An
/// error when nodeName (already read into `config`) names another node.
void readHostnameOverride(json::ObjectReader& top, Config& config);

/// `metricsBindAddress` and `healthzBindAddress` ("IP:port", control/bind_address.hpp),
/// stored as "IP:port": as kube-proxy's defaulting, "" or null is the default
/// (127.0.0.1:10249, 0.0.0.0:10256) and a bare IP takes the default port. An error names
/// the key and why.
void readBindAddresses(json::ObjectReader& top, Config& config);

/// The key paths of kube-proxy fields nicproxy ignores that a file sets to something
/// other than a zero value ("bindAddress", "ipvs.strictARP"), in the order read.
using IgnoredFields = std::vector<std::string>;

/// Marks the ignored kube-proxy fields of one section as known ("" is the top level;
/// "clientConnection", "iptables", "ipvs", "conntrack"), checks their types, and adds
/// those set to a non-zero value to `ignored`. The top level's call also takes the
/// sections nicproxy ignores whole: detectLocal, winkernel, logging.
void skipIgnoredKubeProxyFields(json::ObjectReader& reader, std::string_view section, json::Errors& errors,
                                IgnoredFields& ignored);

/// The one warning line for `ignored` (sorted); empty when there is nothing to say.
std::string ignoredFieldsWarning(const IgnoredFields& ignored);

}  // namespace nicproxy

#pragma once
// This node's own address as the cluster knows it: the Node object's InternalIP, for a
// DPDK port whose address the shared config file leaves out (control/port_addresses.hpp).
#include <optional>
#include <string>

#include <boost/json/value.hpp>

#include "control/k8s/api_client.hpp"
#include "control/k8s/kubeconfig.hpp"
#include "control/net.hpp"

namespace nicproxy::k8s {

struct NodeInternalIp {
  std::optional<Ipv4> address;
  std::string error;  // why there is none, naming the Node and the request
};

/// The first IPv4 address of type InternalIP in a Node's status.addresses (a dual-stack
/// node lists an IPv6 one as well; nicproxy is IPv4-only). `nodeName` is for messages.
NodeInternalIp internalIpOf(const boost::json::value& node, const std::string& nodeName);

/// GET /api/v1/nodes/{nodeName}, once (no retry: nicproxy exits and its supervisor
/// restarts it), bounded by `timeouts`.
NodeInternalIp fetchNodeInternalIp(const Connection& connection, const std::string& nodeName,
                                   const ClientTimeouts& timeouts = {});

}  // namespace nicproxy::k8s

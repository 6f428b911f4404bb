#include "control/k8s/node_address.hpp"

#include <atomic>

#include <boost/json/parse.hpp>

#include "control/k8s/reflector.hpp"

namespace nicproxy::k8s {

NodeInternalIp internalIpOf(const boost::json::value& node, const std::string& nodeName) {
  NodeInternalIp result;
  const auto* object = node.if_object();
  const auto* status = object != nullptr ? object->if_contains("status") : nullptr;
  const auto* addresses = status != nullptr && status->is_object() ? status->as_object().if_contains("addresses")
                                                                   : nullptr;
  std::string listed;  // what the Node has instead, for the message
  if (addresses != nullptr && addresses->is_array()) {
    for (const auto& entry : addresses->as_array()) {
      const auto* a = entry.if_object();
      const auto* type = a != nullptr ? a->if_contains("type") : nullptr;
      const auto* address = a != nullptr ? a->if_contains("address") : nullptr;
      if (type == nullptr || !type->is_string() || address == nullptr || !address->is_string()) continue;
      const std::string text(address->as_string());
      if (type->as_string() == "InternalIP") {
        // Sloppy, as kube-proxy reads Kubernetes objects' addresses (control/net.hpp).
        if (const auto ip = parseIpv4Sloppy(text)) {
          result.address = ip;
          return result;
        }
      }
      listed += (listed.empty() ? "" : ", ") + std::string(type->as_string()) + " " + text;
    }
  }
  result.error = "Node " + nodeName + " has no IPv4 InternalIP in status.addresses (" +
                 (listed.empty() ? std::string("it lists none") : "it has " + listed) + ")";
  return result;
}

NodeInternalIp fetchNodeInternalIp(const Connection& connection, const std::string& nodeName,
                                   const ClientTimeouts& timeouts) {
  // A node name is a DNS subdomain; escape anything else rather than send another path.
  std::string escaped = urlEncode(nodeName);
  for (size_t at = escaped.find('/'); at != std::string::npos; at = escaped.find('/', at)) {
    escaped.replace(at, 1, "%2F");
  }
  const std::string path = "/api/v1/nodes/" + escaped;
  const std::string request = "GET " + connection.server + path;
  NodeInternalIp result;
  const std::atomic<bool> stop{false};
  HttpResult http;
  try {
    ApiClient client(connection, stop, timeouts);
    http = client.get(path);
  } catch (const std::exception& e) {  // an unreadable tokenFile
    result.error = request + ": " + e.what();
    return result;
  }
  if (http.status == 0) {
    result.error = request + ": " + (http.error.empty() ? "no response" : http.error);
  } else if (http.status == 404) {
    result.error = "Node " + nodeName + " is not known to the API server (" + request + ": HTTP 404)";
  } else if (http.status != 200) {
    result.error = request + ": HTTP " + std::to_string(http.status) + ": " + statusMessage(http.body);
  } else {
    boost::system::error_code ec;
    const auto node = boost::json::parse(http.body, ec);
    if (ec) {
      result.error = request + ": the answer is not JSON (" + ec.message() + ")";
    } else {
      result = internalIpOf(node, nodeName);
    }
  }
  return result;
}

}  // namespace nicproxy::k8s

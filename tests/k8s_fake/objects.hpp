#pragma once
// JSON builders for the Kubernetes objects the fake API server serves in tests.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

namespace nicproxy::testing {

inline boost::json::object labelsOf(const std::map<std::string, std::string>& labels) {
  boost::json::object out;
  for (const auto& [k, v] : labels) out[k] = v;
  return out;
}

/// A ClusterIP Service with one TCP port `port` -> `targetPort`.
inline boost::json::value serviceJson(const std::string& ns, const std::string& name, const std::string& clusterIp,
                                      int port, int targetPort, const std::map<std::string, std::string>& labels = {}) {
  return boost::json::object{
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", {{"namespace", ns}, {"name", name}, {"labels", labelsOf(labels)}}},
      {"spec",
       {{"type", "ClusterIP"},
        {"clusterIP", clusterIp},
        {"clusterIPs", boost::json::array{boost::json::string(clusterIp)}},
        {"ports", boost::json::array{{{"name", "http"}, {"protocol", "TCP"}, {"port", port}, {"targetPort", targetPort}}}}}}};
}

/// An IPv4 EndpointSlice for `service` with ready endpoints on `port`.
inline boost::json::value sliceJson(const std::string& ns, const std::string& name, const std::string& service,
                                    const std::vector<std::string>& addresses, int port,
                                    std::map<std::string, std::string> labels = {}) {
  labels["kubernetes.io/service-name"] = service;
  boost::json::array endpoints;
  for (const auto& a : addresses) {
    endpoints.push_back({{"addresses", boost::json::array{boost::json::string(a)}},
                         {"conditions", {{"ready", true}}},
                         {"nodeName", "node-b"}});
  }
  return boost::json::object{
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata", {{"namespace", ns}, {"name", name}, {"labels", labelsOf(labels)}}},
      {"addressType", "IPv4"},
      {"ports", boost::json::array{{{"name", "http"}, {"protocol", "TCP"}, {"port", port}}}},
      {"endpoints", endpoints}};
}

inline boost::json::value nodeJson(const std::string& name, const std::string& address, const std::string& zone) {
  return boost::json::object{
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata", {{"namespace", ""}, {"name", name}, {"labels", {{"topology.kubernetes.io/zone", zone}}}}},
      {"status", {{"addresses", boost::json::array{{{"type", "InternalIP"}, {"address", address}}}}}}};
}

}  // namespace nicproxy::testing

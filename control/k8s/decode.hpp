#pragma once
// Decoding of Service and EndpointSlice JSON with Boost.JSON. A decoder validates
// the whole object and either returns it or returns errors that name the object
// ("default/web") and the field at fault ("spec.ports[1].port"); nothing is half-decoded.
// Names are checked as the API server checks them (names.hpp), addresses read as
// kube-proxy reads them (parseIpv4Sloppy), and a clusterIP or externalIP may not be a
// special address (unspecified, loopback, link-local, multicast, broadcast).
#include <string>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>

#include "control/k8s/objects.hpp"

namespace nicproxy::k8s {

struct DecodeError {
  std::string object;   // "Service default/web", or "Service (unnamed)" when the name is unknown
  std::string message;  // "spec.ports[1].port: 70000 is not a valid port"
  std::string toString() const { return object + ": " + message; }
};

template <typename T>
using Decoded = std::variant<T, std::vector<DecodeError>>;

Decoded<Service> decodeService(const boost::json::value& object);
Decoded<EndpointSlice> decodeEndpointSlice(const boost::json::value& object);

}  // namespace nicproxy::k8s

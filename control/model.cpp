#include "control/model.hpp"

namespace nicproxy {

const char* protocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::Tcp: return "TCP";
    case Protocol::Udp: return "UDP";
    case Protocol::Sctp: return "SCTP";
  }
  return "?";
}

// kube-proxy's ServicePortName.String(): the protocol is not part of the text.
std::string ServicePortName::toString() const {
  std::string text = namespaceName + "/" + serviceName;
  if (!portName.empty()) text += ":" + portName;
  return text;
}

const ServicePort* ServiceTable::find(const ServicePortName& name) const {
  const auto it = ports_.find(name);
  return it == ports_.end() ? nullptr : it->second.get();
}

size_t ServiceTable::endpointCount() const {
  size_t count = 0;
  for (const auto& [name, port] : ports_) count += port->endpoints.size();
  return count;
}

}  // namespace nicproxy

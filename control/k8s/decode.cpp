#include "control/k8s/decode.hpp"

#include <algorithm>

#include "control/json_reader.hpp"
#include "control/k8s/names.hpp"
#include "control/k8s/trigger_time.hpp"

namespace nicproxy::k8s {
namespace {

using json::Errors;
using json::ObjectReader;
// Kubernetes writes null for many unset fields and adds fields over time: null is
// absent and unknown keys are ignored. The fields nicproxy uses are checked strictly.
constexpr auto kLenient = ObjectReader::Nulls::Absent;

constexpr int64_t kMaxAffinityTimeout = 86400;  // Kubernetes' own limit

std::map<std::string, std::string> readStringMap(ObjectReader& reader, std::string_view key, Errors& errors) {
  std::map<std::string, std::string> result;
  const auto* object = reader.object(key);
  if (object == nullptr) return result;
  for (const auto& entry : *object) {
    const std::string name(entry.key().data(), entry.key().size());
    if (auto text = json::asString(entry.value(), reader.pathOf(key) + "." + name, errors)) {
      result.emplace(name, std::move(*text));
    }
  }
  return result;
}

using NameProblems = std::vector<std::string> (*)(std::string_view);

// Records "path: Invalid value: "text": why" per problem, as the API server words it.
// Returns whether the name was valid.
bool checkName(std::string_view text, NameProblems rule, const std::string& path, Errors& errors) {
  const std::vector<std::string> problems = rule(text);
  for (const std::string& problem : problems) {
    errors.push_back(path + ": Invalid value: " + json::quote(text) + ": " + problem);
  }
  return problems.empty();
}

// `nameRule`: DNS-1035 label for a Service, DNS-1123 subdomain for an EndpointSlice.
ObjectMeta readMeta(ObjectReader& top, Errors& errors, NameProblems nameRule) {
  ObjectMeta meta;
  const auto* object = top.object("metadata");
  if (object == nullptr) {
    if (top.get("metadata") == nullptr) top.error("metadata.name", "required");
    return meta;
  }
  ObjectReader reader(*object, "metadata", errors, kLenient);
  meta.namespaceName = reader.string("namespace").value_or("");
  if (meta.namespaceName.empty()) meta.namespaceName = "default";  // what kubectl apply assumes
  checkName(meta.namespaceName, dns1123LabelProblems, reader.pathOf("namespace"), errors);
  if (const auto* name = reader.get("name"); name == nullptr) {
    reader.error("name", "required");
  } else if (auto text = json::asString(*name, reader.pathOf("name"), errors)) {
    if (text->empty()) {
      reader.error("name", "must not be empty");
    } else {
      checkName(*text, nameRule, reader.pathOf("name"), errors);
    }
    meta.name = std::move(*text);
  }
  meta.resourceVersion = reader.string("resourceVersion").value_or("");
  meta.labels = readStringMap(reader, "labels", errors);
  meta.annotations = readStringMap(reader, "annotations", errors);
  return meta;
}

template <typename T>
Decoded<T> finish(T object, std::string_view kind, const Errors& errors) {
  if (errors.empty()) return object;
  const std::string name = std::string(kind) + " " + (object.meta.name.empty() ? "(unnamed)" : object.meta.key());
  std::vector<DecodeError> result;
  result.reserve(errors.size());
  for (const auto& message : errors) result.push_back(DecodeError{name, message});
  return result;
}

std::optional<uint16_t> readPortNumber(const boost::json::value& value, const std::string& path, Errors& errors,
                                       bool allowZero) {
  const auto number = json::asInteger(value, path, errors, "a port number");
  if (!number) return std::nullopt;
  if (*number < (allowZero ? 0 : 1) || *number > 65535) {
    errors.push_back(path + ": " + std::to_string(*number) + " is not a valid port");
    return std::nullopt;
  }
  return static_cast<uint16_t>(*number);
}

std::optional<uint16_t> readPortField(ObjectReader& reader, std::string_view key, Errors& errors, bool allowZero) {
  const auto* value = reader.get(key);
  return value == nullptr ? std::nullopt : readPortNumber(*value, reader.pathOf(key), errors, allowZero);
}

std::optional<Protocol> readProtocol(ObjectReader& reader) {
  const auto text = reader.string("protocol");
  if (!text || text->empty() || *text == "TCP") return Protocol::Tcp;
  if (*text == "UDP") return Protocol::Udp;
  if (*text == "SCTP") return Protocol::Sctp;
  reader.error("protocol", json::quote(*text) + " is not one of TCP, UDP, SCTP");
  return std::nullopt;
}

void readTargetPort(ObjectReader& reader, Errors& errors, ServicePortSpec& port) {
  port.targetPort = port.port;  // Kubernetes' default when unset, 0 or ""
  const auto* value = reader.get("targetPort");
  if (value == nullptr) return;
  if (const auto* name = value->if_string()) {
    const std::string_view text(name->data(), name->size());
    if (text.empty()) return;
    // IANA_SVC_NAME, as the API server checks a named targetPort.
    if (checkName(text, ianaServiceNameProblems, reader.pathOf("targetPort"), errors)) {
      port.targetPort = std::string(text);
    }
    return;
  }
  if (value->is_int64() && value->as_int64() == 0) return;
  if (const auto number = readPortNumber(*value, reader.pathOf("targetPort"), errors, false)) port.targetPort = *number;
}

std::optional<ServicePortSpec> readServicePort(const boost::json::value& value, const std::string& path,
                                               Errors& errors) {
  const auto* object = json::asObject(value, path, errors);
  if (object == nullptr) return std::nullopt;
  ObjectReader reader(*object, path, errors, kLenient);
  const size_t errorsBefore = errors.size();
  ServicePortSpec port;
  port.name = reader.string("name").value_or("");
  // The API server checks Service port names as RFC 1123 labels (IANA_SVC_NAME is for
  // container ports and named targetPorts).
  if (!port.name.empty()) checkName(port.name, dns1123LabelProblems, reader.pathOf("name"), errors);
  port.protocol = readProtocol(reader).value_or(Protocol::Tcp);
  if (const auto number = readPortField(reader, "port", errors, false)) {
    port.port = *number;
  } else if (reader.get("port") == nullptr) {
    reader.error("port", "required");
  }
  readTargetPort(reader, errors, port);
  port.nodePort = readPortField(reader, "nodePort", errors, true).value_or(0);
  if (errors.size() != errorsBefore) return std::nullopt;
  return port;
}

void readServicePorts(ObjectReader& spec, Errors& errors, Service& service) {
  const auto* ports = spec.array("ports");
  if (ports == nullptr) return;
  for (size_t i = 0; i < ports->size(); ++i) {
    const std::string path = json::indexPath(spec.pathOf("ports"), i);
    auto port = readServicePort((*ports)[i], path, errors);
    if (!port) continue;
    // Port names key ServicePortNames; two equal names would silently merge two ports.
    const bool duplicate = std::any_of(service.ports.begin(), service.ports.end(),
                                       [&](const ServicePortSpec& other) { return other.name == port->name; });
    if (duplicate && port->name.empty()) {
      errors.push_back(path + ".name: required when a service has more than one port");
    } else if (duplicate) {
      errors.push_back(path + ".name: duplicate " + json::quote(port->name));
    }
    service.ports.push_back(std::move(*port));
  }
}

// Addresses a Service may not use as a frontend: the API server refuses them for
// clusterIPs and externalIPs (ValidateNonSpecialIP), and a proxy programming one would
// capture the node's own or multicast traffic. Empty when the address is fine.
std::string specialAddressProblem(Ipv4 ip) {
  const auto in = [ip](const char* cidr) { return parseIpv4Cidr(cidr)->contains(ip); };
  if (ip == 0) return "may not be unspecified (0.0.0.0)";
  if (in("127.0.0.0/8")) return "may not be in the loopback range (127.0.0.0/8)";
  if (in("169.254.0.0/16")) return "may not be in the link-local range (169.254.0.0/16)";
  if (in("224.0.0.0/4")) return "may not be a multicast address (224.0.0.0/4)";
  if (ip == 0xffffffff) return "may not be the broadcast address (255.255.255.255)";
  return {};
}

enum class Frontend : bool { No, Yes };

// One address of a list: IPv6 is skipped silently (nicproxy is IPv4-only and dual-stack
// objects are normal), anything else that does not parse is an error. Addresses are
// read as kube-proxy reads them (ParseIPSloppy: "010.0.0.1" is 10.0.0.1).
void readIp(const boost::json::value& value, const std::string& path, Errors& errors, std::vector<Ipv4>& out,
            Frontend frontend = Frontend::No) {
  const auto text = json::asString(value, path, errors);
  if (!text || text->empty() || looksLikeIpv6(*text)) return;
  const auto ip = parseIpv4Sloppy(*text);
  if (!ip) {
    errors.push_back(path + ": " + json::quote(*text) + " is not a valid IP address");
    return;
  }
  if (frontend == Frontend::Yes) {
    if (const std::string problem = specialAddressProblem(*ip); !problem.empty()) {
      errors.push_back(path + ": Invalid value: " + json::quote(*text) + ": " + problem);
      return;
    }
  }
  out.push_back(*ip);
}

void readIpList(ObjectReader& reader, std::string_view key, Errors& errors, std::vector<Ipv4>& out,
                Frontend frontend) {
  const auto* array = reader.array(key);
  if (array == nullptr) return;
  for (size_t i = 0; i < array->size(); ++i) {
    readIp((*array)[i], json::indexPath(reader.pathOf(key), i), errors, out, frontend);
  }
}

void readClusterIps(ObjectReader& spec, Errors& errors, Service& service) {
  std::vector<std::pair<std::string, const boost::json::value*>> entries;  // path, value
  const auto* list = spec.array("clusterIPs");
  if (list != nullptr && !list->empty()) {  // clusterIPs is authoritative when set (dual-stack)
    for (size_t i = 0; i < list->size(); ++i) {
      entries.emplace_back(json::indexPath(spec.pathOf("clusterIPs"), i), &(*list)[i]);
    }
  } else if (const auto* single = spec.get("clusterIP")) {
    entries.emplace_back(spec.pathOf("clusterIP"), single);
  }
  for (const auto& [path, value] : entries) {
    if (value->is_string() && value->as_string() == "None") {
      service.headless = true;
    } else {
      readIp(*value, path, errors, service.clusterIPs, Frontend::Yes);
    }
  }
}

void readType(ObjectReader& spec, Service& service) {
  const auto text = spec.string("type");
  if (!text || text->empty() || *text == "ClusterIP") return;
  if (*text == "NodePort") {
    service.type = ServiceType::NodePort;
  } else if (*text == "LoadBalancer") {
    service.type = ServiceType::LoadBalancer;
  } else if (*text == "ExternalName") {
    service.headless = true;  // a DNS CNAME: nothing for a proxy to do
  } else {
    spec.error("type", json::quote(*text) + " is not one of ClusterIP, NodePort, LoadBalancer, ExternalName");
  }
}

std::optional<TrafficPolicy> readPolicy(ObjectReader& spec, std::string_view key, bool allowGlobal) {
  const auto text = spec.string(key);
  if (!text || text->empty() || *text == "Cluster") return TrafficPolicy::Cluster;
  if (*text == "Local") return TrafficPolicy::Local;
  if (allowGlobal && *text == "Global") return TrafficPolicy::Cluster;  // pre-1.x spelling of Cluster
  spec.error(key, json::quote(*text) + " is not one of Cluster, Local");
  return std::nullopt;
}

void readAffinity(ObjectReader& spec, Errors& errors, Service& service) {
  const auto text = spec.string("sessionAffinity");
  if (text && *text == "ClientIP") {
    service.sessionAffinity = SessionAffinity::ClientIP;
  } else if (text && !text->empty() && *text != "None") {
    spec.error("sessionAffinity", json::quote(*text) + " is not one of None, ClientIP");
  }
  const auto* config = spec.object("sessionAffinityConfig");
  if (config == nullptr) return;
  ObjectReader configReader(*config, spec.pathOf("sessionAffinityConfig"), errors, kLenient);
  const auto* clientIp = configReader.object("clientIP");
  if (clientIp == nullptr) return;
  ObjectReader clientReader(*clientIp, configReader.pathOf("clientIP"), errors, kLenient);
  const auto timeout = clientReader.integer("timeoutSeconds");
  if (!timeout) return;
  if (*timeout < 1 || *timeout > kMaxAffinityTimeout) {
    clientReader.error("timeoutSeconds", std::to_string(*timeout) + " is out of range 1..86400");
  } else {
    service.stickyMaxAgeSeconds = static_cast<uint32_t>(*timeout);
  }
}

void readSourceRanges(ObjectReader& spec, Errors& errors, Service& service) {
  const auto* array = spec.array("loadBalancerSourceRanges");
  if (array == nullptr) return;
  for (size_t i = 0; i < array->size(); ++i) {
    const std::string path = json::indexPath(spec.pathOf("loadBalancerSourceRanges"), i);
    auto text = json::asString((*array)[i], path, errors);
    if (!text) continue;
    // kube-proxy trims spaces around each range; users write "10.0.0.0/8, 192.168.0.0/16" styles.
    const auto first = text->find_first_not_of(' ');
    const auto last = text->find_last_not_of(' ');
    const std::string trimmed = first == std::string::npos ? "" : text->substr(first, last - first + 1);
    if (trimmed.empty() || looksLikeIpv6(trimmed)) continue;
    if (const auto cidr = parseIpv4CidrSloppy(trimmed)) {
      service.loadBalancerSourceRanges.push_back(*cidr);
    } else {
      errors.push_back(path + ": " + json::quote(*text) + " is not a valid CIDR");
    }
  }
}

void readLoadBalancerStatus(ObjectReader& top, Errors& errors, Service& service) {
  const auto* status = top.object("status");
  if (status == nullptr) return;
  ObjectReader statusReader(*status, "status", errors, kLenient);
  const auto* loadBalancer = statusReader.object("loadBalancer");
  if (loadBalancer == nullptr) return;
  ObjectReader lbReader(*loadBalancer, statusReader.pathOf("loadBalancer"), errors, kLenient);
  const auto* ingress = lbReader.array("ingress");
  if (ingress == nullptr) return;
  for (size_t i = 0; i < ingress->size(); ++i) {
    const std::string path = json::indexPath(lbReader.pathOf("ingress"), i);
    const auto* entry = json::asObject((*ingress)[i], path, errors);
    if (entry == nullptr) continue;
    ObjectReader entryReader(*entry, path, errors, kLenient);
    // Hostname-only entries (some cloud load balancers) give the proxy nothing to match.
    if (const auto* ip = entryReader.get("ip")) readIp(*ip, entryReader.pathOf("ip"), errors, service.loadBalancerIPs);
  }
}

std::optional<SliceEndpoint> readSliceEndpoint(const boost::json::value& value, const std::string& path,
                                               bool ipv4, Errors& errors) {
  const auto* object = json::asObject(value, path, errors);
  if (object == nullptr) return std::nullopt;
  ObjectReader reader(*object, path, errors, kLenient);
  const size_t errorsBefore = errors.size();
  SliceEndpoint endpoint;
  const auto* addresses = reader.array("addresses");
  if (addresses == nullptr && reader.get("addresses") == nullptr) reader.error("addresses", "required");
  for (size_t i = 0; addresses != nullptr && i < addresses->size(); ++i) {
    const std::string addressPath = json::indexPath(reader.pathOf("addresses"), i);
    const auto text = json::asString((*addresses)[i], addressPath, errors);
    if (!text || !ipv4) continue;  // IPv6 and FQDN slices are type-checked only
    if (const auto ip = parseIpv4Sloppy(*text)) {
      endpoint.addresses.push_back(*ip);
    } else {
      errors.push_back(addressPath + ": " + json::quote(*text) + " is not a valid IPv4 address");
    }
  }
  if (const auto* conditions = reader.object("conditions")) {
    ObjectReader conditionReader(*conditions, reader.pathOf("conditions"), errors, kLenient);
    endpoint.conditions.ready = conditionReader.boolean("ready");
    endpoint.conditions.serving = conditionReader.boolean("serving");
    endpoint.conditions.terminating = conditionReader.boolean("terminating");
  }
  endpoint.nodeName = reader.string("nodeName").value_or("");
  endpoint.zone = reader.string("zone").value_or("");
  if (errors.size() != errorsBefore) return std::nullopt;
  return endpoint;
}

std::optional<EndpointPort> readSlicePort(const boost::json::value& value, const std::string& path, Errors& errors) {
  const auto* object = json::asObject(value, path, errors);
  if (object == nullptr) return std::nullopt;
  ObjectReader reader(*object, path, errors, kLenient);
  EndpointPort port;
  port.name = reader.string("name").value_or("");
  if (!port.name.empty()) checkName(port.name, dns1123LabelProblems, reader.pathOf("name"), errors);
  port.protocol = readProtocol(reader).value_or(Protocol::Tcp);
  port.port = readPortField(reader, "port", errors, false);
  return port;
}

}  // namespace

Decoded<Service> decodeService(const boost::json::value& value) {
  Errors errors;
  Service service;
  const auto* object = value.if_object();
  if (object == nullptr) {
    return finish(std::move(service), "Service", {"expected an object, got " + json::describe(value)});
  }
  ObjectReader top(*object, "", errors, kLenient);
  service.meta = readMeta(top, errors, dns1035LabelProblems);
  if (const auto* specObject = top.object("spec")) {
    ObjectReader spec(*specObject, "spec", errors, kLenient);
    readType(spec, service);
    readClusterIps(spec, errors, service);
    readServicePorts(spec, errors, service);
    readIpList(spec, "externalIPs", errors, service.externalIPs, Frontend::Yes);
    readSourceRanges(spec, errors, service);
    readAffinity(spec, errors, service);
    service.externalTrafficPolicy = readPolicy(spec, "externalTrafficPolicy", true).value_or(TrafficPolicy::Cluster);
    service.internalTrafficPolicy = readPolicy(spec, "internalTrafficPolicy", false).value_or(TrafficPolicy::Cluster);
  } else if (top.get("spec") == nullptr) {
    top.error("spec", "required");
  }
  readLoadBalancerStatus(top, errors, service);
  return finish(std::move(service), "Service", errors);
}

Decoded<EndpointSlice> decodeEndpointSlice(const boost::json::value& value) {
  Errors errors;
  EndpointSlice slice;
  const auto* object = value.if_object();
  if (object == nullptr) {
    return finish(std::move(slice), "EndpointSlice", {"expected an object, got " + json::describe(value)});
  }
  ObjectReader top(*object, "", errors, kLenient);
  slice.meta = readMeta(top, errors, dns1123SubdomainProblems);
  // As kube-proxy: a trigger time that does not parse is ignored (the slice is good).
  if (const auto trigger = slice.meta.annotations.find(std::string(kLastChangeTriggerTimeAnnotation));
      trigger != slice.meta.annotations.end()) {
    slice.lastChangeTriggerTime = parseRfc3339(trigger->second);
  }
  const auto label = slice.meta.labels.find("kubernetes.io/service-name");
  if (label == slice.meta.labels.end() || label->second.empty()) {
    errors.push_back("metadata.labels: missing kubernetes.io/service-name (the slice's service)");
  } else {
    // Only a valid Service name can ever match a Service.
    checkName(label->second, dns1035LabelProblems, "metadata.labels[kubernetes.io/service-name]", errors);
    slice.serviceName = label->second;
  }

  slice.addressType = top.string("addressType").value_or("");
  if (slice.addressType.empty() && top.get("addressType") == nullptr) {
    top.error("addressType", "required");
  } else if (!slice.addressType.empty() && slice.addressType != "IPv4" && slice.addressType != "IPv6" &&
             slice.addressType != "FQDN") {
    top.error("addressType", json::quote(slice.addressType) + " is not one of IPv4, IPv6, FQDN");
  }

  if (const auto* ports = top.array("ports")) {
    for (size_t i = 0; i < ports->size(); ++i) {
      if (auto port = readSlicePort((*ports)[i], json::indexPath("ports", i), errors)) slice.ports.push_back(*port);
    }
  }
  if (const auto* endpoints = top.array("endpoints")) {
    for (size_t i = 0; i < endpoints->size(); ++i) {
      const bool ipv4 = slice.addressType == "IPv4";
      auto endpoint = readSliceEndpoint((*endpoints)[i], json::indexPath("endpoints", i), ipv4, errors);
      if (endpoint) slice.endpoints.push_back(std::move(*endpoint));
    }
  }
  return finish(std::move(slice), "EndpointSlice", errors);
}

}  // namespace nicproxy::k8s

#include "control/config_exception.hpp"

#include <algorithm>
#include <cctype>

#include "control/config_ports.hpp"

namespace nicproxy {

const char* exceptionPathKindName(ExceptionPathKind kind) {
  switch (kind) {
    case ExceptionPathKind::Tap: return "tap";
    case ExceptionPathKind::VirtioUser: return "virtio-user";
    case ExceptionPathKind::None: break;
  }
  return "none";
}

std::optional<ExceptionPathKind> exceptionPathKindFromName(std::string_view name) {
  if (name == "tap") return ExceptionPathKind::Tap;
  if (name == "virtio-user") return ExceptionPathKind::VirtioUser;
  if (name == "none") return ExceptionPathKind::None;
  return std::nullopt;
}

std::string whyNotAnInterfaceName(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > 15) return "is " + std::to_string(name.size()) + " bytes long; Linux takes at most 15";
  if (name == "." || name == "..") return "is not a usable interface name";
  const auto bad = std::find_if(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_' && c != '.';
  });
  if (bad != name.end()) return "may hold only letters, digits, '-', '_' and '.'";
  return {};
}

std::string exceptionInterfaceName(const DpdkPortConfig& port, size_t index) {
  return port.exception.interface.empty() ? "nicproxy" + std::to_string(index) : port.exception.interface;
}

void readPortException(json::ObjectReader& reader, DpdkPortConfig& port) {
  ExceptionPathConfig& exception = port.exception;
  if (const auto text = reader.string("exceptionPath")) {
    if (const auto kind = exceptionPathKindFromName(*text)) {
      exception.kind = *kind;
      exception.kindFromFile = true;
    } else {
      reader.error("exceptionPath", json::quote(*text) + " is not one of tap, virtio-user, none");
    }
  }
  if (const auto text = reader.string("exceptionInterface")) {
    if (const std::string why = whyNotAnInterfaceName(*text); !why.empty()) {
      reader.error("exceptionInterface", json::quote(*text) + " " + why);
    } else {
      exception.interface = *text;
    }
  }
  if (const auto text = reader.string("exceptionAddresses")) {
    if (*text == "nicproxy") {
      exception.configureAddresses = true;
    } else if (*text != "host") {
      reader.error("exceptionAddresses", json::quote(*text) + " is not one of host, nicproxy");
    }
  }
  // Unset, the kind becomes "tap" only for an address from the Node's InternalIP
  // (resolvePortAddresses); a port whose address is in the file keeps "none".
  const bool surelyNone = exception.kind == ExceptionPathKind::None && (exception.kindFromFile || !port.addressUnresolved);
  if (exception.configureAddresses && surelyNone) {
    reader.error("exceptionAddresses", std::string("\"nicproxy\" needs an exception interface, and exceptionPath is ") +
                                           (exception.kindFromFile ? "\"none\"" : "not set (set it to \"tap\")"));
  }
}

std::vector<std::string> exceptionInterfaceErrors(const std::vector<DpdkPortConfig>& ports) {
  std::vector<std::string> errors;
  std::vector<std::string> attached;  // interfaces the DPDK ports' devices take
  for (const DpdkPortConfig& port : ports) {
    for (std::string& name : deviceClaims(port.device).interfaces) attached.push_back(std::move(name));
  }
  std::vector<std::pair<std::string, size_t>> taken;  // exception interface, port index
  for (size_t i = 0; i < ports.size(); ++i) {
    const ExceptionPathConfig& exception = ports[i].exception;
    if (exception.kindFromFile && exception.kind == ExceptionPathKind::None) continue;
    const std::string name = exceptionInterfaceName(ports[i], i);
    const std::string path = "dpdk.ports[" + std::to_string(i) + "].exceptionInterface: " + json::quote(name);
    const auto other = std::find_if(taken.begin(), taken.end(), [&](const auto& t) { return t.first == name; });
    if (other != taken.end()) {
      errors.push_back(path + " is also the exception interface of dpdk.ports[" + std::to_string(other->second) + "]");
    } else if (std::find(attached.begin(), attached.end(), name) != attached.end()) {
      errors.push_back(path + " is an interface a dpdk.ports[].device attaches to");
    }
    taken.emplace_back(name, i);
  }
  return errors;
}

void readExceptionLimits(json::ObjectReader& dpdk, json::Errors& errors, ExceptionLimitsConfig& limits) {
  const auto* object = dpdk.object("exception");
  if (object == nullptr) return;
  json::ObjectReader reader(*object, dpdk.pathOf("exception"), errors, json::ObjectReader::Nulls::Error);
  const auto bounded = [&reader](std::string_view key, int64_t low, int64_t high, const char* what, uint32_t& out) {
    const auto value = reader.integer(key, what);
    if (!value) return false;
    if (*value < low || *value > high) {
      reader.error(key, std::to_string(*value) + " is out of range " + std::to_string(low) + ".." + std::to_string(high));
      return false;
    }
    out = static_cast<uint32_t>(*value);
    return true;
  };
  bounded("packetsPerSecond", 0, kMaxExceptionPacketsPerSecond, "a non-negative integer (0: no limit)",
          limits.packetsPerSecond);
  bounded("burst", 1, kMaxExceptionBurst, "a positive integer", limits.burst);
  uint32_t ringSize = 0;
  if (bounded("ringSize", kMinExceptionRingSize, kMaxExceptionRingSize, "a power of two", ringSize)) {
    if ((ringSize & (ringSize - 1)) != 0) {
      reader.error("ringSize", std::to_string(ringSize) + " is not a power of two");
    } else {
      limits.ringSize = ringSize;
    }
  }
  reader.rejectUnknownKeys();
}

}  // namespace nicproxy

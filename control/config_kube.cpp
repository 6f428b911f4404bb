#include "control/config_kube.hpp"

#include <algorithm>
#include <cctype>

#include "control/bind_address.hpp"
#include "control/duration.hpp"

namespace nicproxy {
namespace {

using json::ObjectReader;

// The JSON shape kube-proxy's Go type takes (null is always accepted: Go leaves the field
// at its zero value).
enum class Shape : uint8_t { String, Bool, Integer, Number, Duration, StringList, Object, Any };

struct IgnoredField {
  std::string_view section;  // "" for the top level
  std::string_view key;
  Shape shape;
};

// KubeProxyConfiguration v1alpha1 (k8s.io/kube-proxy/config/v1alpha1/types.go,
// Kubernetes 1.31) fields that nicproxy does not use. Every other field of that type is
// read by parseConfig.
constexpr IgnoredField kIgnoredFields[] = {
    {"", "featureGates", Shape::Object},
    {"", "bindAddress", Shape::String},
    {"", "bindAddressHardFail", Shape::Bool},
    {"", "enableProfiling", Shape::Bool},
    {"", "showHiddenMetricsForVersion", Shape::String},
    {"", "detectLocalMode", Shape::String},
    {"", "portRange", Shape::String},
    {"", "oomScoreAdj", Shape::Integer},
    {"", "configSyncPeriod", Shape::Duration},
    {"", "windowsRunAsService", Shape::Bool},
    {"clientConnection", "acceptContentTypes", Shape::String},
    {"clientConnection", "contentType", Shape::String},
    {"clientConnection", "qps", Shape::Number},
    {"clientConnection", "burst", Shape::Integer},
    {"iptables", "localhostNodePorts", Shape::Bool},
    {"ipvs", "excludeCIDRs", Shape::StringList},
    {"ipvs", "strictARP", Shape::Bool},
    {"conntrack", "maxPerCore", Shape::Integer},
    {"conntrack", "min", Shape::Integer},
    {"detectLocal", "bridgeInterface", Shape::String},
    {"detectLocal", "interfaceNamePrefix", Shape::String},
    {"winkernel", "networkName", Shape::String},
    {"winkernel", "sourceVip", Shape::String},
    {"winkernel", "enableDSR", Shape::Bool},
    {"winkernel", "rootHnsEndpointName", Shape::String},
    {"winkernel", "forwardHealthCheckVip", Shape::Bool},
    // component-base's LoggingConfiguration; nicproxy's logging is set by its flags.
    {"logging", "format", Shape::String},
    {"logging", "flushFrequency", Shape::Any},  // nanoseconds or a duration string
    {"logging", "verbosity", Shape::Integer},
    {"logging", "vmodule", Shape::Any},
    {"logging", "options", Shape::Object},
};

// Sections nicproxy ignores whole; their keys are listed above.
constexpr std::string_view kIgnoredSections[] = {"detectLocal", "winkernel", "logging"};

// What kubeadm and kube-proxy print for a field left unset: null, false, 0, "", "0s",
// "0" (a quantity such as logging's infoBufferSize), and lists or objects of those.
bool isZeroValue(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::null: return true;
    case boost::json::kind::bool_: return !value.get_bool();
    case boost::json::kind::int64: return value.get_int64() == 0;
    case boost::json::kind::uint64: return value.get_uint64() == 0;
    case boost::json::kind::double_: return value.get_double() == 0.0;
    case boost::json::kind::string: {
      const auto& text = value.get_string();
      return text.empty() || text == "0" || text == "0s";
    }
    case boost::json::kind::array: return value.get_array().empty();
    case boost::json::kind::object: {
      const auto& object = value.get_object();
      return std::all_of(object.begin(), object.end(), [](const auto& entry) { return isZeroValue(entry.value()); });
    }
  }
  return false;
}

// Records a type mismatch; true when the value has the shape kube-proxy takes.
bool checkShape(const boost::json::value& value, Shape shape, const std::string& path, json::Errors& errors) {
  switch (shape) {
    case Shape::String: return json::asString(value, path, errors).has_value();
    case Shape::Bool:
      if (value.is_bool()) return true;
      errors.push_back(path + ": expected true or false, got " + json::describe(value));
      return false;
    case Shape::Integer: return json::asInteger(value, path, errors).has_value();
    case Shape::Number:
      if (value.is_number()) return true;
      errors.push_back(path + ": expected a number, got " + json::describe(value));
      return false;
    case Shape::Duration: {
      const auto text = json::asString(value, path, errors);
      if (!text) return false;
      if (parseGoDuration(*text)) return true;
      errors.push_back(path + ": " + json::quote(*text) + R"( is not a duration such as "1s", "500ms" or "15m0s")");
      return false;
    }
    case Shape::StringList: {
      const auto* array = json::asArray(value, path, errors);
      if (array == nullptr) return false;
      bool good = true;
      for (size_t i = 0; i < array->size(); ++i) {
        good = json::asString((*array)[i], json::indexPath(path, i), errors).has_value() && good;
      }
      return good;
    }
    case Shape::Object: return json::asObject(value, path, errors) != nullptr;
    case Shape::Any: return true;
  }
  return true;
}

void skipFields(ObjectReader& reader, std::string_view section, json::Errors& errors, IgnoredFields& ignored) {
  for (const IgnoredField& field : kIgnoredFields) {
    if (field.section != section) continue;
    reader.allowNull({field.key});
    const auto* value = reader.get(field.key);
    if (value == nullptr) continue;
    const std::string path = reader.pathOf(field.key);
    if (checkShape(*value, field.shape, path, errors) && !isZeroValue(*value)) ignored.push_back(path);
  }
}

}  // namespace

void readKubeProxyHeader(ObjectReader& top) {
  top.allowNull({"apiVersion", "kind"});
  if (const auto version = top.string("apiVersion"); version && *version != kKubeProxyApiVersion) {
    top.error("apiVersion", json::quote(*version) + " is not " + std::string(kKubeProxyApiVersion) +
                                " (the KubeProxyConfiguration version nicproxy reads)");
  }
  if (const auto kind = top.string("kind"); kind && *kind != kKubeProxyKind) {
    top.error("kind", json::quote(*kind) + " is not " + std::string(kKubeProxyKind));
  }
}

void readHostnameOverride(ObjectReader& top, Config& config) {
  top.allowNull({"hostnameOverride"});
  const auto text = top.string("hostnameOverride");
  if (!text) return;
  // kube-proxy's GetHostname: surrounding blanks dropped, lower case.
  std::string name = *text;
  name.erase(0, name.find_first_not_of(" \t\r\n"));
  name.erase(name.find_last_not_of(" \t\r\n") + 1);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.empty()) return;  // kube-proxy's zero value: not set
  if (!config.nodeName.empty() && config.nodeName != name) {
    top.error("hostnameOverride", json::quote(name) + " names another node than nodeName " +
                                      json::quote(config.nodeName) + "; set one of them");
    return;
  }
  config.nodeName = std::move(name);
}

void readBindAddresses(ObjectReader& top, Config& config) {
  const struct {
    std::string_view key;
    uint16_t defaultPort;
    std::string& field;
  } fields[] = {{"metricsBindAddress", kDefaultMetricsPort, config.metricsBindAddress},
                {"healthzBindAddress", kDefaultHealthzPort, config.healthzBindAddress}};
  for (const auto& [key, defaultPort, field] : fields) {
    top.allowNull({key});
    const auto text = top.string(key);
    if (!text || text->empty()) continue;  // kube-proxy's zero value: its default, already in `config`
    std::string why;
    if (const auto address = parseBindAddress(*text, defaultPort, why)) {
      field = formatBindAddress(*address);
    } else {
      top.error(key, why);
    }
  }
}

void skipIgnoredKubeProxyFields(ObjectReader& reader, std::string_view section, json::Errors& errors,
                                IgnoredFields& ignored) {
  skipFields(reader, section, errors, ignored);
  if (!section.empty()) return;
  for (const std::string_view name : kIgnoredSections) {
    reader.allowNull({name});
    const auto* object = reader.object(name);
    if (object == nullptr) continue;
    ObjectReader sectionReader(*object, reader.pathOf(name), errors, ObjectReader::Nulls::Error);
    skipFields(sectionReader, name, errors, ignored);
    sectionReader.rejectUnknownKeys();
  }
}

std::string ignoredFieldsWarning(const IgnoredFields& ignored) {
  if (ignored.empty()) return {};
  IgnoredFields sorted = ignored;  // in alphabetical order, whatever order they were read in
  std::sort(sorted.begin(), sorted.end());
  std::string text = "kube-proxy settings that nicproxy ignores: ";
  for (size_t i = 0; i < sorted.size(); ++i) text += (i == 0 ? "" : ", ") + sorted[i];
  return text;
}

}  // namespace nicproxy

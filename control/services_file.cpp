#include "control/services_file.hpp"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "control/change_tracker.hpp"
#include "control/json_reader.hpp"
#include "control/k8s/decode.hpp"
#include "control/service_checks.hpp"

namespace nicproxy {
namespace {

std::string itemName(const boost::json::object& item) {
  std::string namespaceName = "default";
  std::string name = "(unnamed)";
  if (const auto* meta = item.if_contains("metadata"); meta != nullptr && meta->is_object()) {
    const auto& object = meta->as_object();
    if (const auto* ns = object.if_contains("namespace"); ns != nullptr && ns->is_string()) {
      namespaceName = std::string(ns->as_string().c_str());
    }
    if (const auto* n = object.if_contains("name"); n != nullptr && n->is_string()) name = n->as_string().c_str();
  }
  return namespaceName + "/" + name;
}

std::string stringField(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(boost::json::string_view(key.data(), key.size()));
  return value != nullptr && value->is_string() ? std::string(value->as_string().c_str()) : std::string();
}

// "items[3]" + "spec.ports[0].port: 70000 is not a valid port" from Service default/web
// -> "items[3].spec.ports[0].port: 70000 is not a valid port (Service default/web)": the
// key path first, as jq and --validate's readers look for it.
std::string atPath(const std::string& where, const k8s::DecodeError& error) {
  const size_t colon = error.message.find(": ");
  const bool leadingPath = colon != std::string::npos && colon != 0 &&
                           error.message.find(' ') > colon;  // a key path has no spaces
  if (!leadingPath) return (where.empty() ? "" : where + ": ") + error.object + ": " + error.message;
  return (where.empty() ? "" : where + ".") + error.message + " (" + error.object + ")";
}

void reportErrors(const std::string& where, const std::vector<k8s::DecodeError>& errors,
                  ServicesFileContents& contents) {
  for (const auto& error : errors) contents.errors.push_back(atPath(where, error));
}

// Typed lists from the API (ServiceList, EndpointSliceList) leave kind off their items.
std::string defaultItemKind(const std::string& listKind) {
  if (listKind == "ServiceList") return "Service";
  if (listKind == "EndpointSliceList") return "EndpointSlice";
  return {};
}

// `where` is the item's key path ("items[3]"; empty for a file holding one object).
void addItem(const boost::json::value& value, const std::string& where, const std::string& defaultKind,
             ServicesFileContents& contents) {
  const std::string prefix = where.empty() ? "" : where + ": ";
  const auto* item = value.if_object();
  if (item == nullptr) {
    contents.errors.push_back(prefix + "expected an object, got " + json::describe(value));
    return;
  }
  std::string kind = stringField(*item, "kind");
  if (kind.empty()) kind = defaultKind;
  const std::string apiVersion = stringField(*item, "apiVersion");

  if (kind == "Service" && (apiVersion.empty() || apiVersion == "v1")) {
    auto decoded = k8s::decodeService(value);
    if (auto* errors = std::get_if<std::vector<k8s::DecodeError>>(&decoded)) {
      reportErrors(where, *errors, contents);
      return;
    }
    auto& service = std::get<k8s::Service>(decoded);
    if (service.headless) {
      contents.warnings.push_back(prefix + "skipping headless or ExternalName Service " + service.meta.key());
      return;
    }
    contents.services.push_back(std::move(service));
    contents.serviceItems.push_back(where);
  } else if (kind == "EndpointSlice" && (apiVersion.empty() || apiVersion == "discovery.k8s.io/v1")) {
    auto decoded = k8s::decodeEndpointSlice(value);
    if (auto* errors = std::get_if<std::vector<k8s::DecodeError>>(&decoded)) {
      reportErrors(where, *errors, contents);
      return;
    }
    auto& slice = std::get<k8s::EndpointSlice>(decoded);
    if (slice.addressType != "IPv4") {
      contents.warnings.push_back(prefix + "skipping EndpointSlice " + slice.meta.key() + ": addressType " +
                                  slice.addressType + " (nicproxy is IPv4-only)");
      return;
    }
    contents.slices.push_back(std::move(slice));
    contents.sliceItems.push_back(where);
  } else if (kind == "Service" || kind == "EndpointSlice") {
    contents.warnings.push_back(prefix + "skipping " + kind + " " + itemName(*item) + ": apiVersion " + apiVersion +
                                " is not supported");
  } else {
    contents.warnings.push_back(prefix + "skipping kind " + (kind.empty() ? "(none)" : kind) + " " + itemName(*item));
  }
}

// What no single item shows: the same object twice, an address or node port two
// Services claim, a node port outside the range.
void checkAcrossItems(ServicesFileContents& contents) {
  std::vector<PlacedService> services;
  std::vector<PlacedSlice> slices;
  for (size_t i = 0; i < contents.services.size(); ++i) {
    services.push_back({&contents.services[i], contents.serviceItems[i]});
  }
  for (size_t i = 0; i < contents.slices.size(); ++i) slices.push_back({&contents.slices[i], contents.sliceItems[i]});
  for (std::string& problem : checkServiceSet(services, slices, ServiceCheckOptions{})) {
    contents.errors.push_back(std::move(problem));
  }
}

}  // namespace

// Items are numbered from 0, as items[N] in the file (and in jq).
ServicesFileContents parseServicesList(std::string_view jsonText) {
  ServicesFileContents contents;
  std::string error;
  const auto document = json::parse(jsonText, error);
  if (!document) {
    contents.unreadable = true;
    contents.errors.push_back(error);
    return contents;
  }
  const auto* top = document->if_object();
  if (top == nullptr) {
    contents.unreadable = true;
    contents.errors.push_back("expected a Kubernetes List object, got " + json::describe(*document));
    return contents;
  }
  const std::string kind = stringField(*top, "kind");
  const auto* items = top->if_contains("items");
  if (items == nullptr && (kind == "Service" || kind == "EndpointSlice")) {
    addItem(*document, {}, {}, contents);  // a single object is a list of one
    checkAcrossItems(contents);
    return contents;
  }
  // `{}` or a List whose items went missing (a truncated or templated file) would
  // remove every Service: that has to be said explicitly, with "items": [].
  if (items == nullptr || items->is_null()) {
    contents.unreadable = true;
    contents.errors.push_back(std::string("items: ") + (items == nullptr ? "required" : "must not be null") +
                              " (a Kubernetes List of Services and EndpointSlices; \"items\": [] removes every "
                              "Service)");
    return contents;
  }
  if (!items->is_array()) {
    contents.unreadable = true;
    contents.errors.push_back("items: expected an array, got " + json::describe(*items));
    return contents;
  }
  if (items->as_array().empty()) contents.warnings.emplace_back("items: the list is empty: no Service is served");
  const std::string defaultKind = defaultItemKind(kind);
  for (size_t i = 0; i < items->as_array().size(); ++i) {
    addItem(items->as_array()[i], json::indexPath("items", i), defaultKind, contents);
  }
  checkAcrossItems(contents);
  return contents;
}

ServicesFileContents loadServicesFile(const std::filesystem::path& path) {
  std::string error;
  const auto text = json::readFile(path, error);
  if (!text) {
    ServicesFileContents contents;
    contents.unreadable = true;
    contents.errors.push_back(error);
    return contents;
  }
  return parseServicesList(*text);
}

bool loadServicesFileInto(const std::filesystem::path& path, ChangeTracker& tracker, bool keepOnFailure) {
  ServicesFileContents contents = loadServicesFile(path);
  for (const std::string& warning : contents.warnings) spdlog::warn("servicesFile {}: {}", path.string(), warning);
  for (const std::string& error : contents.errors) spdlog::error("servicesFile {}: {}", path.string(), error);
  // All or nothing, the rule --validate applies: a file with one bad item is a file
  // being edited or generated wrongly, and applying the rest would remove that item's
  // Service (and reset its clients) although nobody asked for it.
  if (!contents.ok()) {
    const std::string why =
        contents.unreadable ? "cannot be used" : std::to_string(contents.errors.size()) + " error(s)";
    if (keepOnFailure) {
      spdlog::error("servicesFile {}: {}; nothing applied, keeping the {} service ports in force", path.string(), why,
                    tracker.current()->size());
      return false;
    }
    throw std::runtime_error("servicesFile " + path.string() + ": " + why + " (nicproxy --validate lists them)");
  }
  tracker.replaceAll(std::move(contents.services), std::move(contents.slices));
  return true;
}

}  // namespace nicproxy

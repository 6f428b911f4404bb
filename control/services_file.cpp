#include "control/services_file.hpp"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "control/change_tracker.hpp"
#include "control/json_reader.hpp"
#include "control/k8s/decode.hpp"

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

void reportErrors(const std::string& prefix, const std::vector<k8s::DecodeError>& errors,
                  ServicesFileContents& contents) {
  for (const auto& error : errors) contents.errors.push_back(prefix + error.toString());
}

// Typed lists from the API (ServiceList, EndpointSliceList) leave kind off their items.
std::string defaultItemKind(const std::string& listKind) {
  if (listKind == "ServiceList") return "Service";
  if (listKind == "EndpointSliceList") return "EndpointSlice";
  return {};
}

void addItem(const boost::json::value& value, size_t index, const std::string& defaultKind,
             ServicesFileContents& contents) {
  const std::string prefix = "item " + std::to_string(index) + ": ";
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
      reportErrors(prefix, *errors, contents);
      return;
    }
    auto& service = std::get<k8s::Service>(decoded);
    if (service.headless) {
      contents.warnings.push_back(prefix + "skipping headless or ExternalName Service " + service.meta.key());
      return;
    }
    contents.services.push_back(std::move(service));
  } else if (kind == "EndpointSlice" && (apiVersion.empty() || apiVersion == "discovery.k8s.io/v1")) {
    auto decoded = k8s::decodeEndpointSlice(value);
    if (auto* errors = std::get_if<std::vector<k8s::DecodeError>>(&decoded)) {
      reportErrors(prefix, *errors, contents);
      return;
    }
    auto& slice = std::get<k8s::EndpointSlice>(decoded);
    if (slice.addressType != "IPv4") {
      contents.warnings.push_back(prefix + "skipping EndpointSlice " + slice.meta.key() + ": addressType " +
                                  slice.addressType + " (nicproxy is IPv4-only)");
      return;
    }
    contents.slices.push_back(std::move(slice));
  } else if (kind == "Service" || kind == "EndpointSlice") {
    contents.warnings.push_back(prefix + "skipping " + kind + " " + itemName(*item) + ": apiVersion " + apiVersion +
                                " is not supported");
  } else {
    contents.warnings.push_back(prefix + "skipping kind " + (kind.empty() ? "(none)" : kind) + " " + itemName(*item));
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
  const auto* items = top->if_contains("items");
  if (items == nullptr) {
    addItem(*document, 0, {}, contents);  // a single object is a list of one
    return contents;
  }
  if (items->is_null()) return contents;  // an empty List as some tools write it
  if (!items->is_array()) {
    contents.unreadable = true;
    contents.errors.push_back("items: expected an array, got " + json::describe(*items));
    return contents;
  }
  const std::string defaultKind = defaultItemKind(stringField(*top, "kind"));
  for (size_t i = 0; i < items->as_array().size(); ++i) addItem(items->as_array()[i], i, defaultKind, contents);
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
  for (const std::string& warning : contents.warnings) spdlog::warn("servicesFile: {}", warning);
  for (const std::string& error : contents.errors) spdlog::error("servicesFile: {}", error);
  if (contents.unreadable) {
    if (keepOnFailure) {
      spdlog::error("servicesFile {}: unreadable; keeping the services in force", path.string());
      return false;
    }
    throw std::runtime_error("servicesFile " + path.string() + " cannot be read");
  }
  tracker.replaceAll(std::move(contents.services), std::move(contents.slices));
  return true;
}

}  // namespace nicproxy

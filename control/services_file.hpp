#pragma once
// The services file: a Kubernetes List (kind "List", items[]) as
// `kubectl get services,endpointslices -A -o json` writes it.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "control/k8s/objects.hpp"

namespace nicproxy {

struct ServicesFileContents {
  std::vector<k8s::Service> services;      // headless services already left out
  std::vector<k8s::EndpointSlice> slices;
  std::vector<std::string> errors;         // one per rejected item, naming it and the field
  std::vector<std::string> warnings;       // skipped kinds, headless services, IPv6 slices
  bool unreadable = false;                 // the file or its JSON could not be read at all
};

ServicesFileContents parseServicesList(std::string_view jsonText);
ServicesFileContents loadServicesFile(const std::filesystem::path& path);

class ChangeTracker;
/// Loads the file and replaces everything the tracker holds with it, logging each
/// warning and rejected item. An unreadable file changes nothing: with `keepOnFailure`
/// (a reload) that is logged and false is returned, so the services in force stay;
/// without it (start-up) it throws std::runtime_error naming the file.
bool loadServicesFileInto(const std::filesystem::path& path, ChangeTracker& tracker, bool keepOnFailure);

}  // namespace nicproxy

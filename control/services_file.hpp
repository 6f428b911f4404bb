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

}  // namespace nicproxy

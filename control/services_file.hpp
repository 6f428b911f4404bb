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
  std::vector<std::string> serviceItems;   // where each service is: "items[3]" (parallel to services)
  std::vector<std::string> sliceItems;     // the same for slices
  std::vector<std::string> errors;         // "items[3].spec.ports[0].port: ..." per problem, clashes included
  std::vector<std::string> warnings;       // skipped kinds, headless services, IPv6 slices, an empty list
  bool unreadable = false;                 // the file, its JSON or its items could not be read at all
  /// Whether the file may be applied: it has no error at all (all or nothing).
  bool ok() const { return errors.empty() && !unreadable; }
};

ServicesFileContents parseServicesList(std::string_view jsonText);
ServicesFileContents loadServicesFile(const std::filesystem::path& path);

class ChangeTracker;
/// Loads the file and, when it has no error at all (ok(), the rule --validate applies),
/// replaces everything the tracker holds with it. Every warning and error is logged by
/// key path. A file with any error changes nothing: with `keepOnFailure` (a reload)
/// false is returned and the services in force stay; without it (start-up) it throws
/// std::runtime_error naming the file.
bool loadServicesFileInto(const std::filesystem::path& path, ChangeTracker& tracker, bool keepOnFailure);

}  // namespace nicproxy

#pragma once
// What the telemetry commands show of the control thread's side, as plain text lines:
// the control view of the services beside what the workers' frontend index holds, and
// the frontend and backend a traced packet would get.
//
// Who calls: the control thread only (DataPathInspector runs these as jobs in the serve
// loop's rounds). The control thread is the index's only writer, so it reads the index
// and the writer's records without racing anything; the workers read the same index
// lock-free (frontend_index.hpp).
#include <string>
#include <vector>

#include "control/model.hpp"
#include "control/trace_request.hpp"
#include "dpdk_app/service_table_writer.hpp"

namespace nicproxy {

struct ServicesView {
  size_t servicePorts = 0;  // in the control view
  size_t shown = 0;         // matching the filter
  size_t frontends = 0;     // in the index
  /// One line per service port matching the filter: name, the control view (cluster IP,
  /// endpoints the data path should use) and the index's (frontends, backends), "ok" or
  /// "DISAGREE".
  std::vector<std::string> lines;
  /// One line per disagreement found (over every service port, filter or not).
  std::vector<std::string> disagreements;
  /// With a filter: the endpoints of each shown port, as control and index see them.
  std::vector<std::string> details;
};

/// Compares `table` (the control view; may be null before the first sync) with the index
/// of `writer` (may be null). `filter`: a substring of "namespace/name:port"; empty: all.
ServicesView compareServices(const ServiceTable* table, const ServiceTableWriter* writer, const std::string& filter);

struct TraceView {
  std::string frontend;  // "10.96.0.10:80/TCP of demo/web:http", or why there is none
  std::string verdict;   // what the data path does with a new connection
  std::string backend;   // the endpoint it would pick now, or why that cannot be said
  std::vector<std::string> candidates;  // the frontend's endpoints
};

/// Looks `request` up in the index as a worker would for a new connection.
TraceView traceFrontend(const TraceRequest& request, const ServiceTableWriter* writer);

}  // namespace nicproxy

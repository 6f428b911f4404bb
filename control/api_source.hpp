#pragma once
// The API server as a source of Services and EndpointSlices (and of this node's
// addresses and zone), feeding the same change tracker as the services file.
//
// Threads: three reflectors (services, endpointslices, this node) each run on their
// own thread; they decode objects there and queue updates under mutex_. The control
// thread owns the ChangeTracker and calls drainInto() to apply the queue.
// synced() turns true once the first complete lists of Services and of EndpointSlices
// have both been applied: until then nothing may be programmed, so that a restart
// never replaces working state with an empty one.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "control/change_tracker.hpp"
#include "control/k8s/kubeconfig.hpp"
#include "control/k8s/reflector.hpp"

namespace nicproxy {

inline constexpr const char* kServiceProxyNameLabel = "service.kubernetes.io/service-proxy-name";
inline constexpr const char* kHeadlessLabel = "service.kubernetes.io/headless";

struct ApiSourceOptions {
  std::string nodeName;          // empty: no node reflector
  std::string serviceProxyName;  // see Config::serviceProxyName
  k8s::ReflectorOptions tuning;  // page size, watch timeout, backoff (resource/path/selectors are set here)
};

inline constexpr const char* kToBeDeletedTaint = "ToBeDeletedByClusterAutoscaler";

/// This node as the API server describes it.
struct NodeInfo {
  bool known = false;
  std::vector<std::string> addresses;  // "InternalIP 10.0.0.5", ...
  std::string zone;                    // label topology.kubernetes.io/zone
  bool deleting = false;               // metadata.deletionTimestamp set, or the Node deleted
  std::vector<std::string> taints;     // spec.taints[].key
  /// Whether load balancers may send this node traffic (KEP-3836, kube-proxy's
  /// SyncNode): not being deleted, no ToBeDeletedByClusterAutoscaler taint. An unknown
  /// node is eligible, as kube-proxy's is until a Node event says otherwise.
  bool eligible() const;
};

struct ApiSourceCounters {
  k8s::ReflectorCounters services, endpointSlices, node;
};

/// kube-proxy's label selector for Services and EndpointSlices, with nicproxy's name:
/// without one, "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"
/// exactly as kube-proxy sends it; with one, only the headless part goes to the server
/// (a selector cannot say "absent or equal to X") and the name is checked here.
std::string proxyLabelSelector(const std::string& serviceProxyName);

class ApiSource {
 public:
  ApiSource(k8s::Connection connection, ApiSourceOptions options);
  ~ApiSource();  // stops the reflectors
  ApiSource(const ApiSource&) = delete;
  ApiSource& operator=(const ApiSource&) = delete;

  /// Called on the node reflector's thread with each new NodeInfo (kube-proxy's node
  /// event handlers: /healthz follows the Node even while a sync is running). Set before
  /// start().
  void setNodeListener(std::function<void(const NodeInfo&)> listener) { nodeListener_ = std::move(listener); }
  void start();
  void stop();

  /// Control thread: applies every queued update to `tracker`. Returns how many.
  size_t drainInto(ChangeTracker& tracker);
  /// Control thread: both first lists applied by drainInto().
  bool synced() const { return servicesSynced_ && slicesSynced_; }
  /// Blocks until an update is queued or `deadline` passes.
  void waitForUpdates(std::chrono::steady_clock::time_point deadline);

  NodeInfo node() const;
  const ApiSourceCounters& counters() const { return counters_; }
  /// The resourceVersions the reflectors would watch from (for tests and logs).
  std::string servicesResourceVersion() const;
  std::string endpointSlicesResourceVersion() const;

  // Updates queued by the reflector threads.
  // `invalid`: objects listed in a version that does not decode; their last good one stays.
  struct ServicesListed { std::vector<k8s::Service> items; std::vector<k8s::ObjectKey> invalid; };
  struct SlicesListed { std::vector<k8s::EndpointSlice> items; std::vector<k8s::ObjectKey> invalid; };
  struct ServiceUpsert { k8s::Service item; };
  struct SliceUpsert { k8s::EndpointSlice item; };
  struct ServiceDelete { std::string namespaceName, name; };
  struct SliceDelete { std::string namespaceName, name; };
  using Update = std::variant<ServicesListed, SlicesListed, ServiceUpsert, SliceUpsert, ServiceDelete, SliceDelete>;
  void push(Update update);  // used by the handlers

 private:
  template <typename Derived, typename Listed, typename Upsert, typename Delete>
  class ObjectHandler;
  class ServiceHandler;
  class SliceHandler;
  class NodeHandler;

  ApiSourceOptions options_;
  ApiSourceCounters counters_;
  std::unique_ptr<ServiceHandler> serviceHandler_;
  std::unique_ptr<SliceHandler> sliceHandler_;
  std::unique_ptr<NodeHandler> nodeHandler_;
  std::unique_ptr<k8s::Reflector> services_, slices_, node_;

  mutable std::mutex mutex_;  // guards queue_ and node_info_
  std::condition_variable wake_;
  std::vector<Update> queue_;
  NodeInfo nodeInfo_;
  std::function<void(const NodeInfo&)> nodeListener_;  // set before start(), then read-only

  // Control thread only.
  std::set<k8s::ObjectKey> knownServices_, knownSlices_;  // what the tracker holds from this source
  bool servicesSynced_ = false, slicesSynced_ = false;

  friend class NodeHandler;
};

}  // namespace nicproxy

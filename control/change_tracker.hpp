#pragma once
// Keeps the current Services and EndpointSlices, as kube-proxy's change trackers do,
// and turns them into ServiceTable snapshots. Only services touched since the last
// apply() are rebuilt; their ServicePorts are compared with the previous snapshot so
// that a no-op change (an object re-sent unchanged) reports nothing as changed.
// Counts changes for kube-proxy's metrics (when given a ProxyMetrics): a Service or an
// EndpointSlice added, changed or deleted is one change; one re-sent unchanged (a relist,
// a reloaded file) is none. It keeps the EndpointSlices' last-change trigger times for
// the sync runner, which observes the network programming latency once they are programmed.
// Not thread-safe: one owner (the control thread).
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "control/k8s/objects.hpp"
#include "control/model.hpp"

namespace nicproxy {

class ProxyMetrics;  // control/proxy_metrics.hpp

struct Snapshot {
  std::shared_ptr<const ServiceTable> table;
  ChangedPorts changed;
  /// The trigger times (endpoints.kubernetes.io/last-change-trigger-time) of the
  /// EndpointSlice changes this snapshot takes in, later than the tracker's start.
  std::vector<std::chrono::system_clock::time_point> triggerTimes;
};

class ChangeTracker {
 public:
  /// `nodeName` marks endpoints on this node as local.
  explicit ChangeTracker(std::string nodeName = {});

  /// kube-proxy's change metrics (kubeproxy_sync_proxy_rules_{service,endpoint}_changes_
  /// {pending,total}, ..._last_queued_timestamp_seconds); null: none. Outlives the tracker.
  void setMetrics(ProxyMetrics* metrics) { metrics_ = metrics; }

  /// Adds or replaces a service by (namespace, name). A service that would answer on an
  /// address, port and protocol another service already answers on is refused (logged
  /// naming both): its last accepted version, if any, stays, and the refused one is
  /// tried again whenever a service gives frontends up. Returns whether it was taken.
  bool upsertService(k8s::Service service);
  void deleteService(const std::string& namespaceName, const std::string& name);
  void upsertEndpointSlice(k8s::EndpointSlice slice); // add or replace by namespace/name
  void deleteEndpointSlice(const std::string& namespaceName, const std::string& name);
  /// Replaces everything (a relist or a reloaded services file).
  void replaceAll(std::vector<k8s::Service> services, std::vector<k8s::EndpointSlice> slices);

  bool hasPendingChanges() const { return !dirtyServices_.empty(); }
  /// Services refused for a frontend clash and waiting for it to clear.
  size_t refusedServices() const { return refused_.size(); }
  /// Builds the next snapshot and what changed since the previous one.
  Snapshot apply();
  std::shared_ptr<const ServiceTable> current() const { return current_; }

 private:
  using Key = k8s::ObjectKey;
  using Frontend = std::tuple<Ipv4, uint16_t, Protocol>;  // address, port, protocol
  /// The service (other than `self`) that owns one of `service`'s frontends, if any.
  const Key* frontendOwner(const k8s::Service& service, const Key& self) const;
  void claimFrontends(const k8s::Service& service, const Key& self);
  void releaseFrontends(const k8s::Service& service);
  /// Takes in the refused services whose clash has cleared.
  void retryRefused();
  /// Marks the service a slice belonged to as dirty and forgets the slice there.
  void unindexSlice(const Key& key, const k8s::EndpointSlice& slice);
  /// Counting (see the top of the file): `before` is the version the tracker held (null:
  /// none), `after` the new one (null: deleted).
  void noteService(const Key& key, const k8s::Service* before, const k8s::Service* after);
  void noteSlice(const Key& service, const k8s::EndpointSlice* before, const k8s::EndpointSlice* after);
  const k8s::Service* heldService(const Key& key) const;
  const k8s::EndpointSlice* heldSlice(const Key& key) const;
  /// The slices labelled for `service`, in slice-key order.
  std::vector<const k8s::EndpointSlice*> slicesOf(const Key& service) const;

  std::string nodeName_;
  std::map<Key, k8s::Service> services_;               // (namespace, name)
  std::map<Key, k8s::EndpointSlice> slices_;           // (namespace, slice name)
  std::map<Key, std::set<Key>> slicesByService_;       // (namespace, service name) -> slice keys
  std::set<Key> dirtyServices_;                        // (namespace, service name)
  std::map<Frontend, Key> frontends_;                  // who answers on each frontend
  std::map<Key, k8s::Service> refused_;                // latest refused version per service
  bool retrying_ = false;
  // Not const, so that apply() can take the map over when no one else holds the table.
  std::shared_ptr<ServiceTable> current_ = std::make_shared<ServiceTable>();
  uint64_t generation_ = 0;

  ProxyMetrics* metrics_ = nullptr;
  std::chrono::system_clock::time_point startTime_ = std::chrono::system_clock::now();
  std::set<Key> pendingServiceChanges_;   // services with Service changes since the last apply()
  std::set<Key> pendingEndpointChanges_;  // services with EndpointSlice changes since then
  std::vector<std::chrono::system_clock::time_point> triggerTimes_;
  // During replaceAll(): what the tracker held before, to tell changes from re-sends.
  std::map<Key, k8s::Service> replacedServices_;
  std::map<Key, k8s::EndpointSlice> replacedSlices_;
  bool replacing_ = false;
};

/// Builds the ServicePorts of one service from its slices (pure; used by the tracker
/// and by tests). Named targetPorts resolve through the slices' port names; a port
/// that cannot be resolved gets no endpoints from that slice.
std::vector<ServicePort> buildServicePorts(const k8s::Service& service,
                                           const std::vector<const k8s::EndpointSlice*>& slices,
                                           const std::string& nodeName);

}  // namespace nicproxy

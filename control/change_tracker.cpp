#include "control/change_tracker.hpp"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>

#include <spdlog/spdlog.h>

#include "control/proxy_metrics.hpp"

namespace nicproxy {
namespace {

constexpr const char* kSchedulerAnnotation = "nicproxy.io/scheduler";

k8s::ObjectKey sliceServiceKey(const k8s::EndpointSlice& slice) {
  return k8s::ObjectKey{slice.meta.namespaceName, slice.serviceName};
}

const k8s::EndpointPort* findSlicePort(const k8s::EndpointSlice& slice, const std::string& name, Protocol protocol) {
  for (const auto& port : slice.ports) {
    if (port.name == name && port.protocol == protocol) return &port;
  }
  return nullptr;
}

// The endpoints controller has already resolved targetPort into the slice's port
// numbers, so the slice port named like the service port is authoritative, as in
// kube-proxy. The fallbacks cover hand-written services files.
std::optional<uint16_t> resolvePort(const k8s::ServicePortSpec& spec, const k8s::EndpointSlice& slice) {
  const auto* numeric = std::get_if<uint16_t>(&spec.targetPort);
  const auto* targetName = std::get_if<std::string>(&spec.targetPort);
  const k8s::EndpointPort* slicePort = findSlicePort(slice, spec.name, spec.protocol);
  if (slicePort == nullptr && targetName != nullptr) slicePort = findSlicePort(slice, *targetName, spec.protocol);
  if (slicePort == nullptr) return std::nullopt;
  if (slicePort->port) return *slicePort->port;
  if (numeric != nullptr) return *numeric;
  return std::nullopt;
}

void addEndpoints(const k8s::ServicePortSpec& spec, const k8s::EndpointSlice& slice, const std::string& nodeName,
                  std::vector<Endpoint>& out) {
  const auto port = resolvePort(spec, slice);
  if (!port) return;
  for (const auto& sliceEndpoint : slice.endpoints) {
    // Kubernetes: consumers use only the first address; the others are the same endpoint.
    if (sliceEndpoint.addresses.empty()) continue;
    Endpoint endpoint;
    endpoint.address = sliceEndpoint.addresses.front();
    endpoint.port = *port;
    endpoint.ready = sliceEndpoint.conditions.ready.value_or(true);
    endpoint.serving = sliceEndpoint.conditions.serving.value_or(endpoint.ready);
    endpoint.terminating = sliceEndpoint.conditions.terminating.value_or(false);
    endpoint.nodeName = sliceEndpoint.nodeName;
    endpoint.zone = sliceEndpoint.zone;
    endpoint.isLocal = !nodeName.empty() && sliceEndpoint.nodeName == nodeName;
    // During a slice rebalance one endpoint can sit in two slices; the first one wins.
    const bool seen = std::any_of(out.begin(), out.end(), [&](const Endpoint& other) {
      return other.address == endpoint.address && other.port == endpoint.port;
    });
    if (!seen) out.push_back(std::move(endpoint));
  }
}

// Removes every port of one service from `ports`, returning them by name.
ServiceTable::Map extractService(ServiceTable::Map& ports, const std::string& namespaceName, const std::string& name) {
  ServiceTable::Map removed;
  auto it = ports.lower_bound(ServicePortName{namespaceName, name, "", Protocol::Tcp});
  while (it != ports.end() && it->first.namespaceName == namespaceName && it->first.serviceName == name) {
    auto next = std::next(it);
    removed.insert(ports.extract(it));
    it = next;
  }
  return removed;
}

}  // namespace

std::vector<ServicePort> buildServicePorts(const k8s::Service& service,
                                           const std::vector<const k8s::EndpointSlice*>& slices,
                                           const std::string& nodeName) {
  std::vector<ServicePort> result;
  if (service.headless) return result;
  const auto scheduler = service.meta.annotations.find(kSchedulerAnnotation);
  for (const auto& spec : service.ports) {
    ServicePort port;
    port.name = ServicePortName{service.meta.namespaceName, service.meta.name, spec.name, spec.protocol};
    port.type = service.type;
    port.clusterIPs = service.clusterIPs;
    port.port = spec.port;
    port.nodePort = spec.nodePort;
    port.externalIPs = service.externalIPs;
    port.loadBalancerIPs = service.loadBalancerIPs;
    port.loadBalancerSourceRanges = service.loadBalancerSourceRanges;
    port.sessionAffinity = service.sessionAffinity;
    port.stickyMaxAgeSeconds = service.stickyMaxAgeSeconds;
    port.externalTrafficPolicy = service.externalTrafficPolicy;
    port.internalTrafficPolicy = service.internalTrafficPolicy;
    if (scheduler != service.meta.annotations.end()) port.scheduler = scheduler->second;
    for (const auto* slice : slices) {
      // Defensive: the tracker already selects by these, but callers may not.
      if (slice->addressType != "IPv4" || slice->meta.namespaceName != service.meta.namespaceName ||
          slice->serviceName != service.meta.name) {
        continue;
      }
      addEndpoints(spec, *slice, nodeName, port.endpoints);
    }
    std::sort(port.endpoints.begin(), port.endpoints.end(), [](const Endpoint& a, const Endpoint& b) {
      return std::tie(a.address, a.port) < std::tie(b.address, b.port);
    });
    result.push_back(std::move(port));
  }
  return result;
}

namespace {

// Every (address, port, protocol) a service answers on: the cluster, external and
// load-balancer IPs with each of its ports. Node ports are per node, not per address.
template <typename Visit>
void forEachFrontend(const k8s::Service& service, const Visit& visit) {
  for (const auto* list : {&service.clusterIPs, &service.externalIPs, &service.loadBalancerIPs}) {
    for (Ipv4 ip : *list) {
      for (const auto& port : service.ports) visit(std::tuple{ip, port.port, port.protocol});
    }
  }
}

}  // namespace

const ChangeTracker::Key* ChangeTracker::frontendOwner(const k8s::Service& service, const Key& self) const {
  const Key* owner = nullptr;
  forEachFrontend(service, [&](const Frontend& frontend) {
    const auto it = frontends_.find(frontend);
    if (owner == nullptr && it != frontends_.end() && it->second != self) owner = &it->second;
  });
  return owner;
}

void ChangeTracker::claimFrontends(const k8s::Service& service, const Key& self) {
  forEachFrontend(service, [&](const Frontend& frontend) { frontends_.insert_or_assign(frontend, self); });
}

void ChangeTracker::releaseFrontends(const k8s::Service& service) {
  const Key self = service.meta.objectKey();
  forEachFrontend(service, [&](const Frontend& frontend) {
    if (const auto it = frontends_.find(frontend); it != frontends_.end() && it->second == self) frontends_.erase(it);
  });
}

// Taking one in may free frontends for another (it replaces an older version), so the
// scan starts over after each; upsertService does not recurse into it meanwhile.
void ChangeTracker::retryRefused() {
  if (retrying_) return;
  retrying_ = true;
  for (bool progress = true; progress;) {
    progress = false;
    for (auto it = refused_.begin(); it != refused_.end(); ++it) {
      if (frontendOwner(it->second, it->first) != nullptr) continue;
      k8s::Service service = std::move(it->second);
      spdlog::info("Service {}: the frontends it was refused for are free now; taking it", it->first.toString());
      refused_.erase(it);
      upsertService(std::move(service));
      progress = true;
      break;
    }
  }
  retrying_ = false;
}

ChangeTracker::ChangeTracker(std::string nodeName) : nodeName_(std::move(nodeName)) {}

const k8s::Service* ChangeTracker::heldService(const Key& key) const {
  const auto& held = replacing_ ? replacedServices_ : services_;
  const auto it = held.find(key);
  return it == held.end() ? nullptr : &it->second;
}

const k8s::EndpointSlice* ChangeTracker::heldSlice(const Key& key) const {
  const auto& held = replacing_ ? replacedSlices_ : slices_;
  const auto it = held.find(key);
  return it == held.end() ? nullptr : &it->second;
}

void ChangeTracker::noteService(const Key& key, const k8s::Service* before, const k8s::Service* after) {
  if (before == nullptr && after == nullptr) return;
  if (before != nullptr && after != nullptr && *before == *after) return;
  pendingServiceChanges_.insert(key);
  if (metrics_ == nullptr) return;
  metrics_->serviceChangesTotal.Increment();
  metrics_->serviceChangesPending.Set(static_cast<double>(pendingServiceChanges_.size()));
  metrics_->syncProxyRulesLastQueuedTimestamp.SetToCurrentTime();
}

void ChangeTracker::noteSlice(const Key& service, const k8s::EndpointSlice* before, const k8s::EndpointSlice* after) {
  if (before == nullptr && after == nullptr) return;
  if (before != nullptr && after != nullptr && *before == *after) return;
  pendingEndpointChanges_.insert(service);
  // As kube-proxy: not for a deletion (its annotation dates from the slice's last
  // update), nor from before this tracker started (a restart would observe old changes).
  if (after != nullptr && after->lastChangeTriggerTime && *after->lastChangeTriggerTime > startTime_) {
    triggerTimes_.push_back(*after->lastChangeTriggerTime);
  }
  if (metrics_ == nullptr) return;
  metrics_->endpointChangesTotal.Increment();
  metrics_->endpointChangesPending.Set(static_cast<double>(pendingEndpointChanges_.size()));
  metrics_->syncProxyRulesLastQueuedTimestamp.SetToCurrentTime();
}

// Two services on one frontend would leave each dataplane to pick one at random (a
// hash-map insert); the API server's allocators never allow it for clusterIPs, and a
// watch that shows it anyway is a server to distrust, not to follow.
bool ChangeTracker::upsertService(k8s::Service service) {
  Key key = service.meta.objectKey();
  if (const Key* owner = frontendOwner(service, key)) {
    const auto current = services_.find(key);
    spdlog::warn("refusing Service {}: it would answer on a frontend Service {} answers on (the same address, port "
                 "and protocol); {}",
                 key.toString(), owner->toString(),
                 current != services_.end() ? "its last accepted version stays" : "it waits until that clears");
    refused_.insert_or_assign(std::move(key), std::move(service));
    return false;
  }
  refused_.erase(key);
  dirtyServices_.insert(key);
  noteService(key, heldService(key), &service);
  bool released = false;
  if (const auto old = services_.find(key); old != services_.end()) {
    releaseFrontends(old->second);
    released = true;
  }
  claimFrontends(service, key);
  services_.insert_or_assign(std::move(key), std::move(service));
  if (released && !refused_.empty()) retryRefused();
  return true;
}

void ChangeTracker::deleteService(const std::string& namespaceName, const std::string& name) {
  Key key{namespaceName, name};
  refused_.erase(key);
  const auto it = services_.find(key);
  if (it == services_.end()) return;
  noteService(key, &it->second, nullptr);
  releaseFrontends(it->second);
  services_.erase(it);
  dirtyServices_.insert(std::move(key));
  if (!refused_.empty()) retryRefused();
}

void ChangeTracker::upsertEndpointSlice(k8s::EndpointSlice slice) {
  Key key = slice.meta.objectKey();
  const Key service = sliceServiceKey(slice);
  noteSlice(service, heldSlice(key), &slice);
  // A slice may move to another service (its label changed): both services change.
  if (const auto old = slices_.find(key); old != slices_.end()) unindexSlice(key, old->second);
  dirtyServices_.insert(service);
  slicesByService_[service].insert(key);
  slices_.insert_or_assign(std::move(key), std::move(slice));
}

void ChangeTracker::unindexSlice(const Key& key, const k8s::EndpointSlice& slice) {
  const Key service = sliceServiceKey(slice);
  dirtyServices_.insert(service);
  if (const auto it = slicesByService_.find(service); it != slicesByService_.end()) {
    it->second.erase(key);
    if (it->second.empty()) slicesByService_.erase(it);
  }
}

void ChangeTracker::deleteEndpointSlice(const std::string& namespaceName, const std::string& name) {
  const auto it = slices_.find(Key{namespaceName, name});
  if (it == slices_.end()) return;
  noteSlice(sliceServiceKey(it->second), &it->second, nullptr);
  unindexSlice(it->first, it->second);
  slices_.erase(it);
}

void ChangeTracker::replaceAll(std::vector<k8s::Service> services, std::vector<k8s::EndpointSlice> slices) {
  for (const auto& [key, service] : services_) dirtyServices_.insert(key);
  for (const auto& [key, slice] : slices_) dirtyServices_.insert(sliceServiceKey(slice));
  replacedServices_ = std::exchange(services_, {});
  replacedSlices_ = std::exchange(slices_, {});
  replacing_ = true;
  slicesByService_.clear();
  frontends_.clear();
  refused_.clear();
  for (auto& service : services) upsertService(std::move(service));
  for (auto& slice : slices) upsertEndpointSlice(std::move(slice));
  replacing_ = false;
  // What the new lists no longer hold was deleted.
  for (const auto& [key, service] : replacedServices_) {
    if (!services_.contains(key)) noteService(key, &service, nullptr);
  }
  for (const auto& [key, slice] : replacedSlices_) {
    if (!slices_.contains(key)) noteSlice(sliceServiceKey(slice), &slice, nullptr);
  }
  replacedServices_.clear();
  replacedSlices_.clear();
}

std::vector<const k8s::EndpointSlice*> ChangeTracker::slicesOf(const Key& service) const {
  std::vector<const k8s::EndpointSlice*> result;
  if (const auto it = slicesByService_.find(service); it != slicesByService_.end()) {
    for (const Key& key : it->second) result.push_back(&slices_.at(key));
  }
  return result;
}

Snapshot ChangeTracker::apply() {
  Snapshot snapshot;
  // kube-proxy's checkoutChanges: the pending changes go to this sync.
  const auto checkOutChanges = [this, &snapshot] {
    snapshot.triggerTimes = std::exchange(triggerTimes_, {});
    pendingServiceChanges_.clear();
    pendingEndpointChanges_.clear();
    if (metrics_ != nullptr) {
      metrics_->serviceChangesPending.Set(0);
      metrics_->endpointChangesPending.Set(0);
    }
  };
  if (dirtyServices_.empty()) {
    checkOutChanges();
    snapshot.table = current_;
    return snapshot;
  }
  // Everything that can fail (a throw leaves the table and the dirty set as they were,
  // for the next apply() to retry) comes before the table is touched.
  std::vector<std::vector<ServicePort>> builtPerService;
  builtPerService.reserve(dirtyServices_.size());
  for (const auto& key : dirtyServices_) {
    std::vector<ServicePort>& built = builtPerService.emplace_back();
    if (const auto service = services_.find(key); service != services_.end()) {
      built = buildServicePorts(service->second, slicesOf(key), nodeName_);
    }
  }
  // When the tracker is the table's only owner (the providers have finished with it,
  // as they always have between two syncs on the control thread), the next table can
  // take its map over instead of copying every entry: a change then costs the
  // services it touches, not the size of the table.
  const bool sole = current_.use_count() == 1;
  ServiceTable::Map ports = sole ? current_->releasePorts() : current_->ports();
  auto builtOfService = builtPerService.begin();
  for (const auto& key : dirtyServices_) {
    ServiceTable::Map previous = extractService(ports, key.namespaceName, key.name);
    std::vector<ServicePort>& built = *builtOfService++;
    for (auto& port : built) {
      const auto old = previous.find(port.name);
      if (old != previous.end() && *old->second == port) {
        ports.insert(previous.extract(old));  // unchanged: the dataplane may keep what it built for it
        continue;
      }
      snapshot.changed.insert(port.name);
      if (old != previous.end()) previous.erase(old);
      ServicePortName name = port.name;
      ports.emplace(std::move(name), std::make_shared<const ServicePort>(std::move(port)));
    }
    for (const auto& [name, port] : previous) snapshot.changed.insert(name);  // removed
  }
  dirtyServices_.clear();
  checkOutChanges();

  // A new generation only when something changed, so that callers can tell "nothing
  // to do" by it (a table taken over comes back as a new object of the same generation).
  if (!snapshot.changed.empty()) {
    current_ = std::make_shared<ServiceTable>(std::move(ports), ++generation_);
  } else if (sole) {
    current_ = std::make_shared<ServiceTable>(std::move(ports), generation_);  // the same content back
  }
  snapshot.table = current_;
  return snapshot;
}

}  // namespace nicproxy

#include "control/api_source.hpp"

#include <spdlog/spdlog.h>

#include "control/k8s/decode.hpp"

namespace nicproxy {
namespace {

using k8s::WatchEventType;
constexpr auto kRelaxed = std::memory_order_relaxed;

std::string stringAt(const boost::json::object* object, const char* key) {
  const auto* value = object != nullptr ? object->if_contains(key) : nullptr;
  return value != nullptr && value->is_string() ? std::string(value->as_string().c_str()) : std::string();
}

const boost::json::object* metadataOf(const boost::json::value& object) {
  const auto* o = object.if_object();
  const auto* meta = o != nullptr ? o->if_contains("metadata") : nullptr;
  return meta != nullptr ? meta->if_object() : nullptr;
}

// The label kube-proxy's selector tests, as the object carries it (nullopt: absent).
std::optional<std::string> labelOf(const std::map<std::string, std::string>& labels, const char* key) {
  const auto it = labels.find(key);
  if (it == labels.end()) return std::nullopt;
  return it->second;
}

// Whether kube-proxy's selector (with nicproxy's name) lets an object through: the
// server applies it too, this check covers servers that ignore it and a configured name.
bool selected(const std::map<std::string, std::string>& labels, const std::string& proxyName, std::string& why) {
  if (labelOf(labels, kHeadlessLabel)) {
    why = std::string("labelled ") + kHeadlessLabel;
    return false;
  }
  const auto name = labelOf(labels, kServiceProxyNameLabel);
  if (name && *name != proxyName) {
    why = std::string("labelled ") + kServiceProxyNameLabel + "=" + *name;
    return false;
  }
  return true;
}

std::string describeObject(const char* kind, const boost::json::value& object) {
  const auto* meta = metadataOf(object);
  std::string ns = stringAt(meta, "namespace");
  std::string name = stringAt(meta, "name");
  return std::string(kind) + " " + (ns.empty() ? "?" : ns) + "/" + (name.empty() ? "?" : name) + " (resourceVersion " +
         (stringAt(meta, "resourceVersion").empty() ? "?" : stringAt(meta, "resourceVersion")) + ")";
}

void logDecodeErrors(const std::vector<k8s::DecodeError>& errors, const char* kind, const boost::json::value& object,
                     k8s::ReflectorCounters& counters) {
  counters.decodeErrors.fetch_add(1, kRelaxed);
  std::string text;
  for (const auto& e : errors) text += (text.empty() ? "" : "; ") + e.message;
  spdlog::warn("skipping {}: {}; its last good version, if any, stays in force", describeObject(kind, object), text);
}

// The key of an object as its metadata says, valid or not (nullopt without a name).
std::optional<k8s::ObjectKey> keyOf(const boost::json::value& object) {
  const auto* meta = metadataOf(object);
  k8s::ObjectKey key{stringAt(meta, "namespace"), stringAt(meta, "name")};
  if (key.name.empty()) return std::nullopt;
  if (key.namespaceName.empty()) key.namespaceName = "default";
  return key;
}

// A (re)list replaces: whatever the tracker holds that the list lacks is gone. An object
// listed in an invalid version (`invalid`) is not gone: its last good version stays.
template <typename Item, typename Delete, typename Upsert>
void replaceListed(std::vector<Item>& items, const std::vector<k8s::ObjectKey>& invalid,
                   std::set<k8s::ObjectKey>& known, const Delete& remove, const Upsert& upsert) {
  std::set<k8s::ObjectKey> keys;
  for (const auto& item : items) keys.insert(item.meta.objectKey());
  for (const auto& key : invalid) {
    if (known.count(key) != 0) keys.insert(key);
  }
  for (const auto& key : known) {
    if (keys.count(key) == 0) remove(key.namespaceName, key.name);
  }
  for (auto& item : items) upsert(std::move(item));
  known = std::move(keys);
}

// What a handler made of one object: served (item), not served (neither: headless,
// another proxy's, IPv6), or invalid (its last good version, if any, stays in force).
template <typename T>
struct Judged {
  std::optional<T> item;
  bool invalid = false;
};

}  // namespace

std::string proxyLabelSelector(const std::string& serviceProxyName) {
  if (serviceProxyName.empty()) return std::string("!") + kServiceProxyNameLabel + ",!" + kHeadlessLabel;
  return std::string("!") + kHeadlessLabel;
}

// What Services and EndpointSlices share on the reflector thread: a list queues the
// judged objects (and the keys of the invalid ones, whose last good version stays); a
// watch event queues an upsert, or a deletion when the object is deleted or no longer
// served; an invalid new version is skipped, so the last good one stays in force.
// Derived::decode judges one object.
template <typename Derived, typename Listed, typename Upsert, typename Delete>
class ApiSource::ObjectHandler : public k8s::ReflectorHandler {
 public:
  explicit ObjectHandler(ApiSource& source) : source_(source) {}

  void onList(std::vector<boost::json::value>&& items) override {
    Listed listed;
    for (const auto& item : items) {
      auto judged = self().decode(item);
      if (judged.item) listed.items.push_back(std::move(*judged.item));
      if (const auto key = keyOf(item); judged.invalid && key) listed.invalid.push_back(*key);
    }
    source_.push(std::move(listed));
  }

  void onEvent(WatchEventType type, boost::json::value&& object) override {
    const auto key = keyOf(object);
    if (type == WatchEventType::Deleted) {
      if (key) source_.push(Delete{key->namespaceName, key->name});
      return;
    }
    auto judged = self().decode(object);
    if (judged.item) {
      source_.push(Upsert{std::move(*judged.item)});
    } else if (!judged.invalid && key) {
      source_.push(Delete{key->namespaceName, key->name});  // no longer served: drop what was there
    }
  }

 protected:
  ApiSource& source_;

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

// A Service that is not served (headless, another proxy's, undecodable) is never queued,
// and an update that makes a served one unserved queues its deletion.
class ApiSource::ServiceHandler
    : public ObjectHandler<ServiceHandler, ServicesListed, ServiceUpsert, ServiceDelete> {
 public:
  using ObjectHandler::ObjectHandler;

  Judged<k8s::Service> decode(const boost::json::value& object) {
    auto decoded = k8s::decodeService(object);
    if (auto* errors = std::get_if<std::vector<k8s::DecodeError>>(&decoded)) {
      logDecodeErrors(*errors, "Service", object, source_.counters_.services);
      return {std::nullopt, true};
    }
    auto& service = std::get<k8s::Service>(decoded);
    std::string why;
    if (service.headless) why = "headless or ExternalName";
    if (why.empty() && selected(service.meta.labels, source_.options_.serviceProxyName, why)) {
      return {std::move(service), false};
    }
    spdlog::debug("not serving Service {}: {}", service.meta.key(), why);
    return {};
  }
};

class ApiSource::SliceHandler : public ObjectHandler<SliceHandler, SlicesListed, SliceUpsert, SliceDelete> {
 public:
  using ObjectHandler::ObjectHandler;

  Judged<k8s::EndpointSlice> decode(const boost::json::value& object) {
    auto decoded = k8s::decodeEndpointSlice(object);
    if (auto* errors = std::get_if<std::vector<k8s::DecodeError>>(&decoded)) {
      logDecodeErrors(*errors, "EndpointSlice", object, source_.counters_.endpointSlices);
      return {std::nullopt, true};
    }
    auto& slice = std::get<k8s::EndpointSlice>(decoded);
    std::string why;
    if (slice.addressType != "IPv4") why = "addressType " + slice.addressType + " (nicproxy is IPv4-only)";
    if (why.empty() && selected(slice.meta.labels, source_.options_.serviceProxyName, why)) {
      return {std::move(slice), false};
    }
    spdlog::debug("not using EndpointSlice {}: {}", slice.meta.key(), why);
    return {};
  }
};

// This node: its addresses and zone, kept for topology-aware routing and logs; whether
// it is being deleted or tainted for deletion, for /healthz.
class ApiSource::NodeHandler : public k8s::ReflectorHandler {
 public:
  explicit NodeHandler(ApiSource& source) : source_(source) {}

  void onList(std::vector<boost::json::value>&& items) override {
    if (items.empty()) {
      bool wasThere = false;
      {
        std::lock_guard lock(source_.mutex_);
        wasThere = source_.nodeInfo_.known || source_.nodeInfo_.deleting;
      }
      // A relist that no longer holds the node is its deletion, seen late.
      if (wasThere) {
        markDeleted();
        return;
      }
      spdlog::warn("node {} is not known to the API server", source_.options_.nodeName);
      set(NodeInfo{});
      return;
    }
    onEvent(WatchEventType::Added, std::move(items.front()));
  }

  void onEvent(WatchEventType type, boost::json::value&& object) override {
    if (type == WatchEventType::Deleted) {
      markDeleted();
      return;
    }
    NodeInfo info = decodeNode(object);
    spdlog::info("node {}: zone \"{}\", addresses [{}]{}", source_.options_.nodeName, info.zone,
                 fmt::join(info.addresses, ", "), eligibilityNote(info));
    set(std::move(info));
  }

 private:
  NodeInfo decodeNode(const boost::json::value& object) const {
    NodeInfo info;
    info.known = true;
    const auto* meta = metadataOf(object);
    const auto* labels = meta != nullptr ? meta->if_contains("labels") : nullptr;
    if (labels != nullptr && labels->is_object()) info.zone = stringAt(&labels->as_object(), "topology.kubernetes.io/zone");
    const auto* deletion = meta != nullptr ? meta->if_contains("deletionTimestamp") : nullptr;
    info.deleting = deletion != nullptr && !deletion->is_null();
    const auto* o = object.if_object();
    const auto* status = o != nullptr ? o->if_contains("status") : nullptr;
    const auto* addresses = status != nullptr && status->is_object() ? status->as_object().if_contains("addresses")
                                                                     : nullptr;
    if (addresses != nullptr && addresses->is_array()) {
      for (const auto& a : addresses->as_array()) {
        info.addresses.push_back(stringAt(a.if_object(), "type") + " " + stringAt(a.if_object(), "address"));
      }
    }
    const auto* spec = o != nullptr ? o->if_contains("spec") : nullptr;
    const auto* taints = spec != nullptr && spec->is_object() ? spec->as_object().if_contains("taints") : nullptr;
    if (taints != nullptr && !taints->is_null() && !taints->is_array()) {
      spdlog::warn("node {}: spec.taints is not an array; ignored", source_.options_.nodeName);
    } else if (taints != nullptr && taints->is_array()) {
      const auto& items = taints->as_array();
      for (size_t i = 0; i < items.size(); ++i) {
        const auto* key = items[i].is_object() ? items[i].as_object().if_contains("key") : nullptr;
        if (key != nullptr && key->is_string()) {
          info.taints.emplace_back(key->as_string().c_str());
        } else {
          spdlog::warn("node {}: spec.taints[{}].key is missing or not a string; that taint is ignored",
                       source_.options_.nodeName, i);
        }
      }
    }
    return info;
  }

  // kube-proxy's "eligible: not deleted": a Node gone from the API server takes no
  // load-balancer traffic, whatever its last version said.
  void markDeleted() {
    NodeInfo info;
    info.deleting = true;
    spdlog::warn("node {} was deleted from the API server: not eligible for load-balancer traffic",
                 source_.options_.nodeName);
    set(std::move(info));
  }

  static std::string eligibilityNote(const NodeInfo& info) {
    if (info.deleting) return "; being deleted: not eligible for load-balancer traffic";
    if (!info.eligible()) return std::string("; tainted ") + kToBeDeletedTaint + ": not eligible for load-balancer traffic";
    return "";
  }

  void set(NodeInfo info) {
    {
      std::lock_guard lock(source_.mutex_);
      source_.nodeInfo_ = info;
    }
    if (source_.nodeListener_) source_.nodeListener_(info);
  }
  ApiSource& source_;
};

ApiSource::ApiSource(k8s::Connection connection, ApiSourceOptions options)
    : options_(std::move(options)),
      serviceHandler_(std::make_unique<ServiceHandler>(*this)),
      sliceHandler_(std::make_unique<SliceHandler>(*this)),
      nodeHandler_(std::make_unique<NodeHandler>(*this)) {
  k8s::ReflectorOptions services = options_.tuning;
  services.resource = "services";
  services.path = "/api/v1/services";
  services.labelSelector = proxyLabelSelector(options_.serviceProxyName);
  services_ = std::make_unique<k8s::Reflector>(connection, services, *serviceHandler_, counters_.services);

  k8s::ReflectorOptions slices = services;
  slices.resource = "endpointslices";
  slices.path = "/apis/discovery.k8s.io/v1/endpointslices";
  slices_ = std::make_unique<k8s::Reflector>(connection, slices, *sliceHandler_, counters_.endpointSlices);

  if (!options_.nodeName.empty()) {
    k8s::ReflectorOptions node = options_.tuning;
    node.resource = "node " + options_.nodeName;
    node.path = "/api/v1/nodes";
    node.fieldSelector = "metadata.name=" + options_.nodeName;
    node_ = std::make_unique<k8s::Reflector>(connection, node, *nodeHandler_, counters_.node);
  }
}

ApiSource::~ApiSource() { stop(); }

void ApiSource::start() {
  services_->start();
  slices_->start();
  if (node_) node_->start();
}

void ApiSource::stop() {
  services_->stop();
  slices_->stop();
  if (node_) node_->stop();
}

void ApiSource::push(Update update) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(update));
  }
  wake_.notify_one();
}

void ApiSource::waitForUpdates(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, deadline, [this] { return !queue_.empty(); });
}

bool NodeInfo::eligible() const {
  if (deleting) return false;
  for (const std::string& key : taints) {
    if (key == kToBeDeletedTaint) return false;
  }
  return true;
}

NodeInfo ApiSource::node() const {
  std::lock_guard lock(mutex_);
  return nodeInfo_;
}

std::string ApiSource::servicesResourceVersion() const { return services_->lastResourceVersion(); }
std::string ApiSource::endpointSlicesResourceVersion() const { return slices_->lastResourceVersion(); }

size_t ApiSource::drainInto(ChangeTracker& tracker) {
  std::vector<Update> updates;
  {
    std::lock_guard lock(mutex_);
    updates.swap(queue_);
  }
  const auto countRefusal = [this](bool taken) {
    if (!taken) counters_.services.conflicts.fetch_add(1, kRelaxed);
  };
  for (Update& update : updates) {
    std::visit(
        [&](auto& u) {
          using T = std::decay_t<decltype(u)>;
          if constexpr (std::is_same_v<T, ServicesListed>) {
            replaceListed(u.items, u.invalid, knownServices_, [&](const std::string& ns, const std::string& name) {
              tracker.deleteService(ns, name);
            }, [&](k8s::Service&& item) { countRefusal(tracker.upsertService(std::move(item))); });
            servicesSynced_ = true;
          } else if constexpr (std::is_same_v<T, SlicesListed>) {
            replaceListed(u.items, u.invalid, knownSlices_, [&](const std::string& ns, const std::string& name) {
              tracker.deleteEndpointSlice(ns, name);
            }, [&](k8s::EndpointSlice&& item) { tracker.upsertEndpointSlice(std::move(item)); });
            slicesSynced_ = true;
          } else if constexpr (std::is_same_v<T, ServiceUpsert>) {
            knownServices_.insert(u.item.meta.objectKey());
            countRefusal(tracker.upsertService(std::move(u.item)));
          } else if constexpr (std::is_same_v<T, SliceUpsert>) {
            knownSlices_.insert(u.item.meta.objectKey());
            tracker.upsertEndpointSlice(std::move(u.item));
          } else if constexpr (std::is_same_v<T, ServiceDelete>) {
            knownServices_.erase(k8s::ObjectKey{u.namespaceName, u.name});
            tracker.deleteService(u.namespaceName, u.name);
          } else {
            knownSlices_.erase(k8s::ObjectKey{u.namespaceName, u.name});
            tracker.deleteEndpointSlice(u.namespaceName, u.name);
          }
        },
        update);
  }
  return updates.size();
}

}  // namespace nicproxy

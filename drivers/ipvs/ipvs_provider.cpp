#include "drivers/ipvs/ipvs_provider.hpp"

#include <fstream>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

#include "drivers/ipvs/ipvs_iptables.hpp"

namespace nicproxy {
namespace {

// kube-proxy's IPVS sysctls: conntrack for IPVS connections (so KUBE-POSTROUTING can
// masquerade them), drop connections to deleted real servers at their next packet, and
// forget persistence templates of weight-0 real servers.
constexpr std::pair<const char*, const char*> kSysctls[] = {
    {"net/ipv4/vs/conntrack", "1"},
    {"net/ipv4/vs/expire_nodest_conn", "1"},
    {"net/ipv4/vs/expire_quiescent_template", "1"},
    {"net/ipv4/ip_forward", "1"},
};

bool isLoopback(Ipv4 address) { return (address >> 24) == 127; }

// Owns the sockets the provider works through; members are built in order.
class NetlinkIpvsProvider : public Provider {
 public:
  NetlinkIpvsProvider(Executor& executor, IpvsProviderOptions options)
      : transport_(NetlinkIpvsTransport::open()), provider_(*transport_, link_, executor, std::move(options)) {}
  std::string name() const override { return provider_.name(); }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override {
    provider_.sync(table, changed, fullSync);
  }

 private:
  std::unique_ptr<NetlinkIpvsTransport> transport_;
  NetlinkVipLink link_;
  IpvsProvider provider_;
};

}  // namespace

std::unique_ptr<Provider> makeNetlinkIpvsProvider(Executor& executor, IpvsProviderOptions options) {
  return std::make_unique<NetlinkIpvsProvider>(executor, std::move(options));
}

void writeProcSysctl(const std::string& name, const std::string& value) {
  const std::string path = "/proc/sys/" + name;
  std::ofstream out(path);
  out << value << '\n';
  out.close();
  if (!out) throw std::runtime_error("cannot write " + value + " to " + path);
}

IpvsProvider::IpvsProvider(IpvsTransport& transport, VipLink& link, Executor& executor, IpvsProviderOptions options)
    : client_(transport), link_(link), executor_(executor), options_(std::move(options)) {}

std::vector<Ipv4> IpvsProvider::nodeIPs(const std::vector<Ipv4>& localAddresses, const std::set<Ipv4>& bound) const {
  std::vector<Ipv4> local;
  for (const Ipv4 address : localAddresses) {
    // Service addresses are local too once kube-ipvs0 is up (someone else's doing): no NodePorts on them.
    if (!isLoopback(address) && !bound.contains(address)) local.push_back(address);
  }
  if (options_.nodePortAddresses.empty()) return addressesIn({Ipv4Cidr{0, 0}}, local);
  return addressesIn(options_.nodePortAddresses, local);
}

void IpvsProvider::prepareKernel() {
  for (const auto& [name, value] : kSysctls) options_.writeSysctl(name, value);
  if (options_.tcpTimeout != 0 || options_.tcpFinTimeout != 0 || options_.udpTimeout != 0) {
    client_.setTimeouts(options_.tcpTimeout, options_.tcpFinTimeout, options_.udpTimeout);
  }
  link_.ensureDummy(options_.interfaceName);
  // The rules match the sets by name: the sets first.
  runIpsetRestore(executor_, renderIpsetCreate(options_.rules.prefix), options_.ipsetCommand);
  writeIpvsIptables(executor_, options_.rules, options_.iptablesCommand, options_.metrics);
}

void IpvsProvider::sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) {
  if (fullSync || !prepared_) {
    prepareKernel();
    prepared_ = true;
  }
  const std::set<Ipv4> bound = link_.addresses(options_.interfaceName);
  const std::vector<Ipv4> allLocal = options_.localAddresses();
  const std::vector<Ipv4> nodes = nodeIPs(allLocal, bound);
  const IpvsDesired desired = buildIpvsDesired(table, {.scheduler = options_.scheduler, .nodeIPs = nodes});

  // Virtual servers whose real servers must be compared with the kernel's: all on a
  // full sync; else those of changed ports (before and after) and those still draining.
  std::set<IpvsServiceKey> touched;
  for (const ServicePortName& name : changed) {
    for (const auto* byPort : {&desired.byPort, &std::as_const(appliedByPort_)}) {
      if (const auto it = byPort->find(name); it != byPort->end()) touched.insert(it->second.begin(), it->second.end());
    }
  }
  for (const RealServerId& id : draining_) touched.insert(id.first);

  for (const Ipv4 address : desired.boundAddresses) {
    if (!bound.contains(address)) link_.addAddress(options_.interfaceName, address);
  }

  std::map<IpvsServiceKey, IpvsService> inKernel;
  for (IpvsService& service : client_.services()) inKernel.emplace(service.key, std::move(service));
  // Ownership: any local address, not only nodePortAddresses, so that NodePorts left on
  // an address that a new configuration no longer uses are removed too.
  const std::set<Ipv4> local(allLocal.begin(), allLocal.end());
  size_t added = 0, updated = 0, deleted = 0;
  for (const auto& [key, service] : inKernel) {
    if (desired.servers.contains(key) || !ipvsServiceIsOurs(key, bound, local)) continue;
    client_.deleteService(key);
    std::erase_if(draining_, [&](const RealServerId& id) { return id.first == key; });
    ++deleted;
  }
  for (const auto& [key, server] : desired.servers) {
    const auto current = inKernel.find(key);
    if (current == inKernel.end()) {
      client_.addService(server.service);
      ++added;
    } else if (!(current->second == server.service)) {
      client_.updateService(server.service);
      ++updated;
    }
    if (fullSync || current == inKernel.end() || touched.contains(key)) {
      reconcileDestinations(server, current != inKernel.end());
    }
  }

  for (const Ipv4 address : bound) {
    if (!desired.boundAddresses.contains(address)) link_.deleteAddress(options_.interfaceName, address);
  }
  syncSets(desired.sets, fullSync);
  appliedByPort_ = desired.byPort;
  if (added + updated + deleted != 0 || !draining_.empty()) {
    spdlog::info("ipvs: {} virtual servers ({} added, {} updated, {} deleted), {} real servers draining",
                 desired.servers.size(), added, updated, deleted, draining_.size());
  }
}

void IpvsProvider::reconcileDestinations(const IpvsVirtualServer& server, bool present) {
  const IpvsServiceKey& key = server.service.key;
  std::map<std::pair<Ipv4, uint16_t>, IpvsDestination> current;
  if (present) {
    for (const IpvsDestination& dest : client_.destinations(key)) current.emplace(dest.id(), dest);
  }
  for (const IpvsDestination& want : server.destinations) {
    const auto it = current.find(want.id());
    if (it == current.end()) {
      client_.addDestination(key, want);
    } else {
      // Back from draining, or a weight changed outside: one SET, connections stay.
      if (it->second.weight != want.weight || it->second.forwardMethod != want.forwardMethod) {
        client_.updateDestination(key, want);
      }
      current.erase(it);
    }
    draining_.erase({key, want.id()});
  }
  // What is left is in the kernel but not wanted: kube-proxy's GracefulDeleteRS.
  for (auto& [id, dest] : current) {
    const bool graceful = key.protocol == Protocol::Tcp;  // UDP: expire_nodest_conn ends its flows
    if (!graceful || dest.activeConns + dest.inactiveConns == 0) {
      client_.deleteDestination(key, dest);
      draining_.erase({key, id});
      continue;
    }
    if (dest.weight != 0) {
      dest.weight = 0;
      client_.updateDestination(key, dest);
    }
    draining_.insert({key, id});
  }
}

void IpvsProvider::syncSets(const IpvsSetEntries& sets, bool fullSync) {
  std::vector<IpvsSet> which;
  for (size_t i = 0; i < kIpvsSetCount; ++i) {
    if (fullSync || !setsKnown_ || sets[i] != appliedSets_[i]) which.push_back(static_cast<IpvsSet>(i));
  }
  if (which.empty()) return;
  // Forget what the kernel holds until the restore succeeded, so a failure rewrites all.
  setsKnown_ = false;
  runIpsetRestore(executor_, renderIpsetRestore(options_.rules.prefix, sets, which), options_.ipsetCommand);
  appliedSets_ = sets;
  setsKnown_ = true;
}

}  // namespace nicproxy

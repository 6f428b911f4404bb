#include "dpdk_app/service_table_writer.hpp"

#include <algorithm>
#include <cstring>

#include <netinet/in.h>
#include <spdlog/spdlog.h>

namespace nicproxy {

namespace {

uint64_t keyBits(const ServiceKey& key) {
  uint64_t bits = 0;
  std::memcpy(&bits, &key, sizeof(key));
  return bits;
}

ServiceKey keyOf(uint64_t bits) {
  ServiceKey key;
  std::memcpy(&key, &bits, sizeof(key));
  return key;
}

bool nodePortAllowed(rte_be32_t address, const std::vector<Ipv4Cidr>& nodePortAddresses) {
  if (nodePortAddresses.empty()) return true;
  const Ipv4 host = rte_be_to_cpu_32(address);
  return std::any_of(nodePortAddresses.begin(), nodePortAddresses.end(),
                     [host](const Ipv4Cidr& c) { return c.contains(host); });
}

ServiceEntry entryFor(const PortState& state, const BackendSet& set, bool withSourceRanges) {
  ServiceEntry entry;
  entry.backends = set.backends.data();
  entry.backendCount = static_cast<uint32_t>(set.backends.size());
  entry.maglev = set.maglev.data();
  entry.maglevSize = static_cast<uint32_t>(set.maglev.size());
  entry.roundRobin = &set.roundRobin;
  entry.scheduler = state.scheduler;
  entry.serviceId = state.serviceId;
  entry.affinityId = state.affinityId;
  entry.affinitySeconds = state.affinitySeconds;
  entry.dropWhenEmpty = state.hasAnyEndpoints;
  if (withSourceRanges && !state.sourceRanges.empty()) {
    entry.sourceRanges = state.sourceRanges.data();
    entry.sourceRangeCount = static_cast<uint16_t>(std::min<size_t>(state.sourceRanges.size(), UINT16_MAX));
  }
  return entry;
}

/// True when `record` (the same port's record in the index) still describes `port`.
bool reusable(const PortFrontends& record, const ServicePortPtr& port, Scheduler defaultScheduler) {
  if (record.state->defaultScheduler != defaultScheduler) return false;
  // The change tracker shares unchanged ServicePorts between snapshots: pointer
  // equality is the common case; equal values (a reloaded file) count too.
  return record.state->source == port || *record.state->source == *port;
}

const ServicePortName& nameOf(const PortFrontends& record) { return record.state->source->name; }

void sortUnique(auto& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

}  // namespace

ServiceTableWriter::ServiceTableWriter(const Settings& settings, size_t frontends, size_t addresses)
    : settings_(settings),
      index_(std::make_unique<FrontendIndex>(static_cast<uint32_t>(frontends), static_cast<uint32_t>(addresses),
                                             settings.socket)),
      publishedBackendList_(std::make_shared<const std::vector<rte_be32_t>>()) {}

std::shared_ptr<const PortFrontends> ServiceTableWriter::buildRecord(
    const Settings& settings, const ServicePortPtr& port, const std::shared_ptr<const PortFrontends>& former) {
  // A record is immutable: a new index can point at its entries as the old one does.
  if (former != nullptr && reusable(*former, port, settings.defaultScheduler)) return former;
  auto record = std::make_shared<PortFrontends>();
  record->state = PortState::build(port, settings.defaultScheduler, former != nullptr ? former->state.get() : nullptr);
  const PortState& state = *record->state;
  record->entries[PortFrontends::kInternal] = entryFor(state, state.internal, false);
  // NodePorts are not filtered by loadBalancerSourceRanges (kube-proxy does the same).
  record->entries[PortFrontends::kExternal] = entryFor(state, state.external, false);
  record->entries[PortFrontends::kBalancer] = entryFor(state, state.external, true);
  // externalTrafficPolicy Local: the external frontends' connections to local endpoints
  // keep the client's address, as with kube-proxy (the point of the policy); the
  // endpoints they reach are all local (categorizeEndpoints).
  if (port->externalTrafficPolicy == TrafficPolicy::Local) {
    record->entries[PortFrontends::kExternal].keepClientAddress = true;
    record->entries[PortFrontends::kBalancer].keepClientAddress = true;
  }

  const uint8_t protocol = ipProtocolOf(port->name.protocol);
  const rte_be16_t servicePort = rte_cpu_to_be_16(port->port);
  auto inPortSubnet = [&settings](rte_be32_t address) {
    return std::any_of(settings.ports.begin(), settings.ports.end(), [address](const PortSubnet& p) {
      return (address & p.mask) == (p.address & p.mask);
    });
  };
  auto add = [&](PortFrontends::EntryKind entry, rte_be32_t address, rte_be16_t number, bool answerArp) {
    record->frontends.push_back({ServiceKey{address, number, protocol, 0}, entry, answerArp});
  };
  for (Ipv4 ip : port->clusterIPs) add(PortFrontends::kInternal, rte_cpu_to_be_32(ip), servicePort, false);
  for (Ipv4 ip : port->externalIPs) {
    const rte_be32_t address = rte_cpu_to_be_32(ip);
    add(PortFrontends::kExternal, address, servicePort, inPortSubnet(address));
  }
  if (port->nodePort != 0) {
    for (const PortSubnet& subnet : settings.ports) {
      if (nodePortAllowed(subnet.address, settings.nodePortAddresses)) {
        add(PortFrontends::kExternal, subnet.address, rte_cpu_to_be_16(port->nodePort), true);
      }
    }
  }
  for (Ipv4 ip : port->loadBalancerIPs) {
    const rte_be32_t address = rte_cpu_to_be_32(ip);
    add(PortFrontends::kBalancer, address, servicePort, inPortSubnet(address));
  }
  return record;
}

void ServiceTableWriter::addRecord(const PortFrontends& record) {
  for (const PortFrontends::Frontend& f : record.frontends) {
    const uint64_t bits = keyBits(f.key);
    std::vector<Claim>& claims = claims_[bits];
    const auto at = std::lower_bound(claims.begin(), claims.end(), nameOf(record),
                                     [](const Claim& c, const ServicePortName& name) { return nameOf(*c.record) < name; });
    if (!claims.empty() && claims.front().record != &record) {
      spdlog::warn("frontend {}:{}/{} is claimed by {} and {}; the first in name order keeps it",
                   formatIpv4(rte_be_to_cpu_32(f.key.address)), rte_be_to_cpu_16(f.key.port),
                   f.key.protocol == IPPROTO_UDP ? "UDP" : "TCP", nameOf(*claims.front().record).toString(),
                   nameOf(record).toString());
    }
    claims.insert(at, Claim{&record, f.entry});
    touchedKeys_.push_back(bits);
    AddressUse& use = addressUses_[f.key.address];
    ++use.frontends;
    if (f.answerArp) ++use.arp;
    touchedAddresses_.push_back(f.key.address);
  }
  for (rte_be32_t address : record.state->addresses) {
    BackendAddress& backend = backendAddresses_[address];
    if (backend.ports++ == 0) {
      backend.position = static_cast<uint32_t>(backendList_.size());
      backendList_.push_back(address);
      publishedBackendList_.reset();
    }
  }
  backendTotal_ += record.state->internal.backends.size() + record.state->external.backends.size();
}

void ServiceTableWriter::removeRecord(const PortFrontends& record) {
  for (const PortFrontends::Frontend& f : record.frontends) {
    const uint64_t bits = keyBits(f.key);
    std::vector<Claim>& claims = claims_[bits];
    std::erase_if(claims, [&record](const Claim& c) { return c.record == &record; });
    touchedKeys_.push_back(bits);
    AddressUse& use = addressUses_[f.key.address];
    --use.frontends;
    if (f.answerArp) --use.arp;
    touchedAddresses_.push_back(f.key.address);
  }
  for (rte_be32_t address : record.state->addresses) {
    const auto it = backendAddresses_.find(address);
    if (it == backendAddresses_.end() || --it->second.ports > 0) continue;
    // Swap-remove: the last address takes the freed position.
    const uint32_t position = it->second.position;
    backendList_[position] = backendList_.back();
    backendAddresses_[backendList_[position]].position = position;
    backendList_.pop_back();
    backendAddresses_.erase(it);
    publishedBackendList_.reset();
  }
  backendTotal_ -= record.state->internal.backends.size() + record.state->external.backends.size();
}

void ServiceTableWriter::settleTouched() {
  sortUnique(touchedKeys_);
  for (uint64_t bits : touchedKeys_) {
    const ServiceKey key = keyOf(bits);
    const auto it = claims_.find(bits);
    if (it == claims_.end() || it->second.empty()) {
      if (it != claims_.end()) claims_.erase(it);
      index_->eraseFrontend(key);
      continue;
    }
    const Claim& owner = it->second.front();
    const ServiceEntry* entry = &owner.record->entries[owner.entry];
    if (index_->lookup(key) != entry) index_->setFrontend(key, entry);
  }
  touchedKeys_.clear();

  sortUnique(touchedAddresses_);
  for (rte_be32_t address : touchedAddresses_) {
    uint32_t flags = 0;
    const bool portAddress = std::any_of(settings_.ports.begin(), settings_.ports.end(),
                                         [address](const PortSubnet& p) { return p.address == address; });
    if (portAddress) flags |= kAnswerArp;
    if (const auto it = addressUses_.find(address); it != addressUses_.end()) {
      if (it->second.frontends > 0) flags |= kServiceAddress;
      if (it->second.arp > 0) flags |= kAnswerArp;
      if (it->second.frontends == 0) addressUses_.erase(it);
    }
    setAnswered(address, !portAddress && (flags & kAnswerArp) != 0);
    if (index_->localAddressFlags(address) != flags) index_->setLocalAddress(address, flags);
  }
  touchedAddresses_.clear();
}

std::unique_ptr<ServiceTableWriter> ServiceTableWriter::rebuild(const Settings& settings, const ServiceTable& table,
                                                                const ServiceTableWriter* previous) {
  // Records first (this may throw, and nothing is shared yet), then an index sized
  // for them, with room for as many again before the next rebuild.
  std::vector<std::shared_ptr<const PortFrontends>> records;
  size_t frontends = 0;
  size_t built = 0;
  static const std::map<ServicePortName, std::shared_ptr<const PortFrontends>> kNone;
  const auto& formerRecords = previous != nullptr ? previous->records_ : kNone;
  auto former = formerRecords.begin();  // both are sorted by name: walk them together
  for (const auto& [name, port] : table.ports()) {
    if (port->name.protocol == Protocol::Sctp) continue;  // not in the data path yet
    while (former != formerRecords.end() && former->first < name) ++former;
    const bool known = former != formerRecords.end() && former->first == name;
    records.push_back(buildRecord(settings, port, known ? former->second : nullptr));
    if (!known || records.back() != former->second) ++built;
    frontends += records.back()->frontends.size();
  }
  const size_t reused = records.size() - built;

  const size_t capacity = frontends * 2;
  std::unique_ptr<ServiceTableWriter> writer(
      new ServiceTableWriter(settings, capacity, capacity + settings.ports.size()));
  for (const PortSubnet& port : settings.ports) writer->touchedAddresses_.push_back(port.address);
  for (auto& record : records) {
    writer->addRecord(*record);
    writer->records_.emplace_hint(writer->records_.end(), nameOf(*record), std::move(record));
  }
  writer->settleTouched();
  writer->builtPorts_ = built;
  writer->reusedPorts_ = reused;
  return writer;
}

bool ServiceTableWriter::update(const ServiceTable& table, const ChangedPorts& changed) {
  struct Change {
    const ServicePortName* name;
    std::shared_ptr<const PortFrontends> before;
    std::shared_ptr<const PortFrontends> after;
  };
  // Build first: this may throw, and the index is not touched yet.
  std::vector<Change> changes;
  size_t newFrontends = 0;
  builtPorts_ = 0;
  reusedPorts_ = 0;
  for (const ServicePortName& name : changed) {
    const auto port = table.ports().find(name);
    const bool present = port != table.ports().end() && name.protocol != Protocol::Sctp;
    const auto before = records_.find(name);
    std::shared_ptr<const PortFrontends> former = before != records_.end() ? before->second : nullptr;
    if (!present && former == nullptr) continue;
    std::shared_ptr<const PortFrontends> after = present ? buildRecord(settings_, port->second, former) : nullptr;
    if (after != nullptr && after == former) continue;  // the same value again (a reloaded file)
    if (after != nullptr) {
      newFrontends += after->frontends.size();
      ++builtPorts_;
    }
    changes.push_back(Change{&name, std::move(former), std::move(after)});
  }
  if (!index_->hasRoomFor(newFrontends, newFrontends)) return false;

  for (Change& change : changes) {
    if (change.before != nullptr) {
      removeRecord(*change.before);
      records_.erase(*change.name);
      retired_.push_back(std::move(change.before));
    }
    if (change.after != nullptr) {
      addRecord(*change.after);
      records_.emplace(*change.name, std::move(change.after));
    }
  }
  settleTouched();
  reusedPorts_ = records_.size() - builtPorts_;
  return true;
}

std::shared_ptr<const std::vector<rte_be32_t>> ServiceTableWriter::backendAddresses() {
  if (publishedBackendList_ == nullptr) publishedBackendList_ = std::make_shared<const std::vector<rte_be32_t>>(backendList_);
  return publishedBackendList_;
}

void ServiceTableWriter::setAnswered(rte_be32_t address, bool answered) {
  const auto it = answeredPositions_.find(address);
  if (answered == (it != answeredPositions_.end())) return;
  publishedAnswered_.reset();
  if (answered) {
    answeredPositions_.emplace(address, static_cast<uint32_t>(answeredList_.size()));
    answeredList_.push_back(address);
    return;
  }
  // Swap-remove, as for the backend addresses.
  const uint32_t position = it->second;
  answeredList_[position] = answeredList_.back();
  answeredPositions_[answeredList_[position]] = position;
  answeredList_.pop_back();
  answeredPositions_.erase(address);
}

std::shared_ptr<const std::vector<rte_be32_t>> ServiceTableWriter::answeredAddresses() {
  if (publishedAnswered_ == nullptr) publishedAnswered_ = std::make_shared<const std::vector<rte_be32_t>>(answeredList_);
  return publishedAnswered_;
}

const ServicePortName* ServiceTableWriter::answeringPort(rte_be32_t address) const {
  for (const auto& [name, record] : records_) {
    for (const PortFrontends::Frontend& f : record->frontends) {
      if (f.answerArp && f.key.address == address) return &name;
    }
  }
  return nullptr;
}

ServiceTableWriter::Retired ServiceTableWriter::takeRetired() {
  Retired retired{std::move(retired_), index_->takeErased()};
  retired_.clear();
  return retired;
}

}  // namespace nicproxy

#include "drivers/conntrack_provider.hpp"

#include <cerrno>
#include <chrono>

#include <spdlog/spdlog.h>

#include "control/proxy_metrics.hpp"
#include "drivers/conntrack.hpp"
#include "drivers/conntrack_netlink.hpp"

namespace nicproxy {

ConntrackCleanupProvider::ConntrackCleanupProvider(std::unique_ptr<Provider> rules,
                                                   std::unique_ptr<ConntrackTable> conntrack,
                                                   ConntrackCleanupOptions options)
    : rules_(std::move(rules)), conntrack_(std::move(conntrack)), options_(std::move(options)) {}

std::vector<Ipv4> ConntrackCleanupProvider::nodeAddresses() const {
  const std::vector<Ipv4> local = options_.localAddresses();
  return options_.nodePortAddresses.empty() ? local : addressesIn(options_.nodePortAddresses, local);
}

void ConntrackCleanupProvider::reportOnce(const std::system_error& error) {
  ++counts_.failures;
  const int code = error.code().value();
  if (!reported_.insert(code).second) {
    spdlog::debug("conntrack: {}", error.what());
    return;
  }
  const char* hint = "";
  if (code == EPERM || code == EACCES) {
    hint = " (nicproxy needs CAP_NET_ADMIN for this)";
  } else if (code == EPROTONOSUPPORT || code == EOPNOTSUPP || code == EAFNOSUPPORT) {
    hint = " (the kernel has no conntrack netlink: load nf_conntrack_netlink)";
  }
  spdlog::warn("conntrack: {}{}; stale UDP conntrack entries are not deleted, so UDP clients of removed endpoints "
               "keep sending to them until their entries time out. Logged once; the rules are not affected.",
               error.what(), hint);
}

void ConntrackCleanupProvider::sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) {
  rules_->sync(table, changed, fullSync);

  // The endpoints each UDP port lost since the last sync; on a full sync every port is
  // compared, since `changed` may not cover what the failed syncs before it missed.
  const std::vector<Ipv4> nodes = nodeAddresses();
  UdpFrontendIndex removed(nodes);
  const auto compare = [&](const ServicePortName& name) {
    const auto before = udpPorts_.find(name);
    if (before == udpPorts_.end()) return;
    const auto after = table.ports().find(name);
    const ServicePort* now = after == table.ports().end() ? nullptr : after->second.get();
    if (now == before->second.get()) return;  // the same shared, immutable port: unchanged
    const std::set<Ipv4> gone = removedEndpointAddresses(*before->second, now);
    if (!gone.empty()) removed.add(*before->second, gone);
  };
  if (fullSync) {
    for (const auto& [name, port] : udpPorts_) compare(name);
    udpPorts_.clear();
    for (const auto& [name, port] : table.ports()) {
      if (name.protocol == Protocol::Udp) udpPorts_.emplace(name, port);
    }
  } else {
    for (const ServicePortName& name : changed) {
      if (name.protocol != Protocol::Udp) continue;
      compare(name);
      if (const auto it = table.ports().find(name); it != table.ports().end()) {
        udpPorts_[name] = it->second;
      } else {
        udpPorts_.erase(name);
      }
    }
  }
  if (!fullSync && removed.empty()) return;  // nothing to look for: no dump

  // kube-proxy's reconciler metrics: the time from the dump to the last deletion, for
  // every round that dumped the table; a dump that fails is not a round.
  const auto started = std::chrono::steady_clock::now();
  std::vector<ConntrackEntry> entries;
  try {
    entries = conntrack_->listUdp();
  } catch (const std::system_error& error) {
    reportOnce(error);
    return;
  }
  std::set<ConntrackEntry> doomed;
  for (const ConntrackEntry& e : entriesToRemovedEndpoints(entries, removed)) doomed.insert(e);
  const size_t immediate = doomed.size();
  if (fullSync) {
    for (const ConntrackEntry& e : staleUdpEntries(entries, table.ports(), nodes)) doomed.insert(e);
  }
  size_t deleted = 0;
  for (const ConntrackEntry& e : doomed) {
    try {
      if (conntrack_->remove(e)) ++deleted;
    } catch (const std::system_error& error) {
      reportOnce(error);
      break;  // the next one would fail the same way; the next full sync tries again
    }
  }
  counts_.deleted += deleted;
  if (options_.metrics != nullptr) {
    options_.metrics->conntrackReconcileDuration.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    options_.metrics->conntrackReconcileDeleted.Increment(static_cast<double>(deleted));
  }
  counts_.foundByReconciler += doomed.size() - immediate;
  if (doomed.empty()) {
    spdlog::debug("conntrack: {} IPv4 UDP entries, none stale", entries.size());
  } else if (fullSync) {
    spdlog::info("conntrack: reconciled {} IPv4 UDP entries: deleted {} of {} stale ({} to endpoints removed since "
                 "the last sync)",
                 entries.size(), deleted, doomed.size(), immediate);
  } else {
    spdlog::info("conntrack: deleted {} of {} UDP entries to removed endpoints", deleted, doomed.size());
  }
}

std::unique_ptr<Provider> withUdpConntrackCleanup(std::unique_ptr<Provider> rules,
                                                  std::vector<Ipv4Cidr> nodePortAddresses, ProxyMetrics* metrics) {
  ConntrackCleanupOptions options;
  options.nodePortAddresses = std::move(nodePortAddresses);
  options.metrics = metrics;
  return std::make_unique<ConntrackCleanupProvider>(std::move(rules), std::make_unique<NetlinkConntrackTable>(),
                                                    std::move(options));
}

}  // namespace nicproxy

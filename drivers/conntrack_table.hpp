#pragma once
// The kernel's conntrack table as the UDP cleanup sees it: list the IPv4 UDP entries,
// delete one. An interface so that the decisions (drivers/conntrack.hpp) and the
// provider that applies them are tested against a fake; NetlinkConntrackTable
// (conntrack_netlink.hpp) is the real one.
#include <compare>
#include <cstdint>
#include <vector>

#include "control/net.hpp"

namespace nicproxy {

/// One IPv4 UDP conntrack entry, ports in host order. The original direction is the
/// client's datagram (to a Service address); the reply's source is where the answer
/// comes from: the endpoint when the entry was DNAT'ed, else origDst itself.
struct ConntrackEntry {
  Ipv4 origSrc = 0;
  Ipv4 origDst = 0;
  uint16_t origSrcPort = 0;
  uint16_t origDstPort = 0;
  Ipv4 replySrc = 0;
  uint16_t zone = 0;  // conntrack zone; part of what identifies the entry

  auto operator<=>(const ConntrackEntry&) const = default;
};

class ConntrackTable {
 public:
  virtual ~ConntrackTable() = default;
  /// Every IPv4 UDP entry. Throws std::system_error (EPERM without CAP_NET_ADMIN, a
  /// kernel without conntrack netlink...).
  virtual std::vector<ConntrackEntry> listUdp() = 0;
  /// Deletes the UDP entry with this original tuple and zone. Returns false when it
  /// was not there (it expired meanwhile); throws std::system_error on other failures.
  virtual bool remove(const ConntrackEntry& entry) = 0;
};

}  // namespace nicproxy

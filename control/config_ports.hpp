#pragma once
// Checks on dpdk.ports that need more than a type check: which addresses a port may
// own, and which device strings name the same device. Pure functions used by
// parseConfig, so that `--validate` and the daemon refuse the same files.
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "control/config.hpp"
#include "control/net.hpp"

namespace nicproxy {

/// True when `ip` is a host of `subnet`: inside it and, on a /30 or wider, neither its
/// network nor its broadcast address (a /31 or /32 has neither, RFC 3021).
bool isHostOf(const Ipv4Cidr& subnet, Ipv4 ip);

/// Why `cidr` cannot be a port's address ("is a multicast address"), or empty when it
/// can. The data path answers ARP for it, sends from it (SNAT) and drops martian
/// sources (docs/ingress.md), so it must be an ordinary unicast host on its subnet.
std::string whyNotAPortAddress(const Ipv4Cidr& cidr);

/// "0000:03:00.0" or "03:00.0", optionally followed by ",devargs" as EAL's -a takes it.
bool isPciAddress(std::string_view device);

/// What a dpdk.ports[].device string takes hold of, spelled one way, so that two
/// spellings of one device compare equal.
struct DeviceClaims {
  /// PCI: "0000:03:00.0", lower case, devargs dropped; vdev: its name ("net_af_packet0"),
  /// which EAL requires to be unique.
  std::string device;
  /// Kernel interfaces a vdev attaches to (iface=, rx_iface=, tx_iface=... of af_packet,
  /// af_xdp, pcap, tap): two ports on one interface would steal each other's frames.
  std::vector<std::string> interfaces;
};
DeviceClaims deviceClaims(std::string_view device);

/// Why ports `a` and `b` cannot both be opened ("is the same device as ..."), or empty.
/// `otherPath` names b's port in the message ("dpdk.ports[0]").
std::string deviceConflict(const DeviceClaims& a, const DeviceClaims& b, std::string_view otherPath);

/// Every check on one port that needs its address: the address itself
/// (whyNotAPortAddress), then the gateway, the static neighbours and the SNAT addresses
/// on its subnet, each error "dpdk.ports[0].gateway: ...". parseConfig runs it on an
/// address from the file, resolvePortAddresses again on an address found per node, so
/// both refuse the same things. `path` names the port ("dpdk.ports[0]").
std::vector<std::string> portAddressErrors(const DpdkPortConfig& port, const std::string& path);

/// What `port`'s addresses clash with among the ports before it (`earlier`, named by
/// `pathOf(k)`): an address or SNAT address another port already has. Ports whose
/// address is still unresolved are skipped, on either side.
std::vector<std::string> portClashErrors(const DpdkPortConfig& port, const std::string& path,
                                         std::span<const DpdkPortConfig> earlier,
                                         const std::function<std::string(size_t)>& pathOf);

}  // namespace nicproxy

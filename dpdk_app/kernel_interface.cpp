#include "dpdk_app/kernel_interface.hpp"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace nicproxy {

namespace {

struct NlDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
  void operator()(nl_addr* a) const { nl_addr_put(a); }
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
template <typename T>
using NlPtr = std::unique_ptr<T, NlDeleter>;

[[noreturn]] void fail(const std::string& interface, const std::string& step, int nlError) {
  throw std::runtime_error("exception interface " + interface + ": " + step + ": " + nl_geterror(nlError));
}

NlPtr<nl_sock> connectRoute(const std::string& interface) {
  NlPtr<nl_sock> sock(nl_socket_alloc());
  if (!sock) throw std::runtime_error("exception interface " + interface + ": no memory for a netlink socket");
  if (const int rc = nl_connect(sock.get(), NETLINK_ROUTE); rc < 0) fail(interface, "netlink connect", rc);
  return sock;
}

int ifindexOf(nl_sock* sock, const std::string& interface) {
  rtnl_link* raw = nullptr;
  if (const int rc = rtnl_link_get_kernel(sock, 0, interface.c_str(), &raw); rc < 0) {
    fail(interface, "no such interface in this network namespace", rc);
  }
  NlPtr<rtnl_link> link(raw);
  return rtnl_link_get_ifindex(link.get());
}

// An IPv4 nl_addr (network byte order inside) with a prefix length.
NlPtr<nl_addr> ipv4Address(Ipv4 ip, uint8_t prefixLength) {
  const uint32_t be = htonl(ip);
  NlPtr<nl_addr> addr(nl_addr_build(AF_INET, &be, sizeof be));
  if (!addr) throw std::runtime_error("no memory for a netlink address");
  nl_addr_set_prefixlen(addr.get(), prefixLength);
  return addr;
}

/// Applies what `fill` sets on a fresh link change to `interface`; `what` names it in the
/// error.
template <typename Fill>
void changeLink(const std::string& interface, const std::string& what, Fill fill) {
  NlPtr<nl_sock> sock = connectRoute(interface);
  rtnl_link* raw = nullptr;
  if (const int rc = rtnl_link_get_kernel(sock.get(), 0, interface.c_str(), &raw); rc < 0) {
    fail(interface, "no such interface in this network namespace", rc);
  }
  NlPtr<rtnl_link> link(raw);
  NlPtr<rtnl_link> change(rtnl_link_alloc());
  if (!change) throw std::runtime_error("no memory for a netlink link change");
  fill(change.get());
  if (const int rc = rtnl_link_change(sock.get(), link.get(), change.get(), 0); rc < 0) fail(interface, what, rc);
}

}  // namespace

void configureKernelLink(const std::string& interface, const MacAddress& mac, uint16_t mtu) {
  NlPtr<nl_addr> lladdr(nl_addr_build(AF_LLC, mac.data(), mac.size()));
  if (!lladdr) throw std::runtime_error("no memory for a netlink link address");
  changeLink(interface, "set MAC " + formatMac(mac) + ", MTU " + std::to_string(mtu) + " and up",
             [&](rtnl_link* change) {
               rtnl_link_set_addr(change, lladdr.get());
               rtnl_link_set_mtu(change, mtu);
               rtnl_link_set_flags(change, IFF_UP);
             });
}

void setKernelTxQueueLength(const std::string& interface, uint32_t frames) {
  const uint32_t length = std::max<uint32_t>(frames, 1000);
  changeLink(interface, "set txqueuelen " + std::to_string(length),
             [&](rtnl_link* change) { rtnl_link_set_txqlen(change, length); });
}

struct KernelAddresses::Netlink {
  std::string interface;
  NlPtr<nl_sock> sock;
  NlPtr<rtnl_addr> address;  // as added: what the destructor deletes
  NlPtr<rtnl_route> route;   // null: none added
};

KernelAddresses::KernelAddresses(const std::string& interface, const Ipv4Cidr& address, std::optional<Ipv4> gateway)
    : netlink_(std::make_unique<Netlink>()) {
  Netlink& n = *netlink_;
  n.interface = interface;
  n.sock = connectRoute(interface);
  const int ifindex = ifindexOf(n.sock.get(), interface);
  const std::string text = formatIpv4Cidr(address);

  n.address.reset(rtnl_addr_alloc());
  if (!n.address) throw std::runtime_error("no memory for a netlink address");
  rtnl_addr_set_ifindex(n.address.get(), ifindex);
  rtnl_addr_set_family(n.address.get(), AF_INET);
  NlPtr<nl_addr> local = ipv4Address(address.address, address.prefixLength);
  rtnl_addr_set_local(n.address.get(), local.get());
  if (address.prefixLength < 31) {  // as `ip addr add ... brd +`; a /31 or /32 has none (RFC 3021)
    NlPtr<nl_addr> broadcast = ipv4Address(address.network() | ~address.mask(), 32);
    rtnl_addr_set_broadcast(n.address.get(), broadcast.get());
  }
  if (const int rc = rtnl_addr_add(n.sock.get(), n.address.get(), NLM_F_EXCL); rc < 0) {
    n.address.reset();
    fail(interface, "add address " + text, rc);
  }
  spdlog::info("exception interface {}: address {} added", interface, text);
  if (!gateway) return;

  NlPtr<rtnl_route> route(rtnl_route_alloc());
  rtnl_nexthop* hop = rtnl_route_nh_alloc();
  if (!route || hop == nullptr) throw std::runtime_error("no memory for a netlink route");
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  NlPtr<nl_addr> anywhere = ipv4Address(0, 0);
  rtnl_route_set_dst(route.get(), anywhere.get());
  NlPtr<nl_addr> via = ipv4Address(*gateway, 32);
  rtnl_route_nh_set_ifindex(hop, ifindex);
  rtnl_route_nh_set_gateway(hop, via.get());
  rtnl_route_add_nexthop(route.get(), hop);  // the route owns the hop now
  const int rc = rtnl_route_add(n.sock.get(), route.get(), NLM_F_EXCL);
  if (rc == -NLE_EXIST) {
    spdlog::warn("exception interface {}: a default route exists already in this network namespace; it stays, "
                 "and none is added through {}", interface, formatIpv4(*gateway));
    return;
  }
  if (rc < 0) fail(interface, "add default route via " + formatIpv4(*gateway), rc);
  n.route = std::move(route);
  spdlog::info("exception interface {}: default route via {} added", interface, formatIpv4(*gateway));
}

KernelAddresses::~KernelAddresses() {
  Netlink& n = *netlink_;
  // Errors are only logged: the interface may be gone already, taking both with it.
  if (n.route) {
    if (const int rc = rtnl_route_delete(n.sock.get(), n.route.get(), 0); rc < 0) {
      spdlog::debug("exception interface {}: delete default route: {}", n.interface, nl_geterror(rc));
    }
  }
  if (n.address) {
    if (const int rc = rtnl_addr_delete(n.sock.get(), n.address.get(), 0); rc < 0) {
      spdlog::debug("exception interface {}: delete address: {}", n.interface, nl_geterror(rc));
    }
  }
}

bool KernelAddresses::routeAdded() const { return netlink_->route != nullptr; }

}  // namespace nicproxy

#include "drivers/ipvs/vip_link.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <net/if.h>
#include <sys/socket.h>

#include <memory>
#include <stdexcept>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

namespace nicproxy {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using LinkPtr = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr, rtnl_addr_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;

[[noreturn]] void fail(const std::string& what, int rc) {
  throw std::runtime_error(what + ": " + nl_geterror(rc));
}

AddrPtr hostAddress(int ifindex, Ipv4 address) {
  AddrPtr addr(rtnl_addr_alloc());
  const uint32_t network = htonl(address);
  NlAddrPtr local(nl_addr_build(AF_INET, &network, sizeof network));
  if (!addr || !local) throw std::runtime_error("out of memory for a netlink address");
  nl_addr_set_prefixlen(local.get(), 32);
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), AF_INET);
  if (const int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0) fail("rtnl_addr_set_local", rc);
  return addr;
}

}  // namespace

NetlinkVipLink::NetlinkVipLink() : socket_(nl_socket_alloc()) {
  if (socket_ == nullptr) throw std::runtime_error("cannot allocate a netlink socket");
  if (const int rc = nl_connect(socket_, NETLINK_ROUTE); rc < 0) {
    nl_socket_free(socket_);
    fail("cannot open an rtnetlink socket", rc);
  }
}

NetlinkVipLink::~NetlinkVipLink() { nl_socket_free(socket_); }

int NetlinkVipLink::ifindex(const std::string& name) {
  rtnl_link* raw = nullptr;
  const int rc = rtnl_link_get_kernel(socket_, 0, name.c_str(), &raw);
  if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV) return 0;
  if (rc < 0) fail("cannot look up interface " + name, rc);
  const LinkPtr link(raw);
  return rtnl_link_get_ifindex(link.get());
}

void NetlinkVipLink::ensureDummy(const std::string& name) {
  if (ifindex(name) != 0) return;
  const LinkPtr link(rtnl_link_alloc());
  if (!link) throw std::runtime_error("out of memory for a netlink link");
  rtnl_link_set_name(link.get(), name.c_str());
  if (const int rc = rtnl_link_set_type(link.get(), "dummy"); rc < 0) fail("dummy link type", rc);
  if (const int rc = rtnl_link_add(socket_, link.get(), NLM_F_CREATE); rc < 0) {
    fail("cannot create the dummy interface " + name + " (is the dummy module available?)", rc);
  }
}

std::set<Ipv4> NetlinkVipLink::addresses(const std::string& name) {
  const int index = ifindex(name);
  std::set<Ipv4> out;
  if (index == 0) return out;
  nl_cache* raw = nullptr;
  if (const int rc = rtnl_addr_alloc_cache(socket_, &raw); rc < 0) fail("cannot list addresses", rc);
  const CachePtr cache(raw);
  for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr; object = nl_cache_get_next(object)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(object);
    if (rtnl_addr_get_ifindex(addr) != index || rtnl_addr_get_family(addr) != AF_INET) continue;
    const nl_addr* local = rtnl_addr_get_local(addr);
    if (local == nullptr || nl_addr_get_len(local) != 4) continue;
    uint32_t network = 0;
    std::memcpy(&network, nl_addr_get_binary_addr(local), sizeof network);
    out.insert(ntohl(network));
  }
  return out;
}

void NetlinkVipLink::addAddress(const std::string& name, Ipv4 address) {
  const int index = ifindex(name);
  if (index == 0) throw std::runtime_error("interface " + name + " is missing");
  const AddrPtr addr = hostAddress(index, address);
  if (const int rc = rtnl_addr_add(socket_, addr.get(), NLM_F_REPLACE); rc < 0) {
    fail("cannot add " + formatIpv4(address) + "/32 to " + name, rc);
  }
}

void NetlinkVipLink::deleteAddress(const std::string& name, Ipv4 address) {
  const int index = ifindex(name);
  if (index == 0) return;
  const AddrPtr addr = hostAddress(index, address);
  const int rc = rtnl_addr_delete(socket_, addr.get(), 0);
  if (rc < 0 && rc != -NLE_NOADDR && rc != -NLE_OBJ_NOTFOUND) {
    fail("cannot delete " + formatIpv4(address) + "/32 from " + name, rc);
  }
}

bool NetlinkVipLink::deleteLink(const std::string& name) {
  if (ifindex(name) == 0) return false;
  const LinkPtr link(rtnl_link_alloc());
  if (!link) throw std::runtime_error("out of memory for a netlink link");
  rtnl_link_set_name(link.get(), name.c_str());
  if (const int rc = rtnl_link_delete(socket_, link.get()); rc < 0) fail("cannot delete interface " + name, rc);
  return true;
}

}  // namespace nicproxy

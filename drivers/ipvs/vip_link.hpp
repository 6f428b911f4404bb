#pragma once
// The dummy interface that holds the service addresses (kube-proxy's kube-ipvs0): IPVS
// only sees packets addressed to a local address, so every cluster, external and
// load-balancer IP is bound to it as a /32. The interface stays down, as kube-proxy
// leaves it, so the addresses are local but never answered for on a wire.
// Behind VipLink so that unit tests use a fake; NetlinkVipLink is libnl-route-3.
#include <memory>
#include <set>
#include <string>

#include "control/net.hpp"

struct nl_sock;

namespace nicproxy {

inline constexpr const char* kIpvsDummyInterface = "kube-ipvs0";

class VipLink {
 public:
  virtual ~VipLink() = default;
  /// Creates the dummy interface `name` when it is missing. Throws with the reason.
  virtual void ensureDummy(const std::string& name) = 0;
  /// The IPv4 addresses on `name`; empty when it does not exist.
  virtual std::set<Ipv4> addresses(const std::string& name) = 0;
  virtual void addAddress(const std::string& name, Ipv4 address) = 0;     // as a /32
  virtual void deleteAddress(const std::string& name, Ipv4 address) = 0;
  /// Deletes the interface; false when it was not there.
  virtual bool deleteLink(const std::string& name) = 0;
};

/// The real one, over an rtnetlink socket (libnl-route-3).
class NetlinkVipLink : public VipLink {
 public:
  NetlinkVipLink();
  ~NetlinkVipLink() override;
  NetlinkVipLink(const NetlinkVipLink&) = delete;
  NetlinkVipLink& operator=(const NetlinkVipLink&) = delete;

  void ensureDummy(const std::string& name) override;
  std::set<Ipv4> addresses(const std::string& name) override;
  void addAddress(const std::string& name, Ipv4 address) override;
  void deleteAddress(const std::string& name, Ipv4 address) override;
  bool deleteLink(const std::string& name) override;

 private:
  int ifindex(const std::string& name);  // 0 when absent
  nl_sock* socket_;
};

}  // namespace nicproxy

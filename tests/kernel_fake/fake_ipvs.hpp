#pragma once
// Fakes for the IPVS dataplane's unit tests. FakeIpvsTransport decodes each generic
// netlink request the client built, as the kernel's ip_vs_ctl.c does (genlmsg_parse,
// nla_parse_nested, the attributes each command requires, ports in network order),
// keeps an in-memory IPVS table, refuses what the kernel refuses (EEXIST, ESRCH, an
// unknown scheduler) and answers dumps with messages laid out as the kernel lays them
// out. It does not reuse the client's encoders or decoders. FakeVipLink keeps the
// addresses of fake interfaces.
#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "drivers/ipvs/ipvs_netlink.hpp"
#include "drivers/ipvs/vip_link.hpp"

namespace nicproxy {

class FakeIpvsTransport : public IpvsTransport {
 public:
  static constexpr int kFamily = 0x2a;

  /// One decoded request.
  struct Request {
    uint8_t command = 0;
    bool dump = false;
    std::optional<IpvsService> service;      // IPVS_CMD_ATTR_SERVICE, when present
    bool serviceFull = false;                // it carried scheduler, flags, timeout and netmask
    std::optional<IpvsDestination> dest;     // IPVS_CMD_ATTR_DEST, when present
    bool destFull = false;                   // it carried forwarding method, weight and thresholds
    std::array<std::optional<uint32_t>, 3> timeouts;  // IPVS_CMD_ATTR_TIMEOUT_TCP, _TCP_FIN, _UDP
  };
  struct VirtualServer {
    IpvsService service;
    std::map<std::pair<Ipv4, uint16_t>, IpvsDestination> dests;
  };

  int family() override { return kFamily; }
  std::vector<NlMsgPtr> request(nl_msg* msg) override;

  std::map<IpvsServiceKey, VirtualServer> state;
  std::array<uint32_t, 3> timeouts{900, 120, 300};  // TCP, TCP FIN, UDP in seconds (the kernel's defaults)
  std::vector<Request> requests;

  /// The requests that change something (not GET_*), since the last clear.
  std::vector<Request> writes() const;
  void clearRequests() { requests.clear(); }
  /// Sets a real server's connection counts, as traffic would.
  void setConnections(const IpvsServiceKey& service, Ipv4 address, uint16_t port, uint32_t active, uint32_t inactive);

 private:
  std::vector<NlMsgPtr> apply(const Request& request);
  NlMsgPtr reply(uint8_t command);
};

class FakeVipLink : public VipLink {
 public:
  void ensureDummy(const std::string& name) override;
  std::set<Ipv4> addresses(const std::string& name) override;
  void addAddress(const std::string& name, Ipv4 address) override;
  void deleteAddress(const std::string& name, Ipv4 address) override;
  bool deleteLink(const std::string& name) override;

  std::map<std::string, std::set<Ipv4>> links;  // interface -> addresses
  size_t addressChanges = 0;                    // addAddress + deleteAddress calls
};

}  // namespace nicproxy

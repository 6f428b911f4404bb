#pragma once
// The IPVS generic-netlink client: virtual services and real servers as the kernel's
// IPVS sees them (IPVS_CMD_* from <linux/ip_vs.h>), built and parsed with libnl-genl-3.
// The socket sits behind IpvsTransport so that unit tests run the very messages built
// here against a fake that decodes them (tests/kernel_fake/fake_ipvs.hpp).
// Not thread-safe: one owner (the control thread).
#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/model.hpp"

struct nl_msg;
struct nl_sock;
struct nlattr;

namespace nicproxy {

struct NlMsgDeleter {
  void operator()(nl_msg* msg) const;
};
using NlMsgPtr = std::unique_ptr<nl_msg, NlMsgDeleter>;

/// kube-proxy's virtual-server identity: (address, protocol, port). IPv4 only.
struct IpvsServiceKey {
  Ipv4 address = 0;
  Protocol protocol = Protocol::Tcp;
  uint16_t port = 0;

  auto operator<=>(const IpvsServiceKey&) const = default;
  bool operator==(const IpvsServiceKey&) const = default;
  std::string toString() const;  // "TCP 10.96.0.10:80", as ipvsadm -Ln prints it
};

struct IpvsService {
  IpvsServiceKey key;
  std::string scheduler = "rr";
  uint32_t flags = 0;           // IP_VS_SVC_F_PERSISTENT for ClientIP affinity
  uint32_t timeout = 0;         // persistence timeout in seconds
  uint32_t netmask = 0xffffffff;  // persistence granularity (host order): one client address

  bool operator==(const IpvsService&) const = default;
};

struct IpvsDestination {
  Ipv4 address = 0;
  uint16_t port = 0;
  uint32_t weight = 1;
  uint32_t forwardMethod = 0;   // IP_VS_CONN_F_MASQ (NAT), the only method nicproxy uses
  uint32_t activeConns = 0;     // read from the kernel; ignored when writing
  uint32_t inactiveConns = 0;

  /// (address, port): a real server's identity inside one virtual service.
  auto id() const { return std::pair{address, port}; }
};

/// Sends one request and returns the replies. Throws std::runtime_error with the
/// kernel's error text when the kernel refuses the request.
class IpvsTransport {
 public:
  virtual ~IpvsTransport() = default;
  /// The generic-netlink family id of "IPVS", for the message header.
  virtual int family() = 0;
  /// Sends `msg` (a complete genl request) and returns the data messages of the reply:
  /// for a dump, every part; otherwise none (the kernel's acknowledgement is checked).
  virtual std::vector<NlMsgPtr> request(nl_msg* msg) = 0;
};

/// The real socket. open() throws when the IPVS family is not there (no ip_vs module).
class NetlinkIpvsTransport : public IpvsTransport {
 public:
  static std::unique_ptr<NetlinkIpvsTransport> open();
  ~NetlinkIpvsTransport() override;
  int family() override { return family_; }
  std::vector<NlMsgPtr> request(nl_msg* msg) override;

 private:
  NetlinkIpvsTransport(nl_sock* socket, int family) : socket_(socket), family_(family) {}
  nl_sock* socket_;
  int family_;
};

class IpvsClient {
 public:
  explicit IpvsClient(IpvsTransport& transport) : transport_(transport) {}

  void addService(const IpvsService& service);     // IPVS_CMD_NEW_SERVICE
  void updateService(const IpvsService& service);  // IPVS_CMD_SET_SERVICE
  void deleteService(const IpvsServiceKey& key);   // IPVS_CMD_DEL_SERVICE
  void addDestination(const IpvsServiceKey& service, const IpvsDestination& dest);     // IPVS_CMD_NEW_DEST
  void updateDestination(const IpvsServiceKey& service, const IpvsDestination& dest);  // IPVS_CMD_SET_DEST
  void deleteDestination(const IpvsServiceKey& service, const IpvsDestination& dest);  // IPVS_CMD_DEL_DEST
  /// Every IPv4 TCP/UDP virtual service (IPVS_CMD_GET_SERVICE dump); fwmark, IPv6 and
  /// SCTP services are left out.
  std::vector<IpvsService> services();
  /// The real servers of one virtual service with their connection counts (GET_DEST dump).
  std::vector<IpvsDestination> destinations(const IpvsServiceKey& service);
  void flush();                                    // IPVS_CMD_FLUSH: every service, not only ours
  /// IPVS_CMD_SET_CONFIG: connection timeouts in seconds, as `ipvsadm --set`; 0 leaves one as it is.
  void setTimeouts(uint32_t tcp, uint32_t tcpFin, uint32_t udp);

 private:
  NlMsgPtr message(uint8_t command, int flags);
  std::vector<NlMsgPtr> send(nl_msg* msg, const std::string& what);  // adds `what` to errors
  IpvsTransport& transport_;
};

/// Decoders shared with the fake transport: parse one IPVS_CMD_ATTR_SERVICE /
/// IPVS_CMD_ATTR_DEST nested attribute. Return false for what nicproxy does not manage
/// (IPv6, fwmark, SCTP) or for a malformed attribute.
bool parseIpvsService(nlattr* nested, IpvsService& out);
bool parseIpvsDestination(nlattr* nested, IpvsDestination& out);
/// Encoders for the fake's replies and the client's requests.
void putIpvsService(nl_msg* msg, const IpvsService& service, bool full);
void putIpvsDestination(nl_msg* msg, const IpvsDestination& dest, bool withCounters);

}  // namespace nicproxy

#include "drivers/ipvs/ipvs_netlink.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <stdexcept>

#include <linux/ip_vs.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

namespace nicproxy {
namespace {

// The kernel keeps addresses as union nf_inet_addr (16 bytes); IPv4 takes the first 4
// in network order. ipvsadm sends all 16 and so do we.
using NfInetAddr = std::array<uint8_t, 16>;

NfInetAddr toNfAddr(Ipv4 address) {
  NfInetAddr out{};
  const uint32_t network = htonl(address);
  std::memcpy(out.data(), &network, sizeof network);
  return out;
}

bool readAddress(const nlattr* attr, Ipv4& out) {
  if (attr == nullptr || nla_len(attr) < 4) return false;
  uint32_t network = 0;
  std::memcpy(&network, nla_data(attr), sizeof network);
  out = ntohl(network);
  return true;
}

bool readU16(const nlattr* attr, uint16_t& out) {
  if (attr == nullptr || nla_len(attr) < 2) return false;
  std::memcpy(&out, nla_data(attr), sizeof out);
  return true;
}

bool readU32(const nlattr* attr, uint32_t& out) {
  if (attr == nullptr || nla_len(attr) < 4) return false;
  std::memcpy(&out, nla_data(attr), sizeof out);
  return true;
}

uint16_t ipProtocol(Protocol protocol) {
  return protocol == Protocol::Udp ? IPPROTO_UDP : protocol == Protocol::Sctp ? IPPROTO_SCTP : IPPROTO_TCP;
}

// libnl's NLA_PUT_* macros jump to a label; explicit checks read better in C++.
void check(int rc, const char* what) {
  if (rc < 0) throw std::runtime_error(std::string("IPVS: cannot build ") + what + ": " + nl_geterror(rc));
}

void putServiceKey(nl_msg* msg, const IpvsServiceKey& key) {
  const NfInetAddr address = toNfAddr(key.address);
  check(nla_put_u16(msg, IPVS_SVC_ATTR_AF, AF_INET), "service family");
  check(nla_put_u16(msg, IPVS_SVC_ATTR_PROTOCOL, ipProtocol(key.protocol)), "service protocol");
  check(nla_put(msg, IPVS_SVC_ATTR_ADDR, static_cast<int>(address.size()), address.data()), "service address");
  check(nla_put_u16(msg, IPVS_SVC_ATTR_PORT, htons(key.port)), "service port");
}

std::string realServerText(const IpvsServiceKey& service, const IpvsDestination& dest) {
  return formatIpv4(dest.address) + ":" + std::to_string(dest.port) + " of " + service.toString();
}

}  // namespace

void NlMsgDeleter::operator()(nl_msg* msg) const { nlmsg_free(msg); }

std::string IpvsServiceKey::toString() const {
  return std::string(protocolName(protocol)) + " " + formatIpv4(address) + ":" + std::to_string(port);
}

void putIpvsService(nl_msg* msg, const IpvsService& service, bool full) {
  nlattr* nest = nla_nest_start(msg, IPVS_CMD_ATTR_SERVICE);
  if (nest == nullptr) check(-NLE_NOMEM, "service");
  putServiceKey(msg, service.key);
  if (full) {
    // The kernel requires all four for NEW and SET (ip_vs_genl_parse_service, full_entry).
    const ip_vs_flags flags{.flags = service.flags, .mask = ~0U};
    check(nla_put_string(msg, IPVS_SVC_ATTR_SCHED_NAME, service.scheduler.c_str()), "scheduler");
    check(nla_put(msg, IPVS_SVC_ATTR_FLAGS, sizeof flags, &flags), "service flags");
    check(nla_put_u32(msg, IPVS_SVC_ATTR_TIMEOUT, service.timeout), "persistence timeout");
    check(nla_put_u32(msg, IPVS_SVC_ATTR_NETMASK, htonl(service.netmask)), "persistence netmask");
  }
  nla_nest_end(msg, nest);
}

void putIpvsDestination(nl_msg* msg, const IpvsDestination& dest, bool withCounters) {
  nlattr* nest = nla_nest_start(msg, IPVS_CMD_ATTR_DEST);
  if (nest == nullptr) check(-NLE_NOMEM, "destination");
  const NfInetAddr address = toNfAddr(dest.address);
  check(nla_put(msg, IPVS_DEST_ATTR_ADDR, static_cast<int>(address.size()), address.data()), "real server address");
  check(nla_put_u16(msg, IPVS_DEST_ATTR_PORT, htons(dest.port)), "real server port");
  check(nla_put_u16(msg, IPVS_DEST_ATTR_ADDR_FAMILY, AF_INET), "real server family");
  check(nla_put_u32(msg, IPVS_DEST_ATTR_FWD_METHOD, dest.forwardMethod), "forwarding method");
  check(nla_put_u32(msg, IPVS_DEST_ATTR_WEIGHT, dest.weight), "weight");
  check(nla_put_u32(msg, IPVS_DEST_ATTR_U_THRESH, 0), "upper threshold");
  check(nla_put_u32(msg, IPVS_DEST_ATTR_L_THRESH, 0), "lower threshold");
  if (withCounters) {
    check(nla_put_u32(msg, IPVS_DEST_ATTR_ACTIVE_CONNS, dest.activeConns), "active connections");
    check(nla_put_u32(msg, IPVS_DEST_ATTR_INACT_CONNS, dest.inactiveConns), "inactive connections");
  }
  nla_nest_end(msg, nest);
}

bool parseIpvsService(nlattr* nested, IpvsService& out) {
  nlattr* attrs[IPVS_SVC_ATTR_MAX + 1] = {};
  if (nested == nullptr || nla_parse_nested(attrs, IPVS_SVC_ATTR_MAX, nested, nullptr) < 0) return false;
  uint16_t family = 0, protocol = 0, port = 0;
  if (!readU16(attrs[IPVS_SVC_ATTR_AF], family) || family != AF_INET) return false;
  if (attrs[IPVS_SVC_ATTR_FWMARK] != nullptr) return false;  // fwmark services are not ours
  if (!readU16(attrs[IPVS_SVC_ATTR_PROTOCOL], protocol) || !readU16(attrs[IPVS_SVC_ATTR_PORT], port)) return false;
  if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) return false;
  if (!readAddress(attrs[IPVS_SVC_ATTR_ADDR], out.key.address)) return false;
  out.key.protocol = protocol == IPPROTO_UDP ? Protocol::Udp : Protocol::Tcp;
  out.key.port = ntohs(port);
  out.scheduler = attrs[IPVS_SVC_ATTR_SCHED_NAME] != nullptr ? nla_get_string(attrs[IPVS_SVC_ATTR_SCHED_NAME]) : "";
  out.flags = 0;
  if (const nlattr* flags = attrs[IPVS_SVC_ATTR_FLAGS]; flags != nullptr && nla_len(flags) >= int{sizeof(ip_vs_flags)}) {
    ip_vs_flags value{};
    std::memcpy(&value, nla_data(flags), sizeof value);
    // The kernel reports its own IP_VS_SVC_F_HASHED too; only the settable ones count.
    out.flags = value.flags & ~uint32_t{IP_VS_SVC_F_HASHED};
  }
  out.timeout = 0;
  readU32(attrs[IPVS_SVC_ATTR_TIMEOUT], out.timeout);
  uint32_t netmask = 0;
  out.netmask = readU32(attrs[IPVS_SVC_ATTR_NETMASK], netmask) ? ntohl(netmask) : 0xffffffff;
  return true;
}

bool parseIpvsDestination(nlattr* nested, IpvsDestination& out) {
  nlattr* attrs[IPVS_DEST_ATTR_MAX + 1] = {};
  if (nested == nullptr || nla_parse_nested(attrs, IPVS_DEST_ATTR_MAX, nested, nullptr) < 0) return false;
  uint16_t family = AF_INET, port = 0;
  readU16(attrs[IPVS_DEST_ATTR_ADDR_FAMILY], family);  // absent before Linux 4.18: the service's family
  if (family != AF_INET || !readAddress(attrs[IPVS_DEST_ATTR_ADDR], out.address)) return false;
  if (!readU16(attrs[IPVS_DEST_ATTR_PORT], port)) return false;
  out.port = ntohs(port);
  out.weight = out.forwardMethod = out.activeConns = out.inactiveConns = 0;
  readU32(attrs[IPVS_DEST_ATTR_WEIGHT], out.weight);
  if (readU32(attrs[IPVS_DEST_ATTR_FWD_METHOD], out.forwardMethod)) out.forwardMethod &= IP_VS_CONN_F_FWD_MASK;
  readU32(attrs[IPVS_DEST_ATTR_ACTIVE_CONNS], out.activeConns);
  readU32(attrs[IPVS_DEST_ATTR_INACT_CONNS], out.inactiveConns);
  return true;
}

NlMsgPtr IpvsClient::message(uint8_t command, int flags) {
  NlMsgPtr msg(nlmsg_alloc());
  if (!msg) throw std::runtime_error("IPVS: out of memory for a netlink message");
  if (genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, transport_.family(), 0, flags, command, IPVS_GENL_VERSION) ==
      nullptr) {
    throw std::runtime_error("IPVS: cannot build the generic netlink header");
  }
  return msg;
}

std::vector<NlMsgPtr> IpvsClient::send(nl_msg* msg, const std::string& what) {
  try {
    return transport_.request(msg);
  } catch (const std::exception& error) {
    throw std::runtime_error("IPVS: " + what + ": " + error.what());
  }
}

void IpvsClient::addService(const IpvsService& service) {
  NlMsgPtr msg = message(IPVS_CMD_NEW_SERVICE, 0);
  putIpvsService(msg.get(), service, true);
  send(msg.get(), "add virtual server " + service.key.toString());
}

void IpvsClient::updateService(const IpvsService& service) {
  NlMsgPtr msg = message(IPVS_CMD_SET_SERVICE, 0);
  putIpvsService(msg.get(), service, true);
  send(msg.get(), "update virtual server " + service.key.toString());
}

void IpvsClient::deleteService(const IpvsServiceKey& key) {
  NlMsgPtr msg = message(IPVS_CMD_DEL_SERVICE, 0);
  putIpvsService(msg.get(), IpvsService{.key = key}, false);
  send(msg.get(), "delete virtual server " + key.toString());
}

void IpvsClient::addDestination(const IpvsServiceKey& service, const IpvsDestination& dest) {
  NlMsgPtr msg = message(IPVS_CMD_NEW_DEST, 0);
  putIpvsService(msg.get(), IpvsService{.key = service}, false);
  putIpvsDestination(msg.get(), dest, false);
  send(msg.get(), "add real server " + realServerText(service, dest));
}

void IpvsClient::updateDestination(const IpvsServiceKey& service, const IpvsDestination& dest) {
  NlMsgPtr msg = message(IPVS_CMD_SET_DEST, 0);
  putIpvsService(msg.get(), IpvsService{.key = service}, false);
  putIpvsDestination(msg.get(), dest, false);
  send(msg.get(), "update real server " + realServerText(service, dest));
}

void IpvsClient::deleteDestination(const IpvsServiceKey& service, const IpvsDestination& dest) {
  NlMsgPtr msg = message(IPVS_CMD_DEL_DEST, 0);
  putIpvsService(msg.get(), IpvsService{.key = service}, false);
  putIpvsDestination(msg.get(), dest, false);
  send(msg.get(), "delete real server " + realServerText(service, dest));
}

std::vector<IpvsService> IpvsClient::services() {
  NlMsgPtr msg = message(IPVS_CMD_GET_SERVICE, NLM_F_DUMP);
  std::vector<IpvsService> out;
  for (const NlMsgPtr& reply : send(msg.get(), "list virtual servers")) {
    nlattr* attrs[IPVS_CMD_ATTR_MAX + 1] = {};
    if (genlmsg_parse(nlmsg_hdr(reply.get()), 0, attrs, IPVS_CMD_ATTR_MAX, nullptr) < 0) continue;
    IpvsService service;
    if (parseIpvsService(attrs[IPVS_CMD_ATTR_SERVICE], service)) out.push_back(std::move(service));
  }
  return out;
}

std::vector<IpvsDestination> IpvsClient::destinations(const IpvsServiceKey& service) {
  NlMsgPtr msg = message(IPVS_CMD_GET_DEST, NLM_F_DUMP);
  putIpvsService(msg.get(), IpvsService{.key = service}, false);
  std::vector<IpvsDestination> out;
  for (const NlMsgPtr& reply : send(msg.get(), "list real servers of " + service.toString())) {
    nlattr* attrs[IPVS_CMD_ATTR_MAX + 1] = {};
    if (genlmsg_parse(nlmsg_hdr(reply.get()), 0, attrs, IPVS_CMD_ATTR_MAX, nullptr) < 0) continue;
    IpvsDestination dest;
    if (parseIpvsDestination(attrs[IPVS_CMD_ATTR_DEST], dest)) out.push_back(dest);
  }
  return out;
}

void IpvsClient::setTimeouts(uint32_t tcp, uint32_t tcpFin, uint32_t udp) {
  NlMsgPtr msg = message(IPVS_CMD_SET_CONFIG, 0);
  check(nla_put_u32(msg.get(), IPVS_CMD_ATTR_TIMEOUT_TCP, tcp), "TCP timeout");
  check(nla_put_u32(msg.get(), IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, tcpFin), "TCP FIN timeout");
  check(nla_put_u32(msg.get(), IPVS_CMD_ATTR_TIMEOUT_UDP, udp), "UDP timeout");
  send(msg.get(), "set timeouts");
}

void IpvsClient::flush() {
  NlMsgPtr msg = message(IPVS_CMD_FLUSH, 0);
  send(msg.get(), "flush");
}

}  // namespace nicproxy

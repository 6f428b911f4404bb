#include "tests/kernel_fake/fake_ipvs.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <stdexcept>

#include <linux/ip_vs.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

namespace nicproxy {
namespace {

// The kernel's policies (ip_vs_ctl.c): what the parser checks before a command runs.
nla_policy servicePolicy[IPVS_SVC_ATTR_MAX + 1];
nla_policy destPolicy[IPVS_DEST_ATTR_MAX + 1];
const bool kPoliciesReady = [] {
  servicePolicy[IPVS_SVC_ATTR_AF].type = NLA_U16;
  servicePolicy[IPVS_SVC_ATTR_PROTOCOL].type = NLA_U16;
  servicePolicy[IPVS_SVC_ATTR_ADDR].minlen = 4;
  servicePolicy[IPVS_SVC_ATTR_PORT].type = NLA_U16;
  servicePolicy[IPVS_SVC_ATTR_FWMARK].type = NLA_U32;
  servicePolicy[IPVS_SVC_ATTR_SCHED_NAME].type = NLA_STRING;
  servicePolicy[IPVS_SVC_ATTR_FLAGS].minlen = sizeof(ip_vs_flags);
  servicePolicy[IPVS_SVC_ATTR_TIMEOUT].type = NLA_U32;
  servicePolicy[IPVS_SVC_ATTR_NETMASK].type = NLA_U32;
  destPolicy[IPVS_DEST_ATTR_ADDR].minlen = 4;
  destPolicy[IPVS_DEST_ATTR_PORT].type = NLA_U16;
  destPolicy[IPVS_DEST_ATTR_FWD_METHOD].type = NLA_U32;
  destPolicy[IPVS_DEST_ATTR_WEIGHT].type = NLA_U32;
  destPolicy[IPVS_DEST_ATTR_U_THRESH].type = NLA_U32;
  destPolicy[IPVS_DEST_ATTR_L_THRESH].type = NLA_U32;
  destPolicy[IPVS_DEST_ATTR_ADDR_FAMILY].type = NLA_U16;
  return true;
}();

[[noreturn]] void refuse(int error, const std::string& what) {
  throw std::runtime_error("fake kernel: " + what + ": " + std::strerror(error));
}

Ipv4 addressOf(nlattr* attr) {
  uint32_t network = 0;
  std::memcpy(&network, nla_data(attr), sizeof network);
  return ntohl(network);
}

IpvsService decodeService(nlattr* nested, bool& full) {
  nlattr* a[IPVS_SVC_ATTR_MAX + 1] = {};
  if (nla_parse_nested(a, IPVS_SVC_ATTR_MAX, nested, servicePolicy) < 0) refuse(EINVAL, "service attributes");
  if (a[IPVS_SVC_ATTR_AF] == nullptr || nla_get_u16(a[IPVS_SVC_ATTR_AF]) != AF_INET) refuse(EAFNOSUPPORT, "family");
  if (a[IPVS_SVC_ATTR_ADDR] == nullptr || a[IPVS_SVC_ATTR_PROTOCOL] == nullptr || a[IPVS_SVC_ATTR_PORT] == nullptr) {
    refuse(EINVAL, "service without address, protocol and port");
  }
  IpvsService s;
  const uint16_t protocol = nla_get_u16(a[IPVS_SVC_ATTR_PROTOCOL]);
  if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) refuse(EPROTONOSUPPORT, "protocol");
  s.key = {.address = addressOf(a[IPVS_SVC_ATTR_ADDR]),
           .protocol = protocol == IPPROTO_TCP ? Protocol::Tcp : Protocol::Udp,
           .port = ntohs(nla_get_u16(a[IPVS_SVC_ATTR_PORT]))};
  full = a[IPVS_SVC_ATTR_SCHED_NAME] && a[IPVS_SVC_ATTR_FLAGS] && a[IPVS_SVC_ATTR_TIMEOUT] && a[IPVS_SVC_ATTR_NETMASK];
  if (full) {
    ip_vs_flags flags{};
    std::memcpy(&flags, nla_data(a[IPVS_SVC_ATTR_FLAGS]), sizeof flags);
    s.scheduler = nla_get_string(a[IPVS_SVC_ATTR_SCHED_NAME]);
    s.flags = flags.flags & flags.mask;
    s.timeout = nla_get_u32(a[IPVS_SVC_ATTR_TIMEOUT]);
    s.netmask = ntohl(nla_get_u32(a[IPVS_SVC_ATTR_NETMASK]));
  }
  return s;
}

IpvsDestination decodeDest(nlattr* nested, bool& full) {
  nlattr* a[IPVS_DEST_ATTR_MAX + 1] = {};
  if (nla_parse_nested(a, IPVS_DEST_ATTR_MAX, nested, destPolicy) < 0) refuse(EINVAL, "destination attributes");
  if (a[IPVS_DEST_ATTR_ADDR] == nullptr || a[IPVS_DEST_ATTR_PORT] == nullptr) refuse(EINVAL, "destination");
  IpvsDestination d;
  d.address = addressOf(a[IPVS_DEST_ATTR_ADDR]);
  d.port = ntohs(nla_get_u16(a[IPVS_DEST_ATTR_PORT]));
  full = a[IPVS_DEST_ATTR_FWD_METHOD] && a[IPVS_DEST_ATTR_WEIGHT] && a[IPVS_DEST_ATTR_U_THRESH] &&
         a[IPVS_DEST_ATTR_L_THRESH];
  if (full) {
    d.forwardMethod = nla_get_u32(a[IPVS_DEST_ATTR_FWD_METHOD]);
    d.weight = nla_get_u32(a[IPVS_DEST_ATTR_WEIGHT]);
  }
  return d;
}

void putAddress(nl_msg* msg, int type, Ipv4 address) {
  uint8_t bytes[16] = {};
  const uint32_t network = htonl(address);
  std::memcpy(bytes, &network, sizeof network);
  nla_put(msg, type, sizeof bytes, bytes);
}

// As ip_vs_genl_fill_service: the kernel adds IP_VS_SVC_F_HASHED and a stats nest.
void fillService(nl_msg* msg, const IpvsService& s) {
  nlattr* nest = nla_nest_start(msg, IPVS_CMD_ATTR_SERVICE);
  nla_put_u16(msg, IPVS_SVC_ATTR_AF, AF_INET);
  nla_put_u16(msg, IPVS_SVC_ATTR_PROTOCOL, s.key.protocol == Protocol::Tcp ? IPPROTO_TCP : IPPROTO_UDP);
  putAddress(msg, IPVS_SVC_ATTR_ADDR, s.key.address);
  nla_put_u16(msg, IPVS_SVC_ATTR_PORT, htons(s.key.port));
  nla_put_string(msg, IPVS_SVC_ATTR_SCHED_NAME, s.scheduler.c_str());
  const ip_vs_flags flags{.flags = s.flags | IP_VS_SVC_F_HASHED, .mask = ~0U};
  nla_put(msg, IPVS_SVC_ATTR_FLAGS, sizeof flags, &flags);
  nla_put_u32(msg, IPVS_SVC_ATTR_TIMEOUT, s.timeout);
  nla_put_u32(msg, IPVS_SVC_ATTR_NETMASK, htonl(s.netmask));
  nlattr* stats = nla_nest_start(msg, IPVS_SVC_ATTR_STATS);
  nla_put_u32(msg, IPVS_STATS_ATTR_CONNS, 0);
  nla_nest_end(msg, stats);
  nla_nest_end(msg, nest);
}

void fillDest(nl_msg* msg, const IpvsDestination& d) {
  nlattr* nest = nla_nest_start(msg, IPVS_CMD_ATTR_DEST);
  putAddress(msg, IPVS_DEST_ATTR_ADDR, d.address);
  nla_put_u16(msg, IPVS_DEST_ATTR_PORT, htons(d.port));
  nla_put_u32(msg, IPVS_DEST_ATTR_FWD_METHOD, d.forwardMethod);
  nla_put_u32(msg, IPVS_DEST_ATTR_WEIGHT, d.weight);
  nla_put_u32(msg, IPVS_DEST_ATTR_U_THRESH, 0);
  nla_put_u32(msg, IPVS_DEST_ATTR_L_THRESH, 0);
  nla_put_u32(msg, IPVS_DEST_ATTR_ACTIVE_CONNS, d.activeConns);
  nla_put_u32(msg, IPVS_DEST_ATTR_INACT_CONNS, d.inactiveConns);
  nla_put_u32(msg, IPVS_DEST_ATTR_PERSIST_CONNS, 0);
  nla_put_u16(msg, IPVS_DEST_ATTR_ADDR_FAMILY, AF_INET);
  nla_nest_end(msg, nest);
}

bool knownScheduler(const std::string& name) {
  for (const char* known : {"rr", "wrr", "lc", "wlc", "sh", "dh", "sed", "nq", "mh"}) {
    if (name == known) return true;
  }
  return false;
}

}  // namespace

std::vector<NlMsgPtr> FakeIpvsTransport::request(nl_msg* msg) {
  (void)kPoliciesReady;
  nlmsghdr* header = nlmsg_hdr(msg);
  if (header->nlmsg_type != kFamily) refuse(ENOENT, "wrong generic netlink family");
  const genlmsghdr* genl = genlmsg_hdr(header);
  if (genl->version != IPVS_GENL_VERSION) refuse(EINVAL, "wrong IPVS_GENL_VERSION");
  nlattr* attrs[IPVS_CMD_ATTR_MAX + 1] = {};
  if (genlmsg_parse(header, 0, attrs, IPVS_CMD_ATTR_MAX, nullptr) < 0) refuse(EINVAL, "command attributes");
  Request request;
  request.command = genl->cmd;
  request.dump = (header->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  if (attrs[IPVS_CMD_ATTR_SERVICE] != nullptr) request.service = decodeService(attrs[IPVS_CMD_ATTR_SERVICE], request.serviceFull);
  for (int i = 0; i < 3; ++i) {
    if (nlattr* t = attrs[IPVS_CMD_ATTR_TIMEOUT_TCP + i]; t != nullptr) {
      if (nla_len(t) != 4) refuse(EINVAL, "timeout attribute");
      request.timeouts[i] = nla_get_u32(t);
    }
  }
  if (attrs[IPVS_CMD_ATTR_DEST] != nullptr) request.dest = decodeDest(attrs[IPVS_CMD_ATTR_DEST], request.destFull);
  requests.push_back(request);
  return apply(request);
}

NlMsgPtr FakeIpvsTransport::reply(uint8_t command) {
  NlMsgPtr msg(nlmsg_alloc());
  genlmsg_put(msg.get(), 0, 0, kFamily, 0, NLM_F_MULTI, command, IPVS_GENL_VERSION);
  return msg;
}

std::vector<NlMsgPtr> FakeIpvsTransport::apply(const Request& r) {
  std::vector<NlMsgPtr> out;
  const auto needService = [&](bool full) {
    if (!r.service || (full && !r.serviceFull)) refuse(EINVAL, "missing service attributes");
  };
  const auto existing = [&]() -> VirtualServer& {
    const auto it = state.find(r.service->key);
    if (it == state.end()) refuse(ESRCH, r.service->key.toString());
    return it->second;
  };
  switch (r.command) {
    case IPVS_CMD_NEW_SERVICE:
      needService(true);
      if (!knownScheduler(r.service->scheduler)) refuse(ENOENT, "scheduler " + r.service->scheduler);
      if (!state.emplace(r.service->key, VirtualServer{*r.service, {}}).second) refuse(EEXIST, r.service->key.toString());
      break;
    case IPVS_CMD_SET_SERVICE:
      needService(true);
      existing().service = *r.service;
      break;
    case IPVS_CMD_DEL_SERVICE:
      needService(false);
      existing();
      state.erase(r.service->key);
      break;
    case IPVS_CMD_NEW_DEST:
    case IPVS_CMD_SET_DEST:
    case IPVS_CMD_DEL_DEST: {
      needService(false);
      if (!r.dest || (r.command != IPVS_CMD_DEL_DEST && !r.destFull)) refuse(EINVAL, "missing destination attributes");
      auto& dests = existing().dests;
      const auto it = dests.find(r.dest->id());
      if (r.command == IPVS_CMD_NEW_DEST) {
        if (it != dests.end()) refuse(EEXIST, "destination");
        dests.emplace(r.dest->id(), *r.dest);
      } else if (it == dests.end()) {
        refuse(ENOENT, "destination");
      } else if (r.command == IPVS_CMD_SET_DEST) {
        it->second.weight = r.dest->weight;
        it->second.forwardMethod = r.dest->forwardMethod;
      } else {
        dests.erase(it);
      }
      break;
    }
    case IPVS_CMD_GET_SERVICE:
      if (!r.dump) refuse(EINVAL, "GET_SERVICE without NLM_F_DUMP");
      for (const auto& [key, vs] : state) {
        out.push_back(reply(IPVS_CMD_NEW_SERVICE));
        fillService(out.back().get(), vs.service);
      }
      break;
    case IPVS_CMD_GET_DEST:
      if (!r.dump) refuse(EINVAL, "GET_DEST without NLM_F_DUMP");
      needService(false);
      for (const auto& [id, dest] : existing().dests) {
        out.push_back(reply(IPVS_CMD_NEW_DEST));
        fillDest(out.back().get(), dest);
      }
      break;
    case IPVS_CMD_SET_CONFIG:
      // As ip_vs_genl_set_config: a 0 (or absent) timeout leaves that one as it is.
      for (int i = 0; i < 3; ++i) {
        if (r.timeouts[i].value_or(0) != 0) timeouts[i] = *r.timeouts[i];
      }
      break;
    case IPVS_CMD_FLUSH:
      state.clear();
      break;
    default:
      refuse(EOPNOTSUPP, "command " + std::to_string(r.command));
  }
  return out;
}

std::vector<FakeIpvsTransport::Request> FakeIpvsTransport::writes() const {
  std::vector<Request> out;
  for (const Request& r : requests) {
    if (r.command != IPVS_CMD_GET_SERVICE && r.command != IPVS_CMD_GET_DEST) out.push_back(r);
  }
  return out;
}

void FakeIpvsTransport::setConnections(const IpvsServiceKey& service, Ipv4 address, uint16_t port, uint32_t active,
                                       uint32_t inactive) {
  IpvsDestination& dest = state.at(service).dests.at({address, port});
  dest.activeConns = active;
  dest.inactiveConns = inactive;
}

void FakeVipLink::ensureDummy(const std::string& name) { links[name]; }

std::set<Ipv4> FakeVipLink::addresses(const std::string& name) {
  const auto it = links.find(name);
  return it == links.end() ? std::set<Ipv4>{} : it->second;
}

void FakeVipLink::addAddress(const std::string& name, Ipv4 address) {
  const auto it = links.find(name);
  if (it == links.end()) throw std::runtime_error("fake link: no interface " + name);
  ++addressChanges;
  if (!it->second.insert(address).second) throw std::runtime_error("fake link: address exists");
}

void FakeVipLink::deleteAddress(const std::string& name, Ipv4 address) {
  ++addressChanges;
  links[name].erase(address);
}

bool FakeVipLink::deleteLink(const std::string& name) { return links.erase(name) != 0; }

}  // namespace nicproxy

#include "tests/bench/gen_floods.hpp"

#include <cstring>
#include <iterator>

#include <rte_arp.h>
#include <rte_tcp.h>

namespace nicproxy::bench {

namespace {

constexpr const char* kKindNames[] = {"invalid-flags", "half-open-syn", "rst-outside-window", "arp-strangers",
                                      "martians"};

constexpr const char* kInvalidFlags[] = {"SYN+FIN new tuple", "SYN+RST new tuple", "no flags new tuple",
                                         "FIN+ACK new tuple", "RST new tuple",     "SYN+FIN on the flow",
                                         "SYN+RST on the flow", "no flags on the flow"};
constexpr uint8_t kNewTupleFlags[] = {RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG, RTE_TCP_SYN_FLAG | RTE_TCP_RST_FLAG, 0,
                                      RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, RTE_TCP_RST_FLAG};
constexpr const char* kHalfOpen[] = {"SYN from a spoofed source"};
constexpr const char* kRst[] = {"client RST far outside", "client RST just beyond the window",
                                "backend RST+ACK far outside", "backend RST just beyond the window"};
constexpr const char* kArp[] = {"request for the node from an on-link stranger", "request for another host",
                                "gratuitous reply from a stranger", "reply claiming the guarded backend",
                                "request from the guarded backend's address, made-up MAC",
                                "request for the node from an off-link stranger"};
constexpr const char* kMartians[] = {"from 0.0.0.0", "from 127/8", "from multicast", "from 255.255.255.255",
                                     "from the node's address", "from 240/4", "broadcast source MAC",
                                     "multicast source MAC"};

constexpr uint32_t kWindow = 65535;  // what the generator's TCP ends advertise (no scaling)

}  // namespace

const char* floodKindName(FloodKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

std::optional<FloodKind> floodKindFromName(std::string_view name) {
  for (FloodKind kind : kFloodKinds) {
    if (name == floodKindName(kind)) return kind;
  }
  return std::nullopt;
}

FloodMaker::FloodMaker(FloodKind kind, Engine& engine) : kind_(kind), engine_(engine) {}

size_t FloodMaker::variants() const {
  switch (kind_) {
    case FloodKind::InvalidFlags: return std::size(kInvalidFlags);
    case FloodKind::HalfOpenSyn: return std::size(kHalfOpen);
    case FloodKind::RstOutsideWindow: return std::size(kRst);
    case FloodKind::ArpStrangers: return std::size(kArp);
    case FloodKind::Martians: return std::size(kMartians);
  }
  return 0;
}

const char* FloodMaker::variantName(size_t variant) const {
  switch (kind_) {
    case FloodKind::InvalidFlags: return kInvalidFlags[variant];
    case FloodKind::HalfOpenSyn: return kHalfOpen[variant];
    case FloodKind::RstOutsideWindow: return kRst[variant];
    case FloodKind::ArpStrangers: return kArp[variant];
    case FloodKind::Martians: return kMartians[variant];
  }
  return "?";
}

void FloodMaker::make(rte_mbuf* m) {
  switch (kind_) {
    case FloodKind::InvalidFlags: invalidFlags(m); break;
    case FloodKind::HalfOpenSyn: halfOpenSyn(m); break;
    case FloodKind::RstOutsideWindow: rstOutsideWindow(m); break;
    case FloodKind::ArpStrangers: arpStranger(m); break;
    case FloodKind::Martians: martian(m); break;
  }
  ++sequence_;
}

rte_ether_addr FloodMaker::randomMac() {
  const uint64_t r = xorshift(random_);
  // Locally administered unicast, never the generator's own.
  rte_ether_addr mac{{0x06, static_cast<uint8_t>(r >> 8), static_cast<uint8_t>(r >> 16),
                      static_cast<uint8_t>(r >> 24), static_cast<uint8_t>(r >> 32), static_cast<uint8_t>(r >> 40)}};
  return mac;
}

FrameEnds FloodMaker::toGuardedVip(uint32_t source) {
  FrameEnds e;
  e.sourceMac = engine_.port().mac();
  e.destinationMac = engine_.options().dutMac;
  e.source = source;
  e.sourcePort = randomPort();
  e.destination = GenPlan::kGuardedVip;
  e.destinationPort = engine_.options().plan.servicePort;
  return e;
}

void FloodMaker::invalidFlags(rte_mbuf* m) {
  const TcpFlow& flow = engine_.tcpFlows()[0];
  if (sequence_ % 8 == 7) {
    const size_t variant = 5 + (sequence_ / 8) % 3;
    static constexpr uint8_t kOnFlowFlags[] = {RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG,
                                               RTE_TCP_SYN_FLAG | RTE_TCP_RST_FLAG, 0};
    writeTcp(m, engine_.clientEnds(0), kOnFlowFlags[variant - 5], flow.clientNext, flow.clientAck, 0, nullptr);
    count(variant);
    return;
  }
  const size_t variant = (sequence_ - sequence_ / 8) % 5;
  writeTcp(m, toGuardedVip(ipv4(10, 202, 0, 0) | (random32() & 0xffff)), kNewTupleFlags[variant], random32(),
           random32(), 0, nullptr);
  count(variant);
}

void FloodMaker::halfOpenSyn(rte_mbuf* m) {
  // Never the generator's own ISN tag: the backends must not take these for measured flows.
  const uint32_t isn = random32() & ~kClientIsnTag;
  writeTcp(m, toGuardedVip(ipv4(100, 64, 0, 0) | (random32() & 0x3fffff)), RTE_TCP_SYN_FLAG, isn, 0, 0, nullptr);
  count(0);
}

void FloodMaker::rstOutsideWindow(rte_mbuf* m) {
  const TcpFlow& flow = engine_.tcpFlows()[0];
  const size_t variant = sequence_ % 4;
  const uint32_t far = 0x80000000u + (random32() & 0x0fffffff);
  const uint32_t beyond = kWindow + 1 + (random32() & 0xfffff);
  if (variant < 2) {
    writeTcp(m, engine_.clientEnds(0), RTE_TCP_RST_FLAG, flow.clientNext + (variant == 0 ? far : beyond), 0, 0,
             nullptr);
  } else {
    FrameEnds e;
    e.sourceMac = engine_.port().mac();
    e.destinationMac = engine_.options().dutMac;
    e.source = flow.backendAddress;
    e.sourcePort = flow.backendPort;
    e.destination = flow.snatAddress;
    e.destinationPort = flow.snatPort;
    const uint8_t flags = variant == 2 ? RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG : RTE_TCP_RST_FLAG;
    writeTcp(m, e, flags, flow.backendNext + (variant == 2 ? far : beyond), flow.clientNext, 0, nullptr);
  }
  count(variant);
}

void FloodMaker::arpStranger(rte_mbuf* m) {
  const size_t variant = sequence_ % 6;
  const rte_ether_addr stranger = randomMac();
  const rte_ether_addr& dut = engine_.options().dutMac;
  rte_ether_addr broadcast;
  std::memset(broadcast.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);
  const rte_ether_addr none{};
  const uint32_t node = engine_.options().plan.nodeAddress;
  const uint32_t onLink = ipv4(10, 3, 0, 0) | (random32() & 0xffff);
  switch (variant) {
    case 0: writeArp(m, stranger, broadcast, RTE_ARP_OP_REQUEST, stranger, onLink, none, node); break;
    case 1:
      writeArp(m, stranger, broadcast, RTE_ARP_OP_REQUEST, stranger, onLink, none, ipv4(10, 4, 0, 0) | (random32() & 0xffff));
      break;
    case 2: writeArp(m, stranger, broadcast, RTE_ARP_OP_REPLY, stranger, onLink, broadcast, onLink); break;
    case 3: writeArp(m, stranger, dut, RTE_ARP_OP_REPLY, stranger, GenPlan::kGuardedBackend, dut, node); break;
    case 4: writeArp(m, stranger, broadcast, RTE_ARP_OP_REQUEST, stranger, GenPlan::kGuardedBackend, none, node); break;
    default:
      writeArp(m, stranger, broadcast, RTE_ARP_OP_REQUEST, stranger, ipv4(198, 51, 100, 0) | (random32() & 0xff), none,
               node);
      break;
  }
  count(variant);
}

void FloodMaker::martian(rte_mbuf* m) {
  const size_t variant = sequence_ % 8;
  uint32_t source = ipv4(10, 205, 0, 0) | (random32() & 0xffff);
  switch (variant) {
    case 0: source = 0; break;
    case 1: source = ipv4(127, 0, 0, 1) + random32() % 0xfffffe; break;
    case 2: source = ipv4(224, 0, 0, 1) + (random32() & 0x0ffffffe); break;
    case 3: source = 0xffffffff; break;
    case 4: source = engine_.options().plan.nodeAddress; break;
    case 5: source = ipv4(240, 0, 0, 1) + (random32() & 0x0ffffff0); break;
    default: break;
  }
  FrameEnds e = toGuardedVip(source);
  if (variant == 6) std::memset(e.sourceMac.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);
  if (variant == 7) e.sourceMac = rte_ether_addr{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}};
  if ((sequence_ / 8) % 2 == 0) {
    writeTcp(m, e, RTE_TCP_SYN_FLAG, random32() & ~kClientIsnTag, 0, 0, nullptr);
  } else {
    const GenMarker marker{kGenMagic, kGenFlood, engine_.trial(), 0};
    writeUdp(m, e, engine_.options().frameSize, &marker);
  }
  count(variant);
}

}  // namespace nicproxy::bench

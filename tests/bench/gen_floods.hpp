#pragma once
// The hostile traffic of issue 9, one FloodMaker per kind. Each kind cycles through its
// variants (printed with their counts, so a reader sees exactly what was sent):
//
//  invalid-flags       TCP to the guarded VIP from spoofed on-link sources (10.202.x.y)
//                      with SYN+FIN, SYN+RST, no flags, FIN+ACK or RST on tuples that have
//                      no connection; one frame in eight instead carries SYN+FIN, SYN+RST
//                      or no flags on the established flow's own tuple, in its window
//  half-open-syn       SYNs to the guarded VIP from random sources in 100.64.0.0/10 that
//                      never complete the handshake (the backends answer them, as a
//                      listening server does; the SYN-ACKs go nowhere)
//  rst-outside-window  RSTs on the established flow's tuple, both ways (client -> VIP and
//                      backend -> SNAT address), with sequence numbers just beyond the
//                      window or half the sequence space away
//  arp-strangers       ARP from made-up senders: requests for the node's address from
//                      on-link and off-link strangers, requests for other hosts,
//                      gratuitous replies, and replies and requests that claim the guarded
//                      backend's address (10.2.0.1) with a made-up MAC
//  martians            SYNs and UDP datagrams to the guarded VIP from 0.0.0.0, 127/8,
//                      multicast, 255.255.255.255, class E, the node's own address, and
//                      from a normal address behind a broadcast or multicast source MAC
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include <rte_mbuf.h>

#include "tests/bench/gen_engine.hpp"

namespace nicproxy::bench {

enum class FloodKind : uint8_t { InvalidFlags, HalfOpenSyn, RstOutsideWindow, ArpStrangers, Martians };
inline constexpr std::array kFloodKinds{FloodKind::InvalidFlags, FloodKind::HalfOpenSyn, FloodKind::RstOutsideWindow,
                                        FloodKind::ArpStrangers, FloodKind::Martians};
const char* floodKindName(FloodKind kind);
std::optional<FloodKind> floodKindFromName(std::string_view name);

class FloodMaker {
 public:
  /// The established flow is the engine's TCP flow 0 (FlowLayout::Guarded).
  FloodMaker(FloodKind kind, Engine& engine);

  /// Writes the next frame of the flood into `m`.
  void make(rte_mbuf* m);

  size_t variants() const;
  const char* variantName(size_t variant) const;
  uint64_t made(size_t variant) const { return made_[variant]; }

 private:
  void invalidFlags(rte_mbuf* m);
  void halfOpenSyn(rte_mbuf* m);
  void rstOutsideWindow(rte_mbuf* m);
  void arpStranger(rte_mbuf* m);
  void martian(rte_mbuf* m);
  uint32_t random32() { return static_cast<uint32_t>(xorshift(random_) >> 16); }
  uint16_t randomPort() { return static_cast<uint16_t>(1024 + random32() % 64512); }
  rte_ether_addr randomMac();
  FrameEnds toGuardedVip(uint32_t source);
  void count(size_t variant) { ++made_[variant]; }

  FloodKind kind_;
  Engine& engine_;
  uint64_t sequence_ = 0;
  uint64_t random_ = 0x9e3779b97f4a7c15ull;
  std::array<uint64_t, 16> made_{};
};

}  // namespace nicproxy::bench

#pragma once
// The data path the packet fuzzer drives: the dpdk tests' Harness (tests/dpdk/harness.hpp:
// two ports, the standard services, the real DpdkProvider and processBurst()), built once
// per process, plus the input format and the per-input reset that make one input's result
// depend on that input alone.
//
// Input format: records of [flags: 1 byte][length: 2 bytes, little-endian][frame], up to
// kMaxFrames. A short last record takes what is left. Consecutive frames form one burst
// (at most kBurstSize), which ends at a frame with kEndBurst, at a change of port or at
// the end of the input.
//   flags bit 0     the port the frame arrives on: 0 faces the clients, 1 the far backend
//                   (port 0 also has backends: replies from them arrive there too)
//   flags bit 1     kEndBurst: the burst ends after this frame
//   flags bit 2     kHousekeeping: after the burst, one round of the worker's chores
//   flags bits 4-7  before the burst, the clock moves on by n/8 s (timeouts, ARP, limits)
//
// Reset before every input (and the first half after it, so that a leak is blamed on the
// input that leaked): every flow is removed, the clock moves on 10 s (so that the
// reassembly table's datagrams and the reply limiter's tokens of the last input are stale),
// DPDK's random generator is seeded with a constant (SNAT ports are random), then the
// established flows below are opened again, through processBurst() like any
// traffic. The backends' MACs are permanent neighbours, so that ARP in an input cannot
// change where the next input's flows go. What still carries over: neighbour entries an
// input created for other addresses; crashes found that need them are rare and the crash
// input is still shown in full.
//
// Overreads: ASan does not see inside DPDK's mempools (one block to it), so a read past a
// frame's end into its mbuf's tailroom would go unnoticed. Received frames therefore come
// from a pool of their own, with the rest of each buffer past the frame poisoned (ASAN_POISON_MEMORY_REGION) until the mbuf is reused. The
// worker allocates its own packets from the harness's pool and never grows a received one
// (it trims or prepends), so any touch of the poison is a real overread or overwrite.
//
// The established flows, from the client 10.50.0.100 (harness.hpp):
//   TCP :40000 -> web 10.96.0.10:80   (backend 10.50.0.11:8080, port 0)
//   TCP :40001 -> far 10.96.0.50:80   (backend 10.60.0.21:9090, port 1)
//   UDP :40002 -> dns 10.96.0.10:53   (backend 10.50.0.11:5353, a reply seen)
// Their SNAT ports are fixed by the reset, so seed frames can continue them from either
// side (packet_seeds.cpp writes such seeds).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "tests/dpdk/frames.hpp"
#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/tcp_session.hpp"

namespace nicproxy::fuzzing {

inline constexpr uint8_t kPortBit = 0x01;
inline constexpr uint8_t kEndBurst = 0x02;
inline constexpr uint8_t kHousekeeping = 0x04;
inline constexpr size_t kMaxFrames = 256;
inline constexpr size_t kMaxFrameBytes = 2048;  // RTE_MBUF_DEFAULT_DATAROOM: one mbuf

inline constexpr uint16_t kWebClientPort = 40000;
inline constexpr uint16_t kFarClientPort = 40001;
inline constexpr uint16_t kDnsClientPort = 40002;

/// Starts EAL (once per process; throws when it fails).
void startEal(const char* programName);

/// One record of the input format above.
void appendRecord(testing::Bytes& input, uint8_t flags, const testing::Bytes& frame);

class PacketWorld {
 public:
  PacketWorld();  // needs EAL
  ~PacketWorld();
  PacketWorld(const PacketWorld&) = delete;
  PacketWorld& operator=(const PacketWorld&) = delete;
  /// The reset above; throws std::runtime_error when the established flows do not open.
  void reset();
  /// The first half of reset(): removes every flow and moves the clock on 10 s, then
  /// throws std::logic_error if an mbuf is still in use (leaked by the last input).
  void settle();
  /// Runs one input (after reset()).
  void feed(const uint8_t* data, size_t size);

  testing::Harness& harness() { return *harness_; }
  testing::TcpSession& web() { return *web_; }
  testing::TcpSession& far() { return *far_; }
  /// The dns flow's SNAT address and port, as the backend replies to them.
  uint32_t dnsSnatIp() const { return dnsSnatIp_; }
  uint16_t dnsSnatPort() const { return dnsSnatPort_; }

 private:
  void openFlows();
  void runBurst(std::vector<rte_mbuf*>& burst, uint16_t port, uint8_t lastFlags);

  rte_mbuf* receivedFrame(const uint8_t* data, size_t length);

  std::unique_ptr<testing::Harness> harness_;
  rte_mempool* rxPool_ = nullptr;  // the received frames, poisoned past their end
  std::optional<testing::TcpSession> web_, far_;
  uint32_t dnsSnatIp_ = 0;
  uint16_t dnsSnatPort_ = 0;
};

/// A UDP reply from the dns backend to the established dns flow.
testing::UdpFrame dnsReply(const PacketWorld& world);

}  // namespace nicproxy::fuzzing

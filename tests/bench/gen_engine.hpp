#pragma once
// nicproxy-gen's engine: plays every client and every backend on one memif port, on one
// lcore. It sends the clients' traffic when asked, and answers what arrives as the
// hosts it plays would:
//
//  - a backend answers a request (UDP, or a TCP data segment) with an answer of the same
//    length, a SYN with a SYN-ACK, and ignores RSTs and stray segments (counting them);
//  - a client counts answers, answers a SYN-ACK with the handshake's ACK, and counts
//    whatever else reaches it (replies to a flood's spoofed sources, RSTs, ICMP);
//  - ARP requests for the addresses it plays are answered with its MAC.
//
// A frame with a bad IP or L4 checksum is counted and dropped, as a host would; so is a
// frame of the measured traffic addressed to another MAC (a real NIC would not take it).
// Measured frames carry a GenMarker (flow, trial) so that counts are kept per trial
// without a lookup; TCP initial sequence numbers carry the flow too (kClientIsnTag).
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include "tests/bench/gen_plan.hpp"
#include "tests/bench/gen_port.hpp"
#include "tests/bench/traffic.hpp"

namespace nicproxy::bench {

/// Which addresses flow f uses.
enum class FlowLayout : uint8_t {
  Bench,    // clients 10.200.x.y to the bench services (GenPlan::client, serviceOf)
  Guarded,  // flow 0: the established flow 10.201.0.1:40000; flow n: probe 10.201.0.2:10000+n; to the guarded VIP
};

struct GenOptions {
  GenPlan plan;
  rte_ether_addr dutMac{{0x02, 0, 0, 0, 0, 0x01}};
  bool promiscuous = false;      // take frames to any MAC (the io-forward DUT returns them unchanged)
  bool verifyChecksums = true;
  bool answerFloodSyns = true;   // backends answer every SYN, as a listening server would
  uint16_t frameSize = 64;       // UDP frames, FCS included
  uint16_t tcpPayload = 8;       // payload bytes per TCP data segment (at least the marker)
  FlowLayout layout = FlowLayout::Bench;
  uint64_t flows = 1000;
};

/// What arrived (and how it was judged) during one trial.
struct RxCounts {
  uint64_t requestsAtBackend = 0;  // measured requests that reached a backend
  uint64_t answersAtClient = 0;    // their answers back at the client, correctly addressed
  uint64_t wrongAnswers = 0;       // answers with the wrong addresses or ports
  uint64_t synsAtBackend = 0;      // handshakes of the measured flows
  uint64_t synAcksAtClient = 0;
  uint64_t acksAtBackend = 0;
  uint64_t floodAtBackend = 0;       // flood frames the DUT passed on to a backend
  uint64_t floodRepliesAtClient = 0; // frames to a flood's sources (SYN-ACKs, RSTs, answers)
  uint64_t rstAtBackend = 0;
  uint64_t rstAtClient = 0;
  uint64_t icmp = 0;
  uint64_t arpAnswered = 0;        // ARP requests for addresses the generator plays
  uint64_t arpReplies = 0;         // ARP replies (the DUT's answers)
  uint64_t arpOther = 0;
  uint64_t toOtherMacs = 0;        // frames addressed to a MAC that is not the generator's
  uint64_t toBroadcastMac = 0;     // IPv4 frames to a broadcast or multicast MAC
  uint64_t misaddressed = 0;       // measured frames to another MAC: lost
  uint64_t badChecksum = 0;
  uint64_t other = 0;
  uint64_t total = 0;
};

/// A TCP connection as both of its ends (played by the generator) see it.
struct TcpFlow {
  uint32_t clientNext = 0;   // the client's next sequence number
  uint32_t clientAck = 0;    // what the client acknowledges (the backend's next)
  uint32_t backendNext = 0;  // the backend's next sequence number
  uint32_t snatAddress = 0;  // seen by the backend: nicproxy's SNAT end (host order)
  uint16_t snatPort = 0;
  uint32_t backendAddress = 0;
  uint16_t backendPort = 0;
  bool synSeen = false;      // the backend saw the SYN
  bool established = false;  // the client saw the SYN-ACK
};

/// Initial sequence numbers name their flow in the low 24 bits.
inline constexpr uint32_t kClientIsnTag = 0x4e000000;
inline constexpr uint32_t kBackendIsnTag = 0xb5000000;
inline constexpr uint32_t kMaxTcpFlows = 1u << 24;

class Engine {
 public:
  Engine(GenPort& port, const GenOptions& options);

  const GenOptions& options() const { return options_; }
  GenPort& port() { return port_; }
  uint64_t hz() const { return hz_; }

  /// Counts from now on go to `trial` (measured frames are counted by their marker).
  void setTrial(uint8_t trial) { trial_ = trial; }
  uint8_t trial() const { return trial_; }
  const RxCounts& counts(uint8_t trial) const { return counts_[trial]; }
  /// Frames queued (offered to the DUT) and refused by the full ring, per trial.
  uint64_t sent(uint8_t trial, TxKind kind) const { return port_.sent(trial, kind); }
  uint64_t refused(uint8_t trial, TxKind kind) const { return port_.refused(trial, kind); }

  /// Receives and answers what is waiting, then flushes. Returns the frames received.
  unsigned poll();
  /// poll() for `cycles` TSC cycles.
  void pollFor(uint64_t cycles);

  /// The client -> VIP ends of flow f.
  FrameEnds clientEnds(uint64_t flow) const;
  std::vector<TcpFlow>& tcpFlows() { return tcp_; }

  /// Queue frames of the measured traffic for `flow` (allocation failures are counted
  /// in poolEmpty()).
  void sendUdpRequest(uint64_t flow);
  void sendSyn(uint64_t flow);
  void sendTcpData(uint64_t flow);
  /// Queues `m` under `kind` for this trial.
  void send(rte_mbuf* m, TxKind kind) { send(m, kind, trial_); }
  rte_mbuf* allocate();
  uint64_t poolEmpty() const { return poolEmpty_; }

 private:
  struct Parsed;
  void send(rte_mbuf* m, TxKind kind, uint8_t trial) { port_.send(m, kind, trial); }
  void handle(rte_mbuf* m);
  bool handleMarked(rte_mbuf* m, Parsed& p);
  void handleTcp(rte_mbuf* m, Parsed& p);
  void handleArp(rte_mbuf* m, rte_ether_hdr* eth);
  bool answerIsRight(const Parsed& p, uint64_t flow) const;
  bool backendSide(uint32_t destination) const;
  bool plays(uint32_t address) const { return options_.plan.isBackend(address) || options_.plan.isClient(address); }

  GenPort& port_;
  GenOptions options_;
  uint64_t hz_;
  uint8_t trial_ = 0;
  std::vector<TcpFlow> tcp_;
  std::vector<RxCounts> counts_;  // per trial (256)
  uint64_t poolEmpty_ = 0;
  uint64_t random_ = 0x2545f4914f6cdd1dull;
};

/// Spreads `rate` frames per second over time: how many are due now. Rate 0: no limit.
/// A generator that falls more than a millisecond (at least 64 frames) behind skips the
/// excess instead of bursting it, and counts it: the trial then did not offer its rate.
class Pacer {
 public:
  Pacer(double rate, uint64_t hz, uint64_t start) : rate_(rate), hz_(hz), start_(start) {
    limit_ = rate > 0 ? std::max<uint64_t>(64, static_cast<uint64_t>(rate / 1000)) : 0;
  }
  uint32_t due(uint64_t now, uint32_t most) {
    if (rate_ <= 0) return most;
    const auto target = static_cast<uint64_t>(static_cast<double>(now - start_) * rate_ / static_cast<double>(hz_));
    if (target <= accounted_) return 0;
    uint64_t backlog = target - accounted_;
    if (backlog > limit_) {
      skipped_ += backlog - limit_;
      accounted_ += backlog - limit_;
      backlog = limit_;
    }
    return static_cast<uint32_t>(std::min<uint64_t>(backlog, most));
  }
  void sent(uint32_t n) {
    accounted_ += n;
    sent_ += n;
  }
  uint64_t sentCount() const { return sent_; }
  uint64_t skipped() const { return skipped_; }

 private:
  double rate_;
  uint64_t hz_, start_;
  uint64_t limit_ = 0;
  uint64_t accounted_ = 0, sent_ = 0, skipped_ = 0;
};

}  // namespace nicproxy::bench

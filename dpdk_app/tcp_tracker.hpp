#pragma once
// TCP connection tracking on the fast path, with the behaviour of Linux conntrack
// (net/netfilter/nf_conntrack_proto_tcp.c; our own code): which flag combinations are
// valid, which state a segment moves a connection to, and whether it lies inside the
// sequence window the two sides have opened to each other.
//
// nicproxy's case is narrower than conntrack's: every tracked connection starts with the
// client's SYN passing through nicproxy (a segment of an unknown connection that is not a
// SYN is dropped, there is no pick-up in the middle), the client is the forward direction
// and the backend the reverse one, and nobody opens simultaneously. So a backend's bare SYN
// and a client's SYN-ACK are invalid here.
//
// The FIN states are kept from who sent a FIN and whether the other side acknowledged it
// (FlowEntry::finSeen), rather than from conntrack's table, which moves FIN_WAIT to LAST_ACK
// on any second FIN, a retransmission included.
//
// Per packet on the owning worker: never blocks, allocates, throws or logs.
#include <cstdint>

#include <rte_byteorder.h>
#include <rte_tcp.h>

#include "dpdk_app/flow_table.hpp"
#include "dpdk_app/packet.hpp"

namespace nicproxy {

/// True for the flag combinations TCP stacks send (conntrack's tcp_valid_flags): SYN,
/// SYN-ACK, RST, RST-ACK, FIN-ACK and ACK, each also with URG; PSH, ECE and CWR do not
/// matter. SYN+FIN, SYN+RST, no flags at all, or a FIN without ACK are not.
inline bool tcpFlagsValid(uint8_t flags) {
  constexpr uint8_t kFin = RTE_TCP_FIN_FLAG, kSyn = RTE_TCP_SYN_FLAG, kRst = RTE_TCP_RST_FLAG,
                    kAck = RTE_TCP_ACK_FLAG, kUrg = RTE_TCP_URG_FLAG;
  constexpr uint8_t kMask = kFin | kSyn | kRst | kAck | kUrg;  // 0x37: an index below 64
  constexpr uint64_t kValid = (uint64_t{1} << kSyn) | (uint64_t{1} << (kSyn | kUrg)) |
                              (uint64_t{1} << (kSyn | kAck)) | (uint64_t{1} << kRst) |
                              (uint64_t{1} << (kRst | kAck)) | (uint64_t{1} << (kFin | kAck)) |
                              (uint64_t{1} << (kFin | kAck | kUrg)) | (uint64_t{1} << kAck) |
                              (uint64_t{1} << (kAck | kUrg));
  return ((kValid >> (flags & kMask)) & 1) != 0;
}

/// What trackTcp decided about a segment.
enum class TcpVerdict : uint8_t {
  Accept,        // forward it; the state and windows took it into account
  Ignore,        // forward it, but it changed nothing (a retransmitted SYN, say)
  InvalidState,  // drop: the connection's state does not allow it (an ACK before the SYN-ACK...)
  OutOfWindow,   // drop: its sequence or acknowledgement number lies outside the window
};

/// A bare SYN from the client on a connection that is over (TIME_WAIT, CLOSE): the client
/// reuses its port for a new connection, which the caller starts afresh (conntrack does the
/// same: it kills the old entry and looks the packet up again).
inline bool reopensConnection(const FlowEntry& e, uint8_t flags, FlowDirection direction) {
  return direction == FlowDirection::Forward &&
         (flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) == RTE_TCP_SYN_FLAG &&
         (e.tcpState == TcpState::TimeWait || e.tcpState == TcpState::Close);
}

namespace tcp_detail {

// Sequence number comparisons modulo 2^32 (RFC 1982), as the kernel's before()/after().
inline bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool after(uint32_t a, uint32_t b) { return before(b, a); }

// conntrack's MAXACKWINDOW: how far back an acknowledgement may lag.
constexpr uint32_t kMinAckWindow = 66000;

// FlowEntry::finSeen bits: which side sent a FIN, and whether the other side acknowledged it.
constexpr uint8_t kFinFrom[2] = {1, 2};
constexpr uint8_t kFinAcked[2] = {4, 8};

/// The window scale option of a SYN (RFC 7323), if present; the shift is capped at 14.
inline bool windowScaleOption(const ParsedFrame& f, uint8_t& scale) {
  const rte_tcp_hdr* tcp = tcpHeader(f);
  const uint32_t length = static_cast<uint32_t>(tcp->data_off >> 4) * 4;  // parseFrame checked it
  const auto* option = reinterpret_cast<const uint8_t*>(tcp + 1);
  const uint8_t* end = reinterpret_cast<const uint8_t*>(tcp) + length;
  while (option < end) {
    const uint8_t kind = option[0];
    if (kind == 0) break;  // end of options
    if (kind == 1) {       // no-op
      ++option;
      continue;
    }
    if (end - option < 2 || option[1] < 2 || option[1] > end - option) break;  // malformed: stop reading
    if (kind == 3 && option[1] == 3) {
      scale = option[2] > 14 ? 14 : option[2];
      return true;
    }
    option += option[1];
  }
  return false;
}

/// A side's first SYN (or a SYN with a new initial sequence number) sets its window state.
inline void initialisePeer(TcpPeer& sender, uint8_t& senderBits, const TcpPeer& receiver, uint8_t& receiverBits,
                           const ParsedFrame& f, uint32_t end, uint16_t window) {
  sender = TcpPeer{};
  sender.end = end;
  sender.maxEnd = end;
  sender.maxWindow = window == 0 ? 1 : window;
  senderBits = 0;
  uint8_t scale = 0;
  if (windowScaleOption(f, scale)) senderBits = static_cast<uint8_t>(scale | kTcpWindowScaleSeen);
  // RFC 7323: windows are scaled only when both SYNs carried the option; decided at the
  // second SYN (the SYN-ACK), when both are known.
  if (receiver.maxWindow != 0 && (senderBits & receiverBits & kTcpWindowScaleSeen) == 0) {
    senderBits &= static_cast<uint8_t>(~kTcpScaleMask);
    receiverBits &= static_cast<uint8_t>(~kTcpScaleMask);
  }
}

/// conntrack's tcp_in_window(): checks the segment against the windows and, when it fits,
/// moves them on. `bits`: the entry's tcpPeerBits.
inline bool inWindow(TcpWindow& w, uint8_t* bits, const ParsedFrame& f, FlowDirection direction, TcpState state) {
  const rte_tcp_hdr* tcp = tcpHeader(f);
  const uint8_t flags = tcp->tcp_flags;
  const int d = direction == FlowDirection::Forward ? 0 : 1;
  TcpPeer& sender = w.peer[d];
  TcpPeer& receiver = w.peer[1 - d];
  uint32_t seq = rte_be_to_cpu_32(tcp->sent_seq);
  uint32_t ack = rte_be_to_cpu_32(tcp->recv_ack);
  uint32_t window = rte_be_to_cpu_16(tcp->rx_win);
  const uint32_t headerLength = static_cast<uint32_t>(tcp->data_off >> 4) * 4;
  uint32_t end = seq + (f.l4Length - headerLength) + ((flags & RTE_TCP_SYN_FLAG) ? 1 : 0) +
                 ((flags & RTE_TCP_FIN_FLAG) ? 1 : 0);
  const bool syn = (flags & RTE_TCP_SYN_FLAG) != 0;

  if (sender.maxWindow == 0) {
    // The side's first segment must be its SYN (trackTcp sees to that).
    initialisePeer(sender, bits[d], receiver, bits[1 - d], f, end, static_cast<uint16_t>(window));
    if ((flags & RTE_TCP_ACK_FLAG) == 0) return true;  // the client's SYN: nothing to check against yet
  } else if (syn && ((state == TcpState::SynSent && d == 0) || (state == TcpState::SynRecv && d == 1)) &&
             after(end, sender.end)) {
    // A SYN again with a higher initial sequence number: the side restarted (RFC 793).
    initialisePeer(sender, bits[d], receiver, bits[1 - d], f, end, static_cast<uint16_t>(window));
  }
  if ((flags & RTE_TCP_ACK_FLAG) == 0 ||
      ((flags & (RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG)) == (RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG) && ack == 0)) {
    // No acknowledgement (or a broken stack's RST-ACK with ack 0): take it as acknowledging
    // everything, as conntrack does.
    ack = receiver.end;
  }
  const uint32_t maxAckWindow = sender.maxWindow > kMinAckWindow ? sender.maxWindow : kMinAckWindow;
  const bool inReceiveWindow = receiver.maxWindow == 0 || after(end, sender.end - receiver.maxWindow - 1);
  const bool fits = before(seq, sender.maxEnd + 1) && inReceiveWindow && before(ack, receiver.end + 1) &&
                    after(ack, receiver.end - maxAckWindow - 1);
  if (!fits) return false;

  if (!syn) window <<= (bits[d] & kTcpScaleMask);
  if (sender.maxWindow < window) sender.maxWindow = window;
  if (after(end, sender.end)) sender.end = end;
  if ((flags & RTE_TCP_ACK_FLAG) != 0) {
    if ((bits[d] & kTcpMaxAckSet) == 0 || after(ack, sender.maxAck)) sender.maxAck = ack;
    bits[d] |= kTcpMaxAckSet;
  }
  if (receiver.maxWindow != 0 && after(end, sender.maxEnd)) receiver.maxWindow += end - sender.maxEnd;
  // conntrack's after(ack + window, maxEnd - 1), without storing the same value again (a
  // store dirties the line, which then costs a write back).
  const uint32_t grantedEnd = ack + window + (window == 0 ? 1 : 0);
  if (after(grantedEnd, receiver.maxEnd)) receiver.maxEnd = grantedEnd;
  return true;
}

/// The state after a FIN or an ACK on a connection that is established or closing.
inline TcpState closingState(uint8_t finSeen) {
  const bool clientFin = (finSeen & kFinFrom[0]) != 0;
  const bool backendFin = (finSeen & kFinFrom[1]) != 0;
  if (clientFin && backendFin) {
    return (finSeen & (kFinAcked[0] | kFinAcked[1])) == (kFinAcked[0] | kFinAcked[1]) ? TcpState::TimeWait
                                                                                          : TcpState::LastAck;
  }
  if (clientFin) return (finSeen & kFinAcked[0]) != 0 ? TcpState::CloseWait : TcpState::FinWait;
  if (backendFin) return (finSeen & kFinAcked[1]) != 0 ? TcpState::CloseWait : TcpState::FinWait;
  return TcpState::Established;
}

/// inWindow() for the segment most packets are: ACK set, no SYN, FIN or RST, both sides'
/// windows known (an established connection). The same checks and updates with the
/// branches that cannot apply left out.
[[gnu::always_inline]] inline bool inEstablishedWindow(TcpWindow& w, const uint8_t* bits, const ParsedFrame& f, int d) {
  const rte_tcp_hdr* tcp = tcpHeader(f);
  TcpPeer& sender = w.peer[d];
  TcpPeer& receiver = w.peer[1 - d];
  const uint32_t seq = rte_be_to_cpu_32(tcp->sent_seq);
  const uint32_t ack = rte_be_to_cpu_32(tcp->recv_ack);
  const uint32_t window = static_cast<uint32_t>(rte_be_to_cpu_16(tcp->rx_win)) << (bits[d] & kTcpScaleMask);
  const uint32_t end = seq + (f.l4Length - static_cast<uint32_t>(tcp->data_off >> 4) * 4);
  const uint32_t maxAckWindow = sender.maxWindow > kMinAckWindow ? sender.maxWindow : kMinAckWindow;
  if (!before(seq, sender.maxEnd + 1) || !after(end, sender.end - receiver.maxWindow - 1) ||
      !before(ack, receiver.end + 1) || !after(ack, receiver.end - maxAckWindow - 1)) {
    return false;
  }
  if (sender.maxWindow < window) sender.maxWindow = window;
  if (after(end, sender.end)) sender.end = end;
  if (after(ack, sender.maxAck)) sender.maxAck = ack;  // kTcpMaxAckSet since the handshake's ACKs
  if (after(end, sender.maxEnd)) receiver.maxWindow += end - sender.maxEnd;
  // conntrack's after(ack + window, maxEnd - 1), without storing the same value again (a
  // store dirties the line, which then costs a write back).
  const uint32_t grantedEnd = ack + window + (window == 0 ? 1 : 0);
  if (after(grantedEnd, receiver.maxEnd)) receiver.maxEnd = grantedEnd;
  return true;
}

}  // namespace tcp_detail

TcpVerdict trackTcpSegment(FlowEntry& e, TcpWindow& w, const ParsedFrame& f, FlowDirection direction, bool liberal);

/// Tracks one segment of connection `e` (flags already checked with tcpFlagsValid).
/// `direction` Forward: from the client. On Accept the state and windows have moved on;
/// the caller then sets the expiry. `liberal` (conntrack.tcpBeLiberal): a segment outside
/// the window is forwarded as Ignore, except a RST or FIN, which is always dropped.
[[gnu::always_inline]] inline TcpVerdict trackTcp(FlowEntry& e, TcpWindow& w, const ParsedFrame& f,
                                                  FlowDirection direction, bool liberal) {
  // Nearly every packet: data or an ACK on an established connection, which stays
  // established. Checked here, inline; everything else in trackTcpSegment().
  constexpr uint8_t kKind = RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG;
  if (e.tcpState == TcpState::Established && (tcpHeader(f)->tcp_flags & kKind) == RTE_TCP_ACK_FLAG) {
    if (tcp_detail::inEstablishedWindow(w, e.tcpPeerBits, f, direction == FlowDirection::Forward ? 0 : 1)) {
      return TcpVerdict::Accept;
    }
    return liberal ? TcpVerdict::Ignore : TcpVerdict::OutOfWindow;
  }
  return trackTcpSegment(e, w, f, direction, liberal);
}

}  // namespace nicproxy

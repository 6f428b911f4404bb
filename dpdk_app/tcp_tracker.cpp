// trackTcp() for every segment but the established connection's plain ACK (inline in
// tcp_tracker.hpp): the handshake, the close, RSTs and the window checks in full.
#include "dpdk_app/tcp_tracker.hpp"

namespace nicproxy {

TcpVerdict trackTcpSegment(FlowEntry& e, TcpWindow& w, const ParsedFrame& f, FlowDirection direction,
                           bool liberal) {
  using namespace tcp_detail;
  const rte_tcp_hdr* tcp = tcpHeader(f);
  const uint8_t flags = tcp->tcp_flags;
  const int d = direction == FlowDirection::Forward ? 0 : 1;
  const bool syn = (flags & RTE_TCP_SYN_FLAG) != 0;
  const bool ack = (flags & RTE_TCP_ACK_FLAG) != 0;
  const bool rst = (flags & RTE_TCP_RST_FLAG) != 0;
  const bool fin = (flags & RTE_TCP_FIN_FLAG) != 0;
  const TcpState state = e.tcpState;

  // Segments whose kind the state rules out, before any window is touched.
  if (syn && !ack) {
    if (d == 1) return TcpVerdict::InvalidState;  // a backend never opens towards a client
    if (state != TcpState::None && state != TcpState::SynSent) return TcpVerdict::Ignore;
  } else if (syn) {  // SYN-ACK
    if (d == 0) return TcpVerdict::InvalidState;
    if (state != TcpState::SynSent) return TcpVerdict::Ignore;  // a retransmitted one
  } else if (state == TcpState::None) {
    return TcpVerdict::InvalidState;  // a connection starts with the client's SYN
  } else if (state == TcpState::SynSent) {
    // The client cannot ACK or FIN before the SYN-ACK; it may abort with a RST (checked
    // against its window below).
    if (d == 0 && !rst) return TcpVerdict::InvalidState;
    // The backend has not sent its SYN yet, so its window is unknown: only a RST refusing
    // the client's SYN (acknowledging exactly it) is taken; a bare ACK passes untracked,
    // as conntrack lets it (a challenge ACK from a stale connection on the backend).
    if (d == 1 && rst) {
      if (!ack || rte_be_to_cpu_32(tcp->recv_ack) != w.peer[0].end) return TcpVerdict::OutOfWindow;
      e.tcpState = TcpState::Close;
      return TcpVerdict::Accept;
    }
    if (d == 1) return fin ? TcpVerdict::InvalidState : TcpVerdict::Ignore;
  }

  if (!inWindow(w, e.tcpPeerBits, f, direction, state)) {
    return liberal && !rst && !fin ? TcpVerdict::Ignore : TcpVerdict::OutOfWindow;
  }
  if (rst) {
    // conntrack's "invalid rst": older than what the receiver has already acknowledged.
    const TcpPeer& receiver = w.peer[1 - d];
    if ((e.tcpPeerBits[1 - d] & kTcpMaxAckSet) != 0 && before(rte_be_to_cpu_32(tcp->sent_seq), receiver.maxAck)) {
      return TcpVerdict::OutOfWindow;
    }
    e.tcpState = TcpState::Close;
    return TcpVerdict::Accept;
  }
  switch (state) {
    case TcpState::None:
      e.tcpState = TcpState::SynSent;  // the client's SYN
      return TcpVerdict::Accept;
    case TcpState::SynSent:
      e.tcpState = syn ? (d == 0 ? TcpState::SynSent : TcpState::SynRecv) : state;
      return TcpVerdict::Accept;
    case TcpState::SynRecv:
      if (fin) {
        e.finSeen |= kFinFrom[d];
        e.tcpState = TcpState::FinWait;
      } else if (d == 0) {
        e.tcpState = TcpState::Established;  // the client's ACK completes the handshake
      }
      return TcpVerdict::Accept;
    case TcpState::Close:
      return TcpVerdict::Accept;  // late segments of a reset connection
    default:
      break;
  }
  // Established or closing: a FIN-ACK or ACK may acknowledge the other side's FIN (its end
  // counts the FIN), and a FIN marks this side's.
  const int other = 1 - d;
  if (ack && (e.finSeen & kFinFrom[other]) != 0 && !before(rte_be_to_cpu_32(tcp->recv_ack), w.peer[other].end)) {
    e.finSeen |= kFinAcked[other];
  }
  if (fin) e.finSeen |= kFinFrom[d];
  e.tcpState = closingState(e.finSeen);
  return TcpVerdict::Accept;
}

}  // namespace nicproxy

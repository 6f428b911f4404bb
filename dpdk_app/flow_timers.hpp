#pragma once
// A flow's expiry: how long a connection lives without another packet, by protocol and,
// for TCP, by conntrack state (tcp_tracker.hpp moves the state). Per packet on the owning
// worker (same rules as worker.hpp: never blocks, allocates or logs).
#include <cstdint>

#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/flow_table.hpp"

namespace nicproxy {

/// How long a TCP flow in `state` lives without another packet.
inline uint64_t tcpTimeout(const Timeouts& t, TcpState state) {
  switch (state) {
    case TcpState::SynRecv: return t.tcpSynRecv;
    case TcpState::Established: return t.tcpEstablished;
    case TcpState::FinWait: return t.tcpFinWait;
    case TcpState::CloseWait: return t.tcpCloseWait;
    case TcpState::LastAck: return t.tcpLastAck;
    case TcpState::TimeWait: return t.tcpTimeWait;
    case TcpState::Close: return t.tcpClose;
    case TcpState::None:
    case TcpState::SynSent: break;
  }
  return t.tcpSynSent;
}

/// A UDP packet in `direction`: a reply moves the flow to the stream timeout for good.
inline void touchUdp(const Timeouts& t, FlowEntry& e, FlowDirection direction, uint64_t now) {
  if (direction == FlowDirection::Reverse) e.sawReply = true;
  e.expiresAt = now + (e.sawReply ? t.udpStream : t.udp);
}

}  // namespace nicproxy

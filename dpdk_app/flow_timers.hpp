#pragma once
// A flow's timers: the TCP state a packet moves it to, and when it expires. Per packet
// on the owning worker (same rules as worker.hpp: never blocks, allocates or logs).
#include <cstdint>

#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_tcp.h>

#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/flow_table.hpp"
#include "dpdk_app/packet.hpp"

namespace nicproxy {

/// How long a TCP flow in its current state lives without another packet.
inline uint64_t tcpTimeout(const Timeouts& t, const FlowEntry& e) {
  switch (e.tcpState) {
    case TcpState::Established: return t.tcpEstablished;
    case TcpState::FinWait: return e.finSeen == 3 && t.tcpTimeWait < t.tcpClosing ? t.tcpTimeWait : t.tcpClosing;
    case TcpState::Close: return t.tcpClosed;
    default: return t.tcpSynSent;
  }
}

/// Advances the TCP state from one packet's flags and sets the entry's expiry.
inline void touchFlow(const Timeouts& t, FlowEntry& e, TcpWindow& w, const ParsedFrame& f, FlowDirection direction,
                      uint64_t now) {
  if (f.protocol != IPPROTO_TCP) {
    if (direction == FlowDirection::Reverse) e.sawReply = true;
    e.expiresAt = now + (e.sawReply ? t.udpStream : t.udp);
    return;
  }
  const rte_tcp_hdr* tcp = tcpHeader(f);
  const uint8_t flags = tcp->tcp_flags;
  if (direction == FlowDirection::Reverse) {
    // What the client will expect next from the frontend: a RST it accepts needs it.
    const uint32_t headerLength = static_cast<uint32_t>(tcp->data_off >> 4) * 4;
    uint32_t length = f.l4Length > headerLength ? f.l4Length - headerLength : 0;
    if (flags & RTE_TCP_SYN_FLAG) ++length;
    if (flags & RTE_TCP_FIN_FLAG) ++length;
    w.peer[1].end = rte_be_to_cpu_32(tcp->sent_seq) + length;
    e.sawReply = true;
  }
  if (flags & RTE_TCP_RST_FLAG) {
    e.tcpState = TcpState::Close;
  } else if ((flags & RTE_TCP_FIN_FLAG) && e.tcpState != TcpState::Close) {
    e.tcpState = TcpState::FinWait;
    e.finSeen |= direction == FlowDirection::Forward ? 1 : 2;
  } else if (e.tcpState == TcpState::SynSent && direction == FlowDirection::Reverse &&
             (flags & RTE_TCP_ACK_FLAG)) {
    e.tcpState = TcpState::Established;
  }
  e.expiresAt = now + tcpTimeout(t, e);
}

}  // namespace nicproxy

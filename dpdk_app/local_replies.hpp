#pragma once
// Frames the node answers or originates itself, rather than translating: ARP
// (answers, requests), ICMP echo, and the REJECT replies for service ports
// without endpoints. Called from the worker's burst loop; same rules as worker.hpp
// (per-lcore, never blocks, allocates only mbufs from the worker's pool). Every reply
// but ARP takes a token from the worker's ReplyLimiter at ctx.now (reply_limiter.hpp);
// without one it is not sent and the packet that asked for it is dropped as
// ReplyRateLimited.
#include <cstdint>

#include "dpdk_app/packet.hpp"
#include "dpdk_app/service_table.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

/// Broadcasts "who has `target`" on port index `port`.
void sendArpRequest(WorkerContext& ctx, uint16_t port, rte_be32_t target);

/// Turns the ARP request in `f` into port `port`'s answer that it holds `target`, in place
/// (both the ARP and the Ethernet header), and counts it. The caller sends it.
void answerArpInPlace(WorkerContext& ctx, uint16_t port, const ParsedFrame& f);

/// Tells the neighbour table what the sender said (hearArpSender: learns only answers
/// to our own requests) and answers requests for the port address and for external / LB
/// IPs in the port's subnet that no other host answers for (arpTargetOf).
void handleArp(WorkerContext& ctx, const FastServiceTable* services, uint16_t port, rte_mbuf* m,
               const ParsedFrame& f, uint64_t now);

/// Answers an ICMP echo request to one of our addresses in place; drops other ICMP
/// (errors go to handleIcmpError(), icmp_errors.hpp).
void handleIcmp(WorkerContext& ctx, uint16_t port, rte_mbuf* m, const ParsedFrame& f, bool toLocalAddress);

/// kube-proxy's REJECT for TCP: a RST in place (never for a RST).
void rejectTcp(WorkerContext& ctx, uint16_t port, rte_mbuf* m, const ParsedFrame& f);

/// A RST from the frontend to the client of connection `e` (whose endpoint went away),
/// with `sequence`, the sequence number the client expects next (host order), so that
/// it accepts it (RFC 5961).
void sendResetToClient(WorkerContext& ctx, const FlowEntry& e, uint32_t sequence);

/// kube-proxy's REJECT for UDP: ICMP port unreachable quoting the datagram.
void rejectUdp(WorkerContext& ctx, uint16_t port, rte_mbuf* m, const ParsedFrame& f);

}  // namespace nicproxy

// rte_ip_frag_table_del_expired_entries() is still experimental in DPDK 22.11; this is
// the one file that may call experimental API, so the switch is set here, before any
// DPDK header, rather than for the whole library.
#define ALLOW_EXPERIMENTAL_API 1

#include "dpdk_app/fragments.hpp"

#include <cerrno>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>

namespace nicproxy {

namespace {

// Each datagram's key hashes to two buckets of this many entries; with as many buckets as
// datagrams allowed, the table is a quarter full at most and a bucket pair is hardly
// ever full before the table is.
constexpr uint32_t kBucketEntries = 4;
// Enough for a 65535-byte datagram down to a 1280-byte MTU (IPv6's minimum, common for
// tunnels); a datagram that needs more is dropped (fragmentation_failed).
constexpr uint16_t kMaxFragmentsOut = 64;
// Rounds of expiry per call: each frees what fits on the death row (36 datagrams of 8
// fragments at least).
constexpr uint32_t kExpiryRounds = 8;

/// Counts every fragment on the death row under `reason` and frees them. A datagram the
/// library dropped halfway through chaining is one chained entry; nb_segs counts its
/// fragments.
void freeDeathRow(WorkerContext& ctx, rte_ip_frag_death_row& row, DropReason reason) {
  for (uint32_t i = 0; i < row.cnt; ++i) ctx.counters.drops[static_cast<size_t>(reason)] += row.row[i]->nb_segs;
  rte_ip_frag_free_death_row(&row, 0);
}

/// The checks rte_ip_frag leaves to its caller, and RFC 1858's. The library frees a
/// fragment without payload without saying why, and in 22.11 builds a datagram whose
/// total length wraps past 65535 from fragments that end there; tiny and overlapping
/// first fragments would let the TCP or UDP header differ between what a filter saw and
/// what the backend gets.
bool acceptable(const rte_mbuf* m, const ParsedFrame& f, DropReason& reason) {
  if (f.protocol != IPPROTO_TCP && f.protocol != IPPROTO_UDP) {
    reason = DropReason::IpFragment;
    return false;
  }
  const uint16_t field = rte_be_to_cpu_16(f.ip->fragment_offset);
  const uint32_t offset = static_cast<uint32_t>(field & RTE_IPV4_HDR_OFFSET_MASK) * RTE_IPV4_HDR_OFFSET_UNITS;
  const bool more = (field & RTE_IPV4_HDR_MF_FLAG) != 0;
  const uint32_t headerLength = rte_ipv4_hdr_len(f.ip);
  if (f.l4Length == 0 || (more && f.l4Length % RTE_IPV4_HDR_OFFSET_UNITS != 0) ||
      headerLength + offset + f.l4Length > UINT16_MAX) {
    reason = DropReason::FragmentMalformed;
    return false;
  }
  const uint32_t minimum = f.protocol == IPPROTO_TCP ? sizeof(rte_tcp_hdr) : sizeof(rte_udp_hdr);
  if (offset != 0) {
    if (offset < minimum) {
      reason = DropReason::FragmentHeaderOverlap;
      return false;
    }
    return true;
  }
  // The first fragment holds the whole L4 header (TCP options included), in its first
  // segment, where the rest of the path reads it.
  const auto* start = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t inHead = static_cast<uint32_t>(rte_pktmbuf_data_len(m) - (f.l4 - start));
  uint32_t needed = minimum;
  if (f.protocol == IPPROTO_TCP && f.l4Length >= minimum && inHead >= minimum) {
    const uint32_t tcpHeaderLength = static_cast<uint32_t>(tcpHeader(f)->data_off >> 4) * 4;
    if (tcpHeaderLength > needed) needed = tcpHeaderLength;
  }
  if (f.l4Length < needed || inHead < needed) {
    reason = DropReason::FragmentTiny;
    return false;
  }
  return true;
}

}  // namespace

ReassemblyTable::ReassemblyTable(uint32_t maxDatagrams, uint64_t timeoutCycles, int socket)
    : table_(rte_ip_frag_table_create(maxDatagrams, kBucketEntries, maxDatagrams, timeoutCycles, socket)) {}

ReassemblyTable::~ReassemblyTable() {
  rte_ip_frag_free_death_row(&deathRow_, 0);
  if (table_ != nullptr) rte_ip_frag_table_destroy(table_);  // frees the fragments it holds
}

void expireFragments(WorkerContext& ctx, uint64_t now) {
  if (ctx.reassembly == nullptr) return;
  ReassemblyTable& r = *ctx.reassembly;
  // Each call stops when the death row has no room for the next datagram.
  for (uint32_t round = 0; round < kExpiryRounds; ++round) {
    rte_ip_frag_table_del_expired_entries(r.table(), &r.deathRow(), now);
    if (r.deathRow().cnt == 0) return;
    freeDeathRow(ctx, r.deathRow(), DropReason::FragmentTimeout);
  }
}

rte_mbuf* reassembleFragment(WorkerContext& ctx, const FastServiceTable* services, uint16_t rxPort, rte_mbuf* m,
                             ParsedFrame& f, uint64_t now) {
  // nicproxy routes nothing but its own addresses: a datagram to another one would be
  // dropped once whole, so its fragments take no room in the table.
  const rte_be32_t destination = f.ip->dst_addr;
  if (!isNodeAddress(ctx.plane->ports[rxPort], services, destination)) {
    dropPacket(ctx, m, DropReason::NotForUs);
    return nullptr;
  }
  DropReason reason = DropReason::IpFragment;
  if (ctx.reassembly == nullptr || !acceptable(m, f, reason)) {
    dropPacket(ctx, m, reason);
    return nullptr;
  }
  ReassemblyTable& r = *ctx.reassembly;
  // The expired datagrams go first, so that whatever the library puts on the death row
  // below is this fragment's doing: its own datagram dropped whole (overlap, duplicate,
  // more than 8 fragments: the fragment and the ones held, two mbufs at least), or no
  // room for a new datagram (the fragment alone).
  expireFragments(ctx, now);
  m->l2_len = sizeof(rte_ether_hdr);
  m->l3_len = rte_ipv4_hdr_len(f.ip);
  rte_mbuf* whole = rte_ipv4_frag_reassemble_packet(r.table(), &r.deathRow(), m, now, f.ip);
  if (r.deathRow().cnt != 0) {
    freeDeathRow(ctx, r.deathRow(),
                 r.deathRow().cnt == 1 ? DropReason::FragmentTableFull : DropReason::FragmentRejected);
  }
  if (whole == nullptr) return nullptr;
  ++ctx.counters.datagramsReassembled;
  ctx.counters.fragmentsReassembled += whole->nb_segs;
  // The library sets the total length and clears the offset, MF and the checksum.
  auto* ip = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, whole->l2_len);
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  f = ParsedFrame{};
  const FrameKind kind = parseFrame(whole, f, reason);
  if (kind != FrameKind::Ipv4 ||
      rte_pktmbuf_pkt_len(whole) - whole->l2_len != rte_be_to_cpu_16(f.ip->total_length)) {
    // A datagram whose headers do not hold together, or (with options in the first
    // fragment only) whose length does not fit the total length field.
    ctx.counters.drops[static_cast<size_t>(kind == FrameKind::Drop ? reason : DropReason::FragmentMalformed)] +=
        whole->nb_segs;
    rte_pktmbuf_free(whole);
    return nullptr;
  }
  return whole;
}

void enqueueOversized(WorkerContext& ctx, uint16_t port, rte_mbuf* m) {
  const PortInfo& p = ctx.plane->ports[port];
  if (rte_pktmbuf_pkt_len(m) <= p.mtu + uint32_t{RTE_ETHER_HDR_LEN}) {
    // A reassembled datagram that fits: sent as the chain it is, or copied into its first
    // segment for a device that cannot send chains.
    if (p.linearizeTx && rte_pktmbuf_linearize(m) != 0) {
      dropPacket(ctx, m, DropReason::FragmentationFailed);
      return;
    }
    enqueueFrame(ctx, port, m);
    return;
  }
  // Everything that reaches here was forwarded or answered as IPv4 (parseFrame checked the
  // headers, which sit in the first segment).
  const rte_ether_hdr eth = *rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
  if (eth.ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
    dropPacket(ctx, m, DropReason::FragmentationFailed);
    return;
  }
  if ((ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)) != 0) {
    dropPacket(ctx, m, DropReason::FragmentationNeeded);
    return;
  }
  rte_mbuf* fragments[kMaxFragmentsOut];
  rte_pktmbuf_adj(m, sizeof(rte_ether_hdr));
  const int32_t count = ctx.indirectPool == nullptr
                            ? -ENOTSUP
                            : rte_ipv4_fragment_packet(m, fragments, kMaxFragmentsOut, p.mtu, ctx.pool,
                                                       ctx.indirectPool);
  // The fragments hold references to the datagram's segments; this drops ours.
  rte_pktmbuf_free(m);
  if (count <= 0) {
    ctx.counters.drop(DropReason::FragmentationFailed);
    return;
  }
  ++ctx.counters.datagramsFragmented;
  ctx.counters.fragmentsSent += static_cast<uint64_t>(count);
  for (int32_t i = 0; i < count; ++i) {
    rte_mbuf* fragment = fragments[i];
    // Each fragment is a fresh mbuf holding the IP header, then references to the
    // payload; the library leaves the header checksum zero.
    auto* header = rte_pktmbuf_mtod(fragment, rte_ipv4_hdr*);
    header->hdr_checksum = rte_ipv4_cksum(header);
    auto* l2 = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_prepend(fragment, sizeof(rte_ether_hdr)));
    if (l2 == nullptr || (p.linearizeTx && rte_pktmbuf_linearize(fragment) != 0)) {
      dropPacket(ctx, fragment, DropReason::FragmentationFailed);
      continue;
    }
    *l2 = eth;
    enqueueFrame(ctx, port, fragment);
  }
}

}  // namespace nicproxy

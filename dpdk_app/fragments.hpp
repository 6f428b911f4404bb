#pragma once
// IPv4 fragments on the fast path. Fragments of TCP and UDP datagrams are reassembled
// with DPDK's rte_ip_frag, and the whole datagram then takes the normal path (flow
// lookup, new connection, NAT) as an mbuf chain; a packet longer than its egress port's
// MTU is fragmented again (rte_ipv4_fragment_packet). Why reassemble rather than forward
// fragments by (source, destination, IP id), the settings and the limits:
// docs/fragments.md.
//
// Who reads and writes: a ReassemblyTable belongs to one worker, like its flow table (an
// rte_ip_frag table is not thread-safe); only that worker touches it, and the control
// thread creates and destroys it while no worker runs. RSS hashes fragments on their
// addresses only, so all fragments of a datagram reach the same worker. The indirect
// mempool is shared by the workers (mempools are multi-producer, multi-consumer).
//
// Same rules as worker.hpp: never blocks, throws, allocates from the heap or logs.
#include <cstdint>

#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include "dpdk_app/packet.hpp"
#include "dpdk_app/service_table.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

/// One worker's reassembly table: at most `maxDatagrams` incomplete datagrams, each of at
/// most RTE_LIBRTE_IP_FRAG_MAX_FRAG (8) fragments, each freed when it has not completed
/// within `timeoutCycles`. ok() is false when the memory could not be had.
class ReassemblyTable {
 public:
  ReassemblyTable(uint32_t maxDatagrams, uint64_t timeoutCycles, int socket);
  ~ReassemblyTable();
  ReassemblyTable(const ReassemblyTable&) = delete;
  ReassemblyTable& operator=(const ReassemblyTable&) = delete;

  bool ok() const { return table_ != nullptr; }
  rte_ip_frag_tbl* table() { return table_; }
  rte_ip_frag_death_row& deathRow() { return deathRow_; }

  /// The most mbufs a table of `maxDatagrams` holds at once: the mempool must have room
  /// for them besides what the ports' rings hold, or a flood of fragments that never
  /// complete would starve reception.
  static uint32_t mbufsHeld(uint32_t maxDatagrams) {
    return maxDatagrams * RTE_LIBRTE_IP_FRAG_MAX_FRAG + RTE_IP_FRAG_DEATH_ROW_MBUF_LEN;
  }

 private:
  rte_ip_frag_tbl* table_ = nullptr;
  rte_ip_frag_death_row deathRow_{};  // empty between calls: fragments.cpp frees it at once
};

/// Takes a fragment (FrameKind::Fragment, already checked to be for this node's MAC),
/// received on port index `rxPort`, into the worker's reassembly table. When it completes
/// a datagram, returns the datagram (a chain of the fragments' mbufs with a correct IP
/// checksum) parsed into `f`; otherwise returns null: the datagram waits for more
/// fragments, or the fragment was dropped and counted. Fragments to an address that is
/// neither one of the port's own (PortInfo::isOwnAddress) nor a service's are dropped at
/// once (`services` may be null).
rte_mbuf* reassembleFragment(WorkerContext& ctx, const FastServiceTable* services, uint16_t rxPort, rte_mbuf* m,
                             ParsedFrame& f, uint64_t now);

/// Frees the datagrams that did not complete within the timeout and counts their
/// fragments (fragment_timeout). Part of the worker's housekeeping; bounded work.
void expireFragments(WorkerContext& ctx, uint64_t now);

}  // namespace nicproxy

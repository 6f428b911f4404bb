#include "dpdk_app/counters.hpp"

#include <algorithm>

#include <spdlog/fmt/fmt.h>

namespace nicproxy {

namespace {
constexpr const char* kNames[] = {
#define NICPROXY_X(name, text, help) text,
    NICPROXY_DROP_REASONS(NICPROXY_X)
#undef NICPROXY_X
};
constexpr const char* kHelp[] = {
#define NICPROXY_X(name, text, help) help,
    NICPROXY_DROP_REASONS(NICPROXY_X)
#undef NICPROXY_X
};
}  // namespace

const char* dropReasonName(DropReason reason) { return kNames[static_cast<size_t>(reason)]; }
const char* dropReasonHelp(DropReason reason) { return kHelp[static_cast<size_t>(reason)]; }

uint64_t WorkerCounters::totalDrops() const {
  uint64_t total = 0;
  for (const Counter& d : drops) total += d.load();
  return total;
}

WorkerCounters sumCounters(const std::vector<const WorkerCounters*>& workers) {
  WorkerCounters sum;
  for (const WorkerCounters* w : workers) {
    sum.rxPackets += w->rxPackets;
    sum.txPackets += w->txPackets;
    sum.natForward += w->natForward;
    sum.natReverse += w->natReverse;
    sum.flowsCreated += w->flowsCreated;
    sum.flowsExpired += w->flowsExpired;
    sum.flowsEarlyDropped += w->flowsEarlyDropped;
    sum.rejected += w->rejected;
    sum.arpReplies += w->arpReplies;
    sum.arpRequests += w->arpRequests;
    sum.arpLearned += w->arpLearned;
    sum.icmpEchoReplies += w->icmpEchoReplies;
    sum.icmpErrorsToClient += w->icmpErrorsToClient;
    sum.icmpErrorsToBackend += w->icmpErrorsToBackend;
    sum.redirected += w->redirected;
    sum.affinityHits += w->affinityHits;
    sum.flowsReset += w->flowsReset;
    sum.flowsPurged += w->flowsPurged;
    sum.loopMaxCycles = std::max(sum.loopMaxCycles.load(), w->loopMaxCycles.load());
    sum.loops += w->loops;
    sum.loopsOver100us += w->loopsOver100us;
    sum.datagramsReassembled += w->datagramsReassembled;
    sum.fragmentsReassembled += w->fragmentsReassembled;
    sum.datagramsFragmented += w->datagramsFragmented;
    sum.fragmentsSent += w->fragmentsSent;
    sum.flowsInTable += w->flowsInTable;
    sum.loopCycles += w->loopCycles;
    for (size_t i = 0; i < kLoopBuckets; ++i) sum.loopBuckets[i] += w->loopBuckets[i];
    for (size_t p = 0; p < kMaxCountedPorts; ++p) {
      sum.ports[p].rxPackets += w->ports[p].rxPackets;
      sum.ports[p].rxBytes += w->ports[p].rxBytes;
      sum.ports[p].txPackets += w->ports[p].txPackets;
      sum.ports[p].txBytes += w->ports[p].txBytes;
    }
    for (size_t i = 0; i < kDropReasonCount; ++i) sum.drops[i] += w->drops[i];
  }
  return sum;
}

std::string formatCounters(const WorkerCounters& c) {
  std::string out;
  auto line = [&out](const char* name, uint64_t value) {
    out += fmt::format("  {:<22} {}\n", name, value);
  };
  line("rx_packets", c.rxPackets);
  line("tx_packets", c.txPackets);
  line("nat_forward", c.natForward);
  line("nat_reverse", c.natReverse);
  line("flows_created", c.flowsCreated);
  line("flows_expired", c.flowsExpired);
  line("flows_early_dropped", c.flowsEarlyDropped);
  line("rejected", c.rejected);
  line("arp_replies", c.arpReplies);
  line("arp_requests", c.arpRequests);
  line("arp_learned", c.arpLearned);
  line("icmp_echo_replies", c.icmpEchoReplies);
  line("icmp_errors_to_client", c.icmpErrorsToClient);
  line("icmp_errors_to_backend", c.icmpErrorsToBackend);
  line("redirected", c.redirected);
  line("affinity_hits", c.affinityHits);
  line("flows_reset", c.flowsReset);
  line("flows_purged", c.flowsPurged);
  line("loops", c.loops);
  line("loops_over_100us", c.loopsOver100us);
  line("datagrams_reassembled", c.datagramsReassembled);
  line("fragments_reassembled", c.fragmentsReassembled);
  line("datagrams_fragmented", c.datagramsFragmented);
  line("fragments_sent", c.fragmentsSent);
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    if (c.drops[i] != 0) line(fmt::format("drop_{}", kNames[i]).c_str(), c.drops[i]);
  }
  return out;
}

}  // namespace nicproxy

// The worker's side of inspect_mailbox.hpp: same rules as worker.hpp (per lcore, bounded
// work per call, never blocks, throws or logs).
#include "dpdk_app/inspect_mailbox.hpp"

#include "dpdk_app/worker.hpp"

namespace nicproxy {

void serveInspection(WorkerContext& ctx) {
  InspectMailbox* box = ctx.inspect;
  if (box == nullptr) return;
  InspectAnswer& answer = box->answer;
  if (box->serving == 0) {
    // acquire: pairs with the inspector's release store; the query is complete.
    const uint64_t asked = box->asked.load(std::memory_order_acquire);
    if (asked == box->answered.load(std::memory_order_relaxed)) return;  // only this worker writes it
    box->serving = asked;
    // Without a flow listing the scan is skipped: the answer is the counters.
    box->cursor = box->query.listFlows ? 0 : ctx.flows->capacity();
    answer.matched = 0;
    answer.rowCount = 0;
  }
  const FlowTable& flows = *ctx.flows;
  const uint32_t capacity = flows.capacity();
  const uint32_t end = capacity - box->cursor < kInspectSlice ? capacity : box->cursor + kInspectSlice;
  for (uint32_t i = box->cursor; i < end; ++i) {
    const FlowEntry& e = flows.entry(i);
    if (!e.live || !box->query.filter.matches(e)) continue;
    if (answer.rowCount < kInspectMaxRows) answer.rows[answer.rowCount++] = {e.forward, e.reverse, e.tcpState, e.sawReply};
    ++answer.matched;
  }
  box->cursor = end;
  if (end < capacity) return;
  const WorkerCounters& c = ctx.counters;
  answer.rxPackets = c.rxPackets;
  answer.txPackets = c.txPackets;
  answer.natForward = c.natForward;
  answer.natReverse = c.natReverse;
  answer.flowsCreated = c.flowsCreated;
  answer.flowsExpired = c.flowsExpired;
  uint64_t drops = 0;
  for (size_t r = 0; r < kDropReasonCount; ++r) drops += c.drops[r];
  answer.drops = drops;
  answer.flows = flows.size();
  answer.flowCapacity = capacity;
  // release: the answer is complete before the inspector can see this value.
  box->answered.store(box->serving, std::memory_order_release);
  box->serving = 0;
}

}  // namespace nicproxy

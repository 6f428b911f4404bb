#include "dpdk_app/snat_allocator.hpp"

#include <algorithm>

#include <rte_byteorder.h>
#include <rte_hash.h>
#include <rte_random.h>

namespace nicproxy {

namespace {

constexpr uint32_t kChunk = RTE_HASH_LOOKUP_BULK_MAX;  // keys per bulk lookup
static_assert(kChunk <= 64, "lookupBulk reports hits in a 64-bit mask");
static_assert(kSnatRandomTries - 1 <= kChunk, "the random tries after the first fit one bulk lookup");
constexpr uint32_t kNone = SnatScan::kNone;

const SnatPortSpace& portSpace(WorkerContext& ctx) {
  SnatScans& s = ctx.snat;
  if (s.spaceWorkers != ctx.plane->workerCount || s.spaceIndex != ctx.index) {
    s.space = SnatPortSpace::of(ctx.index, ctx.plane->workerCount);
    s.spaceIndex = ctx.index;
    s.spaceWorkers = ctx.plane->workerCount;
  }
  return s.space;
}

/// Sets `reverse`'s port to `slot`'s; true when no connection holds that reply key.
bool slotFree(const WorkerContext& ctx, const SnatPortSpace& space, FlowKey& reverse, uint32_t slot) {
  reverse.destinationPort = rte_cpu_to_be_16(space.portAt(slot));
  return !ctx.flows->contains(reverse);
}

/// Looks up `reverse` with the ports of `count` (1..kChunk) slots in one bulk lookup;
/// slot i is slots[i], or start + i (modulo the port count) when `slots` is null.
/// Returns the first i whose key is free, or `count`.
uint32_t firstFree(const WorkerContext& ctx, const SnatPortSpace& space, const FlowKey& reverse,
                   const uint32_t* slots, uint32_t start, uint32_t count) {
  FlowKey keys[kChunk];
  const FlowKey* pointers[kChunk];
  uint64_t values[kChunk];
  uint32_t slot = start;
  for (uint32_t i = 0; i < count; ++i) {
    if (slots != nullptr) slot = slots[i];
    keys[i] = reverse;
    keys[i].destinationPort = rte_cpu_to_be_16(space.portAt(slot));
    pointers[i] = &keys[i];
    if (++slot == space.count) slot = 0;
  }
  const uint64_t hits = ctx.flows->lookupBulk(pointers, count, values);
  const uint64_t asked = count == 64 ? ~uint64_t{0} : (uint64_t{1} << count) - 1;
  const uint64_t free = ~hits & asked;
  return free == 0 ? count : static_cast<uint32_t>(__builtin_ctzll(free));
}

/// Scans up to `budget` ports of `scan`'s pass (taking what it used off the budget).
/// Returns the free slot it found, or kNone. After a find the next pass starts behind
/// it; a pass that ends without one marks the tuple exhausted until retryAt.
uint32_t scanSlice(const WorkerContext& ctx, const SnatPortSpace& space, SnatScan& scan, uint32_t& budget,
                   uint64_t now) {
  if (scan.remaining == 0) return kNone;
  const FlowKey reverse{scan.backendAddress, scan.snatAddress, scan.backendPort, 0, scan.protocol, {0, 0, 0}};
  while (budget > 0 && scan.remaining > 0) {
    const uint32_t n = std::min({kChunk, budget, scan.remaining});
    const uint32_t found = firstFree(ctx, space, reverse, nullptr, scan.cursor, n);
    if (found < n) {
      budget -= found + 1;
      const uint32_t slot = (scan.cursor + found) % space.count;
      scan.cursor = slot + 1 == space.count ? 0 : slot + 1;
      scan.remaining = space.count;
      return slot;
    }
    scan.cursor = (scan.cursor + n) % space.count;
    scan.remaining -= n;
    budget -= n;
  }
  if (scan.remaining == 0) scan.retryAt = now + ctx.plane->timeouts.hz * kSnatExhaustedRetryMs / 1000;
  return kNone;
}

SnatScan* findScan(SnatScans& s, const FlowKey& reverse) {
  if (s.live == 0) return nullptr;
  for (SnatScan& e : s.entries) {
    if (e.live && e.backendAddress == reverse.sourceAddress && e.snatAddress == reverse.destinationAddress &&
        e.backendPort == reverse.sourcePort && e.protocol == reverse.protocol) {
      return &e;
    }
  }
  return nullptr;
}

/// Remembers a tuple whose random tries failed, in a free entry or in the one wanted
/// least recently.
SnatScan& startScan(SnatScans& s, const SnatPortSpace& space, const FlowKey& reverse, uint64_t now) {
  SnatScan* victim = &s.entries[0];
  for (SnatScan& e : s.entries) {
    if (!e.live) {
      victim = &e;
      break;
    }
    if (e.lastWanted < victim->lastWanted) victim = &e;
  }
  if (!victim->live) ++s.live;
  SnatScan& scan = *victim;
  scan = SnatScan{};
  scan.backendAddress = reverse.sourceAddress;
  scan.snatAddress = reverse.destinationAddress;
  scan.backendPort = reverse.sourcePort;
  scan.protocol = reverse.protocol;
  scan.live = true;
  scan.cursor = static_cast<uint32_t>(rte_rand_max(space.count));
  scan.remaining = space.count;
  scan.lastWanted = now;
  return scan;
}

/// Steps 1-3 of snat_allocator.hpp for reverse.destinationAddress.
bool pickOnAddress(WorkerContext& ctx, const SnatPortSpace& space, FlowKey& reverse, uint64_t now) {
  if (slotFree(ctx, space, reverse, static_cast<uint32_t>(rte_rand_max(space.count)))) return true;
  SnatScans& s = ctx.snat;
  SnatScan* scan = findScan(s, reverse);
  if (scan == nullptr) {
    uint32_t slots[kSnatRandomTries - 1];
    for (uint32_t& slot : slots) slot = static_cast<uint32_t>(rte_rand_max(space.count));
    const uint32_t found = firstFree(ctx, space, reverse, slots, 0, kSnatRandomTries - 1);
    if (found < kSnatRandomTries - 1) {
      reverse.destinationPort = rte_cpu_to_be_16(space.portAt(slots[found]));
      return true;
    }
    scan = &startScan(s, space, reverse, now);
  }
  scan->lastWanted = now;
  if (scan->ready != kNone) {
    const uint32_t ready = scan->ready;
    scan->ready = kNone;
    if (slotFree(ctx, space, reverse, ready)) return true;
  }
  if (scan->remaining == 0 && now >= scan->retryAt) scan->remaining = space.count;
  const uint32_t slot = scanSlice(ctx, space, *scan, s.burstBudget, now);
  if (slot == kNone) return false;
  reverse.destinationPort = rte_cpu_to_be_16(space.portAt(slot));
  return true;
}

}  // namespace

namespace {

/// pickSnatPort() over the SNAT addresses [lowest, port.snatAddressCount()), starting at a
/// random one of them.
bool pickAmong(WorkerContext& ctx, const PortInfo& port, FlowKey& reverse, uint64_t now, uint32_t lowest) {
  const SnatPortSpace& space = portSpace(ctx);
  const uint32_t addresses = port.snatAddressCount();
  if (space.count == 0 || lowest >= addresses) return false;
  const uint32_t choices = addresses - lowest;
  const uint32_t first = choices > 1 ? static_cast<uint32_t>(rte_rand_max(choices)) : 0;
  for (uint32_t n = 0; n < choices; ++n) {
    const uint32_t i = first + n < choices ? first + n : first + n - choices;
    reverse.destinationAddress = port.snatAddress(lowest + i);
    if (pickOnAddress(ctx, space, reverse, now)) return true;
  }
  return false;
}

}  // namespace

bool pickSnatPort(WorkerContext& ctx, const PortInfo& port, FlowKey& reverse, uint64_t now) {
  return pickAmong(ctx, port, reverse, now, 0);
}

bool pickExtraSnatPort(WorkerContext& ctx, const PortInfo& port, FlowKey& reverse, uint64_t now) {
  return pickAmong(ctx, port, reverse, now, 1);
}

void continueSnatScans(WorkerContext& ctx, uint64_t now) {
  SnatScans& s = ctx.snat;
  if (s.live == 0) return;
  const SnatPortSpace& space = portSpace(ctx);
  const uint64_t idle = ctx.plane->timeouts.hz * kSnatScanIdleMs / 1000;
  for (uint32_t n = 0; n < SnatScans::kEntries; ++n) {
    SnatScan& e = s.entries[s.loopCursor];
    s.loopCursor = s.loopCursor + 1 == SnatScans::kEntries ? 0 : s.loopCursor + 1;
    if (!e.live) continue;
    if (now > e.lastWanted + idle) {
      e.live = false;
      --s.live;
      continue;
    }
    if (e.ready != kNone) continue;
    if (e.remaining == 0) {
      if (now < e.retryAt) continue;
      e.remaining = space.count;
    }
    uint32_t budget = kSnatScanPerLoop;
    e.ready = scanSlice(ctx, space, e, budget, now);
    return;  // one slice per loop
  }
}

}  // namespace nicproxy

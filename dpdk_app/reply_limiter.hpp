#pragma once
// The rate limit on the replies nicproxy originates itself (kube-proxy's REJECT: TCP RST
// and ICMP port unreachable; the RST to clients of removed endpoints; ICMP echo
// replies), so that a flood of packets to a service without endpoints, or of pings,
// cannot turn the node into a reflector. Linux limits its own ICMP the same way
// (net.ipv4.icmp_msgs_per_sec / icmp_msgs_burst); the setting is dpdk.replyRateLimit.
//
// One bucket per worker, in its WorkerContext, written by that worker only: no sharing,
// no atomics. So the node's limit is perSecond x workers.
#include <algorithm>
#include <cstdint>

namespace nicproxy {

/// A token bucket refilled from the TSC. The credit is kept in TSC cycles (a token is
/// worth cyclesPerToken), so refilling is one subtraction and no division per packet.
class ReplyLimiter {
 public:
  /// No limit.
  ReplyLimiter() = default;
  /// `perSecond` replies a second on average (0: no limit), up to `burst` at once
  /// (at least 1); `hz` is the TSC's cycles per second. Starts full.
  ReplyLimiter(uint64_t hz, uint32_t perSecond, uint32_t burst) {
    if (perSecond == 0 || hz == 0) return;
    cyclesPerToken_ = std::max<uint64_t>(1, hz / perSecond);
    capacity_ = cyclesPerToken_ * std::max<uint32_t>(1, burst);
    credit_ = capacity_;
  }

  /// True when a reply may go out at TSC `now`; takes its token.
  bool allow(uint64_t now) {
    if (cyclesPerToken_ == 0) return true;
    if (now > last_) {
      // The first call sees a huge gap from last_ = 0: the bucket is full anyway.
      credit_ = std::min(capacity_, credit_ + std::min(now - last_, capacity_));
      last_ = now;
    }
    if (credit_ < cyclesPerToken_) return false;
    credit_ -= cyclesPerToken_;
    return true;
  }

 private:
  uint64_t cyclesPerToken_ = 0;  // 0: no limit
  uint64_t capacity_ = 0;        // burst x cyclesPerToken_
  uint64_t credit_ = 0;
  uint64_t last_ = 0;            // TSC of the last refill
};

}  // namespace nicproxy

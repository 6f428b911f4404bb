#pragma once
// Per-lcore counters. Each worker owns one cache-aligned block and is its only
// writer; the metrics scrape (an HTTP thread) and the liveness check read them while
// the worker runs, without locks (dpdk_app/datapath_metrics.hpp).
// Drop reasons come from one X-macro that makes both the enum and the names (VPP's habit).
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace nicproxy {

// Fragments (fragments.hpp): counted per fragment, as received. The ones the reassembly
// library refuses are told apart by what it puts on its death row (fragments.cpp).
#define NICPROXY_FRAGMENT_DROP_REASONS(X)                                            \
  X(FragmentMalformed, "fragment_malformed",                                         \
    "fragment with no payload, a payload not a multiple of 8 bytes before the last fragment, or an end past 65535 bytes") \
  X(FragmentTiny, "fragment_tiny", "first fragment too short to hold the whole TCP/UDP header (RFC 1858 tiny fragment)") \
  X(FragmentHeaderOverlap, "fragment_header_overlap",                                \
    "fragment whose offset falls inside the 20-byte TCP header (RFC 1858 overlapping fragment)") \
  X(FragmentRejected, "fragment_rejected",                                           \
    "fragment of a datagram the reassembly dropped whole: its fragments overlapped or repeated, or it had more than 8") \
  X(FragmentTableFull, "fragment_table_full",                                        \
    "fragment of a new datagram while the worker's reassembly table was full (dpdk.fragments.maxDatagrams)") \
  X(FragmentTimeout, "fragment_timeout",                                             \
    "fragment of a datagram that did not complete within dpdk.fragments.timeout")     \
  X(FragmentationNeeded, "fragmentation_needed",                                     \
    "longer than the egress port's MTU with Don't Fragment set (no ICMP fragmentation-needed is sent)") \
  X(FragmentationFailed, "fragmentation_failed",                                     \
    "could not be fragmented for the egress port's MTU: no mbufs, or more than 64 fragments needed")

#define NICPROXY_DROP_REASONS(X)                                                     \
  X(TooShort, "too_short", "frame shorter than its headers claim")                   \
  X(NotForUs, "not_for_us", "destination MAC or IP is not this node's")              \
  X(UnsupportedL2, "unsupported_l2", "VLAN, IPv6 or another EtherType")              \
  X(BadIpHeader, "bad_ip_header", "IPv4 version, header length, total length or an option length wrong") \
  X(IpFragment, "ip_fragment", "IPv4 fragment not reassembled: not TCP or UDP, or reassembly is off (dpdk.fragments.maxDatagrams 0)") \
  X(BadL4Header, "bad_l4_header", "TCP/UDP header truncated or inconsistent")        \
  X(UnsupportedL4, "unsupported_l4", "protocol other than TCP, UDP, ICMP")           \
  X(TtlExceeded, "ttl_exceeded", "TTL would reach zero")                             \
  X(NoService, "no_service", "to a node address but no service port there")          \
  X(NoFlow, "no_flow", "reply to a SNAT port with no connection")                    \
  X(TcpNotSyn, "tcp_not_syn", "TCP segment of no known connection that is not a SYN (ACK, FIN, RST, SYN-ACK)") \
  X(TcpInvalidFlags, "tcp_invalid_flags", "TCP flags no stack sends: SYN+FIN, SYN+RST, none, FIN without ACK") \
  X(TcpInvalidState, "tcp_invalid_state", "TCP segment its connection's state does not allow (an ACK before the SYN-ACK, a SYN-ACK from the client)") \
  X(TcpOutOfWindow, "tcp_out_of_window", "TCP segment outside the connection's sequence window (a RST or FIN is ignored)") \
  X(NeighborUnresolved, "neighbor_unresolved", "next hop MAC not yet known")         \
  X(NoRoute, "no_route", "no port subnet or gateway reaches the destination")        \
  X(FlowTableFull, "flow_table_full", "no free flow entry")                          \
  X(SnatPortsExhausted, "snat_ports_exhausted", "no free SNAT port for the tuple")   \
  X(ArpIgnored, "arp_ignored", "malformed ARP, or a request for an address nicproxy does not answer for") \
  X(ArpUnsolicited, "arp_unsolicited", "ARP reply or announcement nicproxy did not ask for: learns nothing") \
  X(ArpConflict, "arp_conflict", "ARP request for an external/LB IP another host answers for: not answered") \
  X(TxFull, "tx_full", "the transmit queue did not take the packet")                \
  X(SourceRange, "source_range", "source outside the LB IP's loadBalancerSourceRanges") \
  X(NoLocalEndpoints, "no_local_endpoints", "traffic policy Local and no endpoint on this node") \
  X(RedirectFull, "redirect_full", "the owning worker's redirect ring was full")       \
  X(BadSourceMac, "bad_source_mac", "source MAC broadcast, multicast or all zeros")    \
  X(MartianSource, "martian_source", "IPv4 source (or ARP sender) that cannot be: 0/8, 127/8, multicast, class E, a subnet broadcast, or this node's own address") \
  X(BadIpChecksum, "bad_ip_checksum", "IPv4 header checksum wrong (NIC or software)")  \
  X(IpSourceRoute, "ip_source_route", "IPv4 loose or strict source route option") \
  X(IcmpIgnored, "icmp_ignored", "ICMP to us that is neither an echo request nor an error about a connection") \
  X(IcmpErrorNoFlow, "icmp_error_no_flow", "ICMP error quoting a packet of no connection nicproxy tracks") \
  X(IcmpErrorMalformed, "icmp_error_malformed", "ICMP error whose quoted packet is truncated or inconsistent") \
  X(IcmpErrorUnsupported, "icmp_error_unsupported",                                \
    "ICMP error about neither TCP nor UDP (ICMP about ICMP), or a non-first fragment") \
  X(IcmpErrorMismatch, "icmp_error_mismatch", "ICMP error sent to an address other than its quoted packet's source") \
  X(IcmpErrorBadChecksum, "icmp_error_bad_checksum", "ICMP error about a connection with a wrong ICMP checksum") \
  X(ReplyRateLimited, "reply_rate_limited", "a RST or ICMP reply of nicproxy's own over dpdk.replyRateLimit: not sent") \
  X(ExceptionRateLimited, "exception_rate_limited", "frame for the kernel over dpdk.exception.packetsPerSecond: not handed over") \
  X(ExceptionRingFull, "exception_ring_full", "frame for the kernel while the port's ring to the exception interface was full") \
  X(KernelFrameMalformed, "kernel_frame_malformed", "frame from the exception interface shorter than its headers claim or with a broken IPv4 header: not sent") \
  X(KernelFrameTooLong, "kernel_frame_too_long", "frame from the exception interface longer than the port's MTU: not sent") \
  X(KernelRingFull, "kernel_ring_full", "frame from the exception interface while the worker's ring from the kernel was full") \
  NICPROXY_FRAGMENT_DROP_REASONS(X)

enum class DropReason : uint8_t {
#define NICPROXY_X(name, text, help) name,
  NICPROXY_DROP_REASONS(NICPROXY_X)
#undef NICPROXY_X
      Count
};

inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::Count);
const char* dropReasonName(DropReason reason);
const char* dropReasonHelp(DropReason reason);

/// A counter with one writer (its worker) and readers on other threads.
///
/// Memory ordering: the writer's increment is a relaxed load and a relaxed store of its
/// own value, not a read-modify-write: nobody else writes, so no increment is lost, and
/// on x86-64 it compiles to the same load, add and store as a plain uint64_t (no lock
/// prefix, no fence). Readers take a relaxed load: never torn, possibly a few packets
/// old, and ordered with nothing else (each counter is a statistic on its own; a scrape
/// may see rx of one burst and not yet its tx). The atomic type is what makes this
/// defined behaviour instead of a data race.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter& other) : value_(other.load()) {}  // a snapshot (sumCounters, tests)
  Counter& operator=(const Counter& other) {
    set(other.load());
    return *this;
  }
  Counter& operator=(uint64_t value) {
    set(value);
    return *this;
  }

  /// Writer only.
  void add(uint64_t n) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  Counter& operator++() {
    add(1);
    return *this;
  }
  Counter& operator+=(uint64_t n) {
    add(n);
    return *this;
  }
  /// Writer only: a gauge's new value, or a maximum.
  void set(uint64_t value) { value_.store(value, std::memory_order_relaxed); }
  /// Any thread.
  uint64_t load() const { return value_.load(std::memory_order_relaxed); }
  operator uint64_t() const { return load(); }

 private:
  std::atomic<uint64_t> value_{0};
};
static_assert(sizeof(Counter) == sizeof(uint64_t));

/// What one worker received from and sent to one port (rte_eth_rx_burst and
/// rte_eth_tx_burst on its queue; frames as the device counts them, without FCS).
struct PortCounters {
  Counter rxPackets;
  Counter rxBytes;
  Counter txPackets;
  Counter txBytes;
  Counter toKernelPackets;    // received on the port, handed to its exception interface
  Counter fromKernelPackets;  // sent by the kernel on the exception interface, taken by this worker
};

/// Bounds of the worker-loop pause histogram (nicproxy_worker_loop_duration_seconds), in
/// microseconds; a loop longer than the last bound counts in the +Inf bucket only.
inline constexpr std::array<uint32_t, 12> kLoopBucketsUs{5,    10,   25,    50,    100,    250,
                                                        1000, 5000, 25000, 100000, 1000000, 5000000};
inline constexpr size_t kLoopBuckets = kLoopBucketsUs.size() + 1;  // + Inf

/// Maximum ports one worker polls (kMaxDpdkPorts, data_plane.hpp's kMaxPorts).
inline constexpr size_t kMaxCountedPorts = 8;

/// One worker's counters; written only by that worker, read by anyone (Counter).
struct alignas(64) WorkerCounters {
  Counter rxPackets;          // packets processBurst() took (redirected ones again on their owner)
  Counter txPackets;
  Counter natForward;    // client -> backend, translated
  Counter natReverse;    // backend -> client, translated back
  Counter flowsCreated;
  Counter flowsExpired;
  Counter flowsEarlyDropped;  // connections not yet established (or closing) evicted for new ones
  Counter rejected;      // RST or ICMP port unreachable sent for a service without endpoints
  Counter arpReplies;    // ARP replies we sent
  Counter arpRequests;   // ARP requests we sent to resolve next hops
  Counter arpLearned;    // answers to our ARP requests, consumed after setting the MAC
  Counter icmpEchoReplies;
  Counter icmpErrorsToClient;   // ICMP errors from the backend side, translated for the client
  Counter icmpErrorsToBackend;  // ICMP errors from the client side, translated for the backend
  Counter redirected;    // replies handed to the worker that owns their flow (the owner
                         // counts them in its rx_packets again)
  Counter affinityHits;  // new connections sent to a ClientIP affinity record's endpoint
  Counter flowsReset;    // TCP flows to a removed endpoint: RST sent to the client
  Counter flowsPurged;   // UDP flows to a removed endpoint: deleted at once
  Counter loopMaxCycles; // longest runWorker loop iteration (TSC cycles), start to start
  Counter loops;         // runWorker loop iterations: the liveness check watches it move
  Counter datagramsReassembled;  // complete datagrams out of the reassembly table
  Counter fragmentsReassembled;  // the fragments they were made of
  Counter datagramsFragmented;   // packets fragmented for an egress port's MTU
  Counter fragmentsSent;         // the fragments made of them
  Counter loopsOver100us;  // iterations that took longer than 100 microseconds
  Counter flowsInTable;    // a gauge: the flow table's size, set once per loop (housekeeping)
  Counter loopCycles;      // sum of the loop lengths (TSC cycles): the pause histogram's sum
  std::array<Counter, kLoopBuckets> loopBuckets{};  // loop lengths, not cumulative (kLoopBucketsUs)
  std::array<PortCounters, kMaxCountedPorts> ports{};
  std::array<Counter, kDropReasonCount> drops{};

  void drop(DropReason reason) { ++drops[static_cast<size_t>(reason)]; }
  uint64_t dropCount(DropReason reason) const { return drops[static_cast<size_t>(reason)].load(); }
  uint64_t totalDrops() const;
};

/// Sums the workers' counters.
WorkerCounters sumCounters(const std::vector<const WorkerCounters*>& workers);
/// Human-readable report, one "name value" line per non-zero counter.
std::string formatCounters(const WorkerCounters& counters);

}  // namespace nicproxy

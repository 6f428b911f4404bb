#pragma once
// Per-lcore counters. Each worker owns one cache-aligned block and is its only
// writer, so increments are plain adds; the control thread reads them (racy but
// word-sized, good enough for statistics) when it prints or exports them.
// Drop reasons come from one X-macro that makes both the enum and the names (VPP's habit).
#include <array>
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

/// One worker's counters; written only by that worker.
struct alignas(64) WorkerCounters {
  uint64_t rxPackets = 0;
  uint64_t txPackets = 0;
  uint64_t natForward = 0;    // client -> backend, translated
  uint64_t natReverse = 0;    // backend -> client, translated back
  uint64_t flowsCreated = 0;
  uint64_t flowsExpired = 0;
  uint64_t flowsEarlyDropped = 0;  // connections not yet established (or closing) evicted for new ones
  uint64_t rejected = 0;      // RST or ICMP port unreachable sent for a service without endpoints
  uint64_t arpReplies = 0;    // ARP replies we sent
  uint64_t arpRequests = 0;   // ARP requests we sent to resolve next hops
  uint64_t arpLearned = 0;    // answers to our ARP requests, consumed after setting the MAC
  uint64_t icmpEchoReplies = 0;
  uint64_t icmpErrorsToClient = 0;   // ICMP errors from the backend side, translated for the client
  uint64_t icmpErrorsToBackend = 0;  // ICMP errors from the client side, translated for the backend
  uint64_t redirected = 0;    // replies handed to the worker that owns their flow (the owner
                              // counts them in its rx_packets again)
  uint64_t affinityHits = 0;  // new connections sent to a ClientIP affinity record's endpoint
  uint64_t flowsReset = 0;    // TCP flows to a removed endpoint: RST sent to the client
  uint64_t flowsPurged = 0;   // UDP flows to a removed endpoint: deleted at once
  uint64_t loopMaxCycles = 0; // longest runWorker loop iteration (TSC cycles), start to start
  uint64_t loops = 0;         // runWorker loop iterations
  uint64_t datagramsReassembled = 0;  // complete datagrams out of the reassembly table
  uint64_t fragmentsReassembled = 0;  // the fragments they were made of
  uint64_t datagramsFragmented = 0;   // packets fragmented for an egress port's MTU
  uint64_t fragmentsSent = 0;         // the fragments made of them
  uint64_t loopsOver100us = 0;  // iterations that took longer than 100 microseconds
  std::array<uint64_t, kDropReasonCount> drops{};

  void drop(DropReason reason) { ++drops[static_cast<size_t>(reason)]; }
  uint64_t dropCount(DropReason reason) const { return drops[static_cast<size_t>(reason)]; }
  uint64_t totalDrops() const;
};

/// Sums the workers' counters.
WorkerCounters sumCounters(const std::vector<const WorkerCounters*>& workers);
/// Human-readable report, one "name value" line per non-zero counter.
std::string formatCounters(const WorkerCounters& counters);

}  // namespace nicproxy

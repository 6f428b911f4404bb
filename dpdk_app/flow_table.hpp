#pragma once
// Per-lcore connection tracking.
//
// Ownership: a FlowTable belongs to exactly one worker lcore, which is its only
// reader and writer; no other thread touches it, so it takes no locks and its
// rte_hash is created without concurrency flags. Replies reach the owner because the
// SNAT port the owner picks encodes the owner (port % workerCount == worker index);
// a reply that arrives on another worker's queue (RSS knows nothing of SNAT ports) is
// recognised by its destination (a SNAT address of the port, PortInfo::isOwnAddress(),
// and a SNAT port, isSnatPort(), whose owner is not the receiving worker) and handed to
// the owner through the owner's redirect ring (DataPlane::redirect); the owner
// processes it in its own loop.
// Client-side packets (to VIPs, and to NodePorts, which SNAT ports never use) reach the
// creating worker because RSS (or af_packet's fanout hash) maps a 5-tuple to one queue.
// So: only the owner ever looks a flow up or changes it. (A NodePort outside
// 30000-32767 is taken for a SNAT port and redirected to port % workers: still one
// owner per connection, only not spread over the workers.)
//
// Each connection is one FlowEntry with two keys in the hash: the forward key (the
// packet as the client sent it) and the reverse key (the reply as the backend sends
// it). The hash maps a key to (entry index << 1 | direction). Entries live in one
// array allocated at start-up; a free list hands them out, so the fast path never
// allocates.
#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_prefetch.h>

namespace nicproxy {

/// A 5-tuple as seen on the wire (network byte order). 16 bytes, no implicit padding.
struct FlowKey {
  rte_be32_t sourceAddress;
  rte_be32_t destinationAddress;
  rte_be16_t sourcePort;
  rte_be16_t destinationPort;
  uint8_t protocol;
  uint8_t padding[3];
};
static_assert(sizeof(FlowKey) == 16);

enum class FlowDirection : uint8_t { Forward = 0, Reverse = 1 };

/// TCP connection states as Linux conntrack names them (nf_conntrack_proto_tcp.c):
/// SynSent (client's SYN seen), SynRecv (backend's SYN-ACK seen), Established (the
/// client's ACK completed the handshake), FinWait (a FIN from one side), CloseWait (that
/// FIN acknowledged), LastAck (FINs from both sides), TimeWait (the last FIN
/// acknowledged), Close (a RST). None: UDP.
enum class TcpState : uint8_t { None, SynSent, SynRecv, Established, FinWait, CloseWait, LastAck, TimeWait, Close };

/// One side's sequence space, as conntrack tracks it (struct ip_ct_tcp_state): what the
/// side has sent, how far the other side lets it send, the largest window it offered, the
/// highest ack it sent. Host order. Its window scale and flags live in the flow entry
/// (FlowEntry::tcpPeerBits), so that two connections' windows share a cache line.
struct TcpPeer {
  uint32_t end = 0;        // highest sequence number sent + length (td_end)
  uint32_t maxEnd = 0;     // highest ack + window the other side granted (td_maxend)
  uint32_t maxWindow = 0;  // largest window this side advertised, scaled (td_maxwin); 0: side not seen yet
  uint32_t maxAck = 0;     // highest ack this side sent (td_maxack), valid with kTcpMaxAckSet
};
static_assert(sizeof(TcpPeer) == 16);

/// A TCP connection's windows: [0] the client (forward direction), [1] the backend
/// (reverse). In the cache line right after its flow entry (FlowTable::Slot): forwarding a
/// TCP segment reads both, and the line next to one just loaded costs least; UDP never
/// touches it.
struct TcpWindow {
  TcpPeer peer[2];
};
static_assert(sizeof(TcpWindow) == 32);

/// FlowEntry::tcpPeerBits, one byte per side: the window scale from its SYN (low four
/// bits) and two flags.
inline constexpr uint8_t kTcpScaleMask = 0x0f;
inline constexpr uint8_t kTcpWindowScaleSeen = 0x10;  // its SYN carried the window scale option
inline constexpr uint8_t kTcpMaxAckSet = 0x20;        // TcpPeer::maxAck holds an ack it sent

/// One connection: exactly one cache line, so that the prefetch the worker issues after
/// the burst's bulk lookup brings in everything forwarding a packet reads and writes.
struct alignas(64) FlowEntry {
  FlowKey forward;              // client -> frontend, as received
  FlowKey reverse;              // backend -> SNAT address, as the reply will arrive
  uint64_t expiresAt = 0;       // TSC
  rte_ether_addr clientHop;     // MAC the client's packets came from; replies go back there
  uint16_t clientPort = 0;      // index of the port facing the client
  uint16_t backendPort = 0;     // index of the port facing the backend; with kViaKernel set:
                                // the backend is on this node, behind that port's exception
                                // interface (exception_path.hpp)
  TcpState tcpState = TcpState::None;
  bool sawReply = false;        // a reply came back (UDP: the stream timeout applies)
  uint8_t finSeen = 0;          // TCP: 1 client sent FIN, 2 backend sent FIN
  bool live = false;
  uint16_t neighborSlot = kNoNeighborSlot;  // the next hop's NeighborTable slot, once known:
                                // forwarding then reads the MAC without a table search
  uint32_t serviceId = 0;       // the service port that chose the backend (ServiceEntry::serviceId)
  uint16_t neighborGeneration = 0;  // the slot's generation when neighborSlot was taken
  uint8_t tcpPeerBits[2] = {0, 0};  // TCP: per side as TcpWindow::peer, window scale and flags

  static constexpr uint16_t kNoNeighborSlot = 0xffff;
  static constexpr uint16_t kViaKernel = 0x8000;  // in backendPort

  /// What early drop keeps (FlowTable::evictUnassured): a TCP connection that is
  /// established, or half-closed (CLOSE_WAIT: one side closed, the other may still send
  /// for as long as tcpCloseWaitTimeout), and UDP that has seen a reply. Half-open
  /// connections and ones that are closing (FIN_WAIT before the FIN is acknowledged,
  /// LAST_ACK, TIME_WAIT, CLOSE) are evicted first, as the attacks fill the table
  /// with exactly those. (Linux keeps a connection "assured" through its close; a flood
  /// of closing connections is cheap to make here, so nicproxy does not.)
  bool assured() const {
    return forward.protocol == IPPROTO_TCP
               ? (tcpState == TcpState::Established || tcpState == TcpState::CloseWait)
               : sawReply;
  }
};
static_assert(sizeof(FlowEntry) == 64, "a flow entry is one cache line");

class FlowTable {
 public:
  /// Creates a table for `capacity` connections on `socket`. Throws std::runtime_error.
  FlowTable(const std::string& name, uint32_t capacity, int socket);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  /// Looks up `count` keys (at most RTE_HASH_LOOKUP_BULK_MAX). Bit i of the result is
  /// set when keys[i] was found; then values[i] holds its encoded (index, direction).
  uint64_t lookupBulk(const FlowKey** keys, uint32_t count, uint64_t* values) const;
  /// Single lookup; false when absent.
  bool lookup(const FlowKey& key, uint64_t& value) const;
  bool contains(const FlowKey& key) const { return rte_hash_lookup(hash_, &key) >= 0; }

  static uint32_t entryIndex(uint64_t value) { return static_cast<uint32_t>(value >> 1); }
  static FlowDirection direction(uint64_t value) { return static_cast<FlowDirection>(value & 1); }

  FlowEntry& entry(uint32_t index) { return slots_[index].entry; }
  /// The TCP windows of entry `index` (reset by insert(); meaningless for UDP).
  TcpWindow& window(uint32_t index) { return slots_[index].window; }
  const TcpWindow& window(uint32_t index) const { return slots_[index].window; }
  /// Starts loading an entry's cache line (after a bulk lookup, before the entries are used).
  void prefetch(uint32_t index) const { rte_prefetch0(&slots_[index].entry); }
  /// The same for its TCP windows.
  void prefetchWindow(uint32_t index) const { rte_prefetch0(&slots_[index].window); }
  /// Changes with every insert and remove: a lookup result taken at one value is still
  /// true while the value is the same.
  uint64_t changes() const { return changes_; }
  const FlowEntry& entry(uint32_t index) const { return slots_[index].entry; }

  /// Inserts a connection with both keys, neither of which may be present (rte_hash
  /// would overwrite). Returns its index, or -1 when the table is full.
  int64_t insert(const FlowKey& forward, const FlowKey& reverse);
  void remove(uint32_t index);

  /// True past the high-water mark (7/8 of the capacity): a new connection should first
  /// make room with evictUnassured().
  bool underPressure() const { return used_ >= highWater_; }
  /// Removes one live entry that is not assured (FlowEntry::assured), looking at no more
  /// than `scan` entries from where the previous call stopped: conntrack's early drop.
  /// Half-open and closing connections go; established and half-closed ones are never
  /// touched. False when none was found in the scan.
  bool evictUnassured(uint32_t scan);
  /// The same, for a connection to the backend of reply key `reverse` (its sourceAddress,
  /// sourcePort and protocol): when every SNAT port to that backend is taken, a new
  /// connection takes the SNAT address and port of one that is not assured, which this
  /// writes into `reverse` (destinationAddress, destinationPort). False when none was
  /// found in the scan.
  bool evictUnassuredTo(FlowKey& reverse, uint32_t scan);

  /// Removes up to `budget` expired entries, scanning at most 4 x budget slots from where
  /// the previous call stopped, so that expiry is a bounded slice of work per loop.
  uint32_t expire(uint64_t now, uint32_t budget);

  uint32_t size() const { return used_; }
  uint32_t capacity() const { return capacity_; }

 private:
  rte_hash* hash_ = nullptr;
  // A connection's entry and, in the next cache line, its TCP windows. Measured with
  // nicproxy-bench (100,000 flows): the windows in a separate array cost a TCP packet
  // about 7 cycles more than the adjacent line.
  struct alignas(64) Slot {
    FlowEntry entry;
    TcpWindow window;
  };
  static_assert(sizeof(Slot) == 128);
  Slot* slots_ = nullptr;
  uint32_t* freeList_ = nullptr;  // stack of free entry indices
  uint32_t freeCount_ = 0;
  uint32_t capacity_ = 0;
  uint32_t used_ = 0;
  uint32_t expiryCursor_ = 0;
  uint32_t evictionCursor_ = 0;
  uint32_t highWater_ = 0;
  uint64_t changes_ = 0;
};

}  // namespace nicproxy

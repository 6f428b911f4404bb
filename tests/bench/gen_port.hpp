#pragma once
// nicproxy-gen's side of the memif link: EAL on one lcore, the memif port and its
// mempool, and a transmit buffer that remembers what each frame was, so that frames the
// ring refuses are counted as lost in their own category (a full ring is what a NIC's
// full receive queue is: the device under test did not take them in time).
#include <array>
#include <cstdint>
#include <string>

#include <rte_ether.h>
#include <rte_mbuf.h>

namespace nicproxy::bench {

/// What a transmitted frame was, for the refusal counts.
enum class TxKind : uint8_t { Request, Answer, Handshake, Flood, FloodAnswer, Arp, Count };
inline constexpr size_t kTxKinds = static_cast<size_t>(TxKind::Count);

struct EalSetup {
  std::string device;       // the memif vdev string (role=client)
  unsigned cpu = 0;         // the one lcore runs on this CPU
  std::string filePrefix;
};

class GenPort {
 public:
  /// Initialises the EAL (--no-huge: memif copies frames between the processes through
  /// its own shared memory, so the mempool need not be shareable) and starts the port.
  explicit GenPort(const EalSetup& setup);
  ~GenPort();
  GenPort(const GenPort&) = delete;
  GenPort& operator=(const GenPort&) = delete;

  /// Waits for the memif peer to connect; false after `seconds`.
  bool waitForLink(double seconds) const;

  uint16_t id() const { return port_; }
  rte_mempool* pool() const { return pool_; }
  const rte_ether_addr& mac() const { return mac_; }

  /// Queues a frame of `kind` counted under `trial`; it leaves at the next flush (or
  /// when the buffer is full).
  void send(rte_mbuf* m, TxKind kind, uint8_t trial) {
    sent_[trial][static_cast<size_t>(kind)]++;
    packets_[count_] = m;
    tags_[count_] = Tag{kind, trial};
    if (++count_ == kTxBuffer) flush();
  }
  void flush();

  /// Frames handed to send() and frames the ring refused, per trial and kind.
  uint64_t sent(uint8_t trial, TxKind kind) const { return sent_[trial][static_cast<size_t>(kind)]; }
  uint64_t refused(uint8_t trial, TxKind kind) const { return refused_[trial][static_cast<size_t>(kind)]; }

  /// Stops and closes the port. Call only once the peer has gone or is no longer
  /// polling: net_memif in DPDK 22.11 unmaps the shared rings from its interrupt thread
  /// while the other side's data path may still be reading them.
  void close();

 private:
  static constexpr uint16_t kTxBuffer = 64;
  uint16_t port_ = 0;
  rte_mempool* pool_ = nullptr;
  rte_ether_addr mac_{};
  bool open_ = false;
  std::array<rte_mbuf*, kTxBuffer> packets_{};
  struct Tag {
    TxKind kind;
    uint8_t trial;
  };
  std::array<Tag, kTxBuffer> tags_{};
  uint16_t count_ = 0;
  std::array<std::array<uint64_t, kTxKinds>, 256> sent_{};
  std::array<std::array<uint64_t, kTxKinds>, 256> refused_{};
};

}  // namespace nicproxy::bench

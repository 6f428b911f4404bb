#pragma once
// One TCP connection driven through a Harness with the sequence numbers both ends of a
// real connection would use, as a tracker that checks windows (tcp_tracker.hpp) expects:
// the client's SYN, the backend's SYN-ACK, the client's ACK, then segments either way.
// The backend and the SNAT port are read from the SYN nicproxy forwards. Addresses and
// MACs are the harness's (harness.hpp).
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "tests/dpdk/frames.hpp"
#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"

namespace nicproxy::testing {

/// The MAC of a harness backend address (harness.hpp learns them, except the dark one's).
inline Mac backendMacOf(uint32_t address) {
  switch (address) {
    case kBackendIp: return kBackendMac;
    case kBackend2Ip: return kBackend2Mac;
    case kBackend3Ip: return kBackend3Mac;
    case kDarkBackendIp: return kDarkBackendMac;
    case kFarBackendIp: return kFarBackendMac;
    default: return Mac{0x02, 0, 0, 0, 0, static_cast<uint8_t>(address)};
  }
}

class TcpSession {
 public:
  TcpSession(Harness& h, uint32_t vip, uint16_t vport, uint16_t clientPort = 40000, uint16_t worker = 0)
      : h_(h), vip_(vip), vport_(vport), clientPort_(clientPort), worker_(worker) {}

  static constexpr uint32_t kClientIsn = 0x11223344;
  static constexpr uint32_t kBackendIsn = 0x55667788;

  /// The client's SYN; on success (one frame forwarded) the backend side is known.
  std::vector<Sent> syn() {
    std::vector<Sent> sent = h_.run(client(kTcpSyn).build(), 0, worker_);
    if (sent.size() == 1 && sent[0].frame.size() > kEthLength + kIpv4Length) {
      backendPortIndex_ = sent[0].port;
      backendIp_ = destinationIpOf(sent[0].frame);
      snatIp_ = read32(sent[0].frame, kEthLength + 12);
      snatPort_ = sourcePortOf(sent[0].frame);
      backendPort_ = read16(sent[0].frame, l4Offset(sent[0].frame) + 2);
      clientNext_ = kClientIsn + 1;
    }
    return sent;
  }
  /// The backend's SYN-ACK (needs syn() first).
  std::vector<Sent> synAck() {
    std::vector<Sent> sent = sendBackend(kTcpSyn | kTcpAck);
    return sent;
  }
  /// SYN, SYN-ACK, ACK; throws unless each was forwarded.
  void open() {
    if (syn().size() != 1) throw std::runtime_error("TcpSession: the SYN was not forwarded");
    if (synAck().size() != 1) throw std::runtime_error("TcpSession: the SYN-ACK was not forwarded");
    if (sendClient(kTcpAck).size() != 1) throw std::runtime_error("TcpSession: the ACK was not forwarded");
  }

  /// A segment from the client at its next sequence number, acknowledging all the
  /// backend sent (not sent, nothing advances).
  TcpFrame client(uint8_t flags, const Bytes& payload = {}) const {
    TcpFrame f = clientTcp(vip_, vport_, clientPort_, flags);
    f.tcp.seq = (flags & kTcpSyn) != 0 ? kClientIsn : clientNext_;
    f.tcp.ack = (flags & kTcpAck) != 0 ? backendNext_ : 0;
    f.tcp.payload = payload;
    return f;
  }
  /// The same from the backend, to the SNAT address and port.
  TcpFrame backend(uint8_t flags, const Bytes& payload = {}) const {
    TcpFrame f;
    f.eth = EthSpec{backendPortIndex_ == 0 ? kPort0Mac : kPort1Mac, backendMacOf(backendIp_)};
    f.ip.source = backendIp_;
    f.ip.destination = snatIp_;
    f.tcp.sourcePort = backendPort_;
    f.tcp.destinationPort = snatPort_;
    f.tcp.seq = (flags & kTcpSyn) != 0 ? kBackendIsn : backendNext_;
    f.tcp.ack = (flags & kTcpAck) != 0 ? clientNext_ : 0;
    f.tcp.flags = flags;
    f.tcp.payload = payload;
    return f;
  }
  /// Sends client(flags, payload) and advances the client's sequence number.
  std::vector<Sent> sendClient(uint8_t flags, const Bytes& payload = {}) {
    const TcpFrame f = client(flags, payload);
    clientNext_ = f.tcp.seq + static_cast<uint32_t>(payload.size()) + ((flags & (kTcpSyn | kTcpFin)) != 0 ? 1 : 0);
    return h_.run(f.build(), 0, worker_);
  }
  /// Sends backend(flags, payload) on the port facing the backend and advances its number.
  std::vector<Sent> sendBackend(uint8_t flags, const Bytes& payload = {}) {
    const TcpFrame f = backend(flags, payload);
    backendNext_ = f.tcp.seq + static_cast<uint32_t>(payload.size()) + ((flags & (kTcpSyn | kTcpFin)) != 0 ? 1 : 0);
    return h_.run(f.build(), backendPortIndex_, worker_);
  }

  uint32_t backendIp() const { return backendIp_; }
  uint16_t backendPort() const { return backendPort_; }
  uint16_t snatPort() const { return snatPort_; }
  uint32_t snatIp() const { return snatIp_; }
  uint16_t clientPort() const { return clientPort_; }
  uint32_t clientNext() const { return clientNext_; }
  uint32_t backendNext() const { return backendNext_; }

 private:
  Harness& h_;
  uint32_t vip_;
  uint16_t vport_;
  uint16_t clientPort_;
  uint16_t worker_;
  uint16_t backendPortIndex_ = 0;
  uint32_t backendIp_ = 0;
  uint32_t snatIp_ = 0;
  uint16_t snatPort_ = 0;
  uint16_t backendPort_ = 0;
  uint32_t clientNext_ = kClientIsn;
  uint32_t backendNext_ = kBackendIsn;
};

}  // namespace nicproxy::testing

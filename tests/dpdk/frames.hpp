#pragma once
// Frame builders for the dpdk tests: Ethernet, IPv4, TCP, UDP, ICMP and ARP, written
// byte by byte in network order. Every checksum is computed from scratch with the
// RFC 1071 sum below, never with DPDK's helpers and never incrementally, so that a
// test that compares the data path's output with a frame built here checks the data
// path's incremental checksum updates independently.
//
// No DPDK here: these are plain bytes. Addresses in the specs are host order
// (ipv4(10, 50, 0, 1)); the builders write them big-endian.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nicproxy::testing {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoGre = 47;

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

inline constexpr size_t kEthLength = 14;
inline constexpr size_t kIpv4Length = 20;

constexpr uint32_t ipv4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}
inline constexpr Mac kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline constexpr Mac kZeroMac{0, 0, 0, 0, 0, 0};

/// RFC 1071: the one's complement of the one's complement sum of 16-bit big-endian
/// words; an odd trailing byte is padded with zero. `initial` carries a partial sum
/// (the pseudo-header).
uint32_t onesComplementSum(const uint8_t* data, size_t length, uint32_t initial = 0);
uint16_t internetChecksum(const uint8_t* data, size_t length, uint32_t initial = 0);

void put16(Bytes& out, uint16_t value);
void put32(Bytes& out, uint32_t value);
void putMac(Bytes& out, const Mac& mac);
uint16_t read16(const Bytes& frame, size_t offset);
uint32_t read32(const Bytes& frame, size_t offset);

struct Ipv4Spec {
  uint32_t source = 0;
  uint32_t destination = 0;
  uint8_t protocol = kProtoTcp;
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 0x1234;
  uint16_t fragment = 0x4000;          // flags + offset; DF by default
  Bytes options;                       // padded by the caller to a multiple of 4
  std::optional<uint8_t> ihl;          // override (garbage tests)
  std::optional<uint16_t> totalLength; // override (garbage tests)
};

struct TcpSpec {
  uint16_t sourcePort = 0;
  uint16_t destinationPort = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = kTcpSyn;
  uint16_t window = 64240;
  uint16_t urgent = 0;
  Bytes options;                       // multiple of 4
  Bytes payload;
  std::optional<uint8_t> dataOffset;   // override, in 32-bit words
};

struct UdpSpec {
  uint16_t sourcePort = 0;
  uint16_t destinationPort = 0;
  Bytes payload;
  bool noChecksum = false;             // send 0 ("no checksum", RFC 768)
  std::optional<uint16_t> length;      // override
};

struct EthSpec {
  Mac destination{};
  Mac source{};
};

/// An IPv4 packet (header with a from-scratch checksum, then `l4` as given).
Bytes ipv4Packet(const Ipv4Spec& ip, const Bytes& l4);
Bytes ethernetFrame(const EthSpec& eth, uint16_t etherType, const Bytes& payload);

struct TcpFrame {
  EthSpec eth;
  Ipv4Spec ip;
  TcpSpec tcp;
  Bytes build() const;
};

struct UdpFrame {
  EthSpec eth;
  Ipv4Spec ip;
  UdpSpec udp;
  Bytes build() const;
};

struct IcmpFrame {
  EthSpec eth;
  Ipv4Spec ip;  // protocol is forced to ICMP
  uint8_t type = 8;
  uint8_t code = 0;
  uint32_t rest = 0;  // identifier/sequence, or "unused" for errors
  Bytes data;
  Bytes build() const;
};

/// An ICMP error (destination unreachable, time exceeded, parameter problem) from `ip`
/// quoting the first `quoteLength` bytes of the IPv4 packet in `quotedFrame` (an Ethernet
/// frame; the quote leaves its Ethernet header out, and ends with the packet if that is
/// shorter), as a router sends it. `rest` is the word after the checksum: the next-hop
/// MTU of "fragmentation needed" in its low 16 bits, parameter problem's pointer in its
/// top byte.
IcmpFrame icmpError(const EthSpec& eth, const Ipv4Spec& ip, uint8_t type, uint8_t code, uint32_t rest,
                    const Bytes& quotedFrame, size_t quoteLength);

struct ArpFrame {
  EthSpec eth;
  uint16_t opcode = 1;  // 1 request, 2 reply
  Mac senderMac{};
  uint32_t senderIp = 0;
  Mac targetMac{};
  uint32_t targetIp = 0;
  size_t padTo = 0;  // pad the frame with zeros to this length (60: minimum frame)
  Bytes build() const;
};

/// Offset of the L4 header in an Ethernet + IPv4 frame (reads the IHL).
size_t l4Offset(const Bytes& frame);
std::string hexDump(const Bytes& frame);

}  // namespace nicproxy::testing

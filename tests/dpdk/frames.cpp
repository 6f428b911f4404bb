#include "tests/dpdk/frames.hpp"

#include <cstdio>

namespace nicproxy::testing {

uint32_t onesComplementSum(const uint8_t* data, size_t length, uint32_t initial) {
  uint64_t sum = initial;
  size_t i = 0;
  for (; i + 1 < length; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (i < length) sum += static_cast<uint32_t>(data[i] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint32_t>(sum);
}

uint16_t internetChecksum(const uint8_t* data, size_t length, uint32_t initial) {
  return static_cast<uint16_t>(~onesComplementSum(data, length, initial));
}

void put16(Bytes& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

void put32(Bytes& out, uint32_t value) {
  put16(out, static_cast<uint16_t>(value >> 16));
  put16(out, static_cast<uint16_t>(value));
}

void putMac(Bytes& out, const Mac& mac) { out.insert(out.end(), mac.begin(), mac.end()); }

uint16_t read16(const Bytes& frame, size_t offset) {
  return static_cast<uint16_t>(frame.at(offset) << 8 | frame.at(offset + 1));
}

uint32_t read32(const Bytes& frame, size_t offset) {
  return static_cast<uint32_t>(read16(frame, offset)) << 16 | read16(frame, offset + 2);
}

namespace {

void set16(Bytes& out, size_t offset, uint16_t value) {
  out[offset] = static_cast<uint8_t>(value >> 8);
  out[offset + 1] = static_cast<uint8_t>(value);
}

/// The TCP/UDP pseudo-header's partial sum (RFC 793, RFC 768).
uint32_t pseudoHeaderSum(const Ipv4Spec& ip, uint8_t protocol, size_t l4Length) {
  Bytes pseudo;
  put32(pseudo, ip.source);
  put32(pseudo, ip.destination);
  pseudo.push_back(0);
  pseudo.push_back(protocol);
  put16(pseudo, static_cast<uint16_t>(l4Length));
  return onesComplementSum(pseudo.data(), pseudo.size());
}

}  // namespace

Bytes ipv4Packet(const Ipv4Spec& ip, const Bytes& l4) {
  const size_t headerLength = kIpv4Length + ip.options.size();
  Bytes out;
  const uint8_t ihl = ip.ihl.value_or(static_cast<uint8_t>(headerLength / 4));
  out.push_back(static_cast<uint8_t>(0x40 | (ihl & 0x0f)));
  out.push_back(ip.tos);
  put16(out, ip.totalLength.value_or(static_cast<uint16_t>(headerLength + l4.size())));
  put16(out, ip.id);
  put16(out, ip.fragment);
  out.push_back(ip.ttl);
  out.push_back(ip.protocol);
  put16(out, 0);
  put32(out, ip.source);
  put32(out, ip.destination);
  out.insert(out.end(), ip.options.begin(), ip.options.end());
  set16(out, 10, internetChecksum(out.data(), headerLength));
  out.insert(out.end(), l4.begin(), l4.end());
  return out;
}

Bytes ethernetFrame(const EthSpec& eth, uint16_t etherType, const Bytes& payload) {
  Bytes out;
  putMac(out, eth.destination);
  putMac(out, eth.source);
  put16(out, etherType);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Bytes TcpFrame::build() const {
  Bytes seg;
  put16(seg, tcp.sourcePort);
  put16(seg, tcp.destinationPort);
  put32(seg, tcp.seq);
  put32(seg, tcp.ack);
  const uint8_t offset = tcp.dataOffset.value_or(static_cast<uint8_t>((20 + tcp.options.size()) / 4));
  seg.push_back(static_cast<uint8_t>(offset << 4));
  seg.push_back(tcp.flags);
  put16(seg, tcp.window);
  put16(seg, 0);
  put16(seg, tcp.urgent);
  seg.insert(seg.end(), tcp.options.begin(), tcp.options.end());
  seg.insert(seg.end(), tcp.payload.begin(), tcp.payload.end());
  Ipv4Spec header = ip;
  header.protocol = kProtoTcp;
  set16(seg, 16, internetChecksum(seg.data(), seg.size(), pseudoHeaderSum(header, kProtoTcp, seg.size())));
  return ethernetFrame(eth, kEtherTypeIpv4, ipv4Packet(header, seg));
}

Bytes UdpFrame::build() const {
  Bytes dgram;
  put16(dgram, udp.sourcePort);
  put16(dgram, udp.destinationPort);
  put16(dgram, udp.length.value_or(static_cast<uint16_t>(8 + udp.payload.size())));
  put16(dgram, 0);
  dgram.insert(dgram.end(), udp.payload.begin(), udp.payload.end());
  Ipv4Spec header = ip;
  header.protocol = kProtoUdp;
  if (!udp.noChecksum) {
    uint16_t check = internetChecksum(dgram.data(), dgram.size(), pseudoHeaderSum(header, kProtoUdp, dgram.size()));
    if (check == 0) check = 0xffff;  // RFC 768: a computed zero is sent as all ones
    set16(dgram, 6, check);
  }
  return ethernetFrame(eth, kEtherTypeIpv4, ipv4Packet(header, dgram));
}

Bytes IcmpFrame::build() const {
  Bytes msg;
  msg.push_back(type);
  msg.push_back(code);
  put16(msg, 0);
  put32(msg, rest);
  msg.insert(msg.end(), data.begin(), data.end());
  set16(msg, 2, internetChecksum(msg.data(), msg.size()));
  Ipv4Spec header = ip;
  header.protocol = kProtoIcmp;
  return ethernetFrame(eth, kEtherTypeIpv4, ipv4Packet(header, msg));
}

IcmpFrame icmpError(const EthSpec& eth, const Ipv4Spec& ip, uint8_t type, uint8_t code, uint32_t rest,
                    const Bytes& quotedFrame, size_t quoteLength) {
  IcmpFrame f;
  f.eth = eth;
  f.ip = ip;
  f.type = type;
  f.code = code;
  f.rest = rest;
  const size_t available = quotedFrame.size() - kEthLength;
  const size_t length = quoteLength < available ? quoteLength : available;
  f.data.assign(quotedFrame.begin() + kEthLength, quotedFrame.begin() + static_cast<std::ptrdiff_t>(kEthLength + length));
  return f;
}

Bytes ArpFrame::build() const {
  Bytes arp;
  put16(arp, 1);       // Ethernet
  put16(arp, 0x0800);  // IPv4
  arp.push_back(6);
  arp.push_back(4);
  put16(arp, opcode);
  putMac(arp, senderMac);
  put32(arp, senderIp);
  putMac(arp, targetMac);
  put32(arp, targetIp);
  Bytes frame = ethernetFrame(eth, kEtherTypeArp, arp);
  if (frame.size() < padTo) frame.resize(padTo, 0);
  return frame;
}

size_t l4Offset(const Bytes& frame) { return kEthLength + static_cast<size_t>(frame.at(kEthLength) & 0x0f) * 4; }

std::string hexDump(const Bytes& frame) {
  std::string out;
  char byte[4];
  for (size_t i = 0; i < frame.size(); ++i) {
    std::snprintf(byte, sizeof byte, "%02x", frame[i]);
    out += byte;
    out += (i % 16 == 15) ? '\n' : ' ';
  }
  return out;
}

}  // namespace nicproxy::testing

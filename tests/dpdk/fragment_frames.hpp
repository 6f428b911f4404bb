#pragma once
// IPv4 fragments for the dpdk tests, built and put back together byte by byte (RFC 791),
// independently of DPDK: a test that compares the reassembly of what the worker sent with
// a datagram built from scratch checks the worker's reassembly, NAT and fragmentation.
#include <algorithm>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/dpdk/frames.hpp"

namespace nicproxy::testing {

/// Bytes [offset, offset + length) of a datagram's IP payload, sent as one fragment;
/// `more` is its MF flag.
struct Piece {
  size_t offset;
  size_t length;
  bool more;
};

namespace fragment_detail {

inline size_t ipHeaderLength(const Bytes& frame) { return static_cast<size_t>(frame.at(kEthLength) & 0x0f) * 4; }

inline void setIpField16(Bytes& frame, size_t field, uint16_t value) {
  frame.at(kEthLength + field) = static_cast<uint8_t>(value >> 8);
  frame.at(kEthLength + field + 1) = static_cast<uint8_t>(value);
}

/// Writes the header checksum of `frame`'s IP header from scratch.
inline void rewriteIpChecksum(Bytes& frame) {
  const size_t headerLength = ipHeaderLength(frame);
  setIpField16(frame, 10, 0);
  setIpField16(frame, 10, internetChecksum(frame.data() + kEthLength, headerLength));
}

}  // namespace fragment_detail

/// `frame` (Ethernet + IPv4 + payload) cut into `pieces`: each gets the frame's Ethernet
/// and IP headers (options included) with its own total length, offset and MF flag (DF as
/// in `frame`), and a header checksum computed from scratch. Pieces may overlap, repeat or
/// leave holes: that is what some tests are about.
inline std::vector<Bytes> fragmentFrame(const Bytes& frame, const std::vector<Piece>& pieces) {
  using namespace fragment_detail;
  const size_t headerLength = ipHeaderLength(frame);
  const size_t payloadStart = kEthLength + headerLength;
  const uint16_t dontFragment = read16(frame, kEthLength + 6) & 0x4000;
  std::vector<Bytes> out;
  for (const Piece& p : pieces) {
    if (p.offset % 8 != 0) throw std::invalid_argument("fragment offsets are multiples of 8");
    Bytes f(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(payloadStart));
    const size_t end = std::min(payloadStart + p.offset + p.length, frame.size());
    f.insert(f.end(), frame.begin() + static_cast<std::ptrdiff_t>(payloadStart + p.offset),
             frame.begin() + static_cast<std::ptrdiff_t>(end));
    setIpField16(f, 2, static_cast<uint16_t>(f.size() - kEthLength));
    setIpField16(f, 6, static_cast<uint16_t>(dontFragment | (p.more ? 0x2000 : 0) | (p.offset / 8)));
    rewriteIpChecksum(f);
    out.push_back(std::move(f));
  }
  return out;
}

/// `frame` in fragments of `size` payload bytes (a multiple of 8), the last one shorter.
inline std::vector<Bytes> splitFrame(const Bytes& frame, size_t size) {
  const size_t payload = frame.size() - kEthLength - fragment_detail::ipHeaderLength(frame);
  std::vector<Piece> pieces;
  for (size_t offset = 0; offset < payload; offset += size) {
    pieces.push_back(Piece{offset, std::min(size, payload - offset), offset + size < payload});
  }
  return fragmentFrame(frame, pieces);
}

/// What a receiver makes of `fragments` (RFC 791): the first fragment's Ethernet and IP
/// headers with the total length of the whole, offset and MF cleared (DF kept) and the
/// header checksum from scratch, then the payloads in offset order. Throws when they do not
/// make one datagram: mixed ids, a hole, an overlap, no last fragment.
inline Bytes reassembleFrames(const std::vector<Bytes>& fragments) {
  using namespace fragment_detail;
  if (fragments.empty()) throw std::invalid_argument("no fragments");
  std::map<size_t, const Bytes*> byOffset;
  size_t total = 0;
  bool sawLast = false;
  for (const Bytes& f : fragments) {
    if (read16(f, kEthLength + 4) != read16(fragments[0], kEthLength + 4)) throw std::invalid_argument("mixed IP ids");
    const uint16_t field = read16(f, kEthLength + 6);
    const size_t offset = static_cast<size_t>(field & 0x1fff) * 8;
    const size_t length = read16(f, kEthLength + 2) - ipHeaderLength(f);
    if (!byOffset.emplace(offset, &f).second) throw std::invalid_argument("two fragments at one offset");
    if ((field & 0x2000) == 0) {
      sawLast = true;
      total = offset + length;
    }
  }
  if (!sawLast) throw std::invalid_argument("no last fragment");
  const Bytes& first = *byOffset.begin()->second;
  if (byOffset.begin()->first != 0) throw std::invalid_argument("no first fragment");
  const size_t headerLength = ipHeaderLength(first);
  Bytes out(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(kEthLength + headerLength));
  for (const auto& [offset, f] : byOffset) {
    if (offset != out.size() - kEthLength - headerLength) {
      throw std::invalid_argument("hole or overlap at offset " + std::to_string(offset));
    }
    const size_t start = kEthLength + ipHeaderLength(*f);
    const size_t end = kEthLength + read16(*f, kEthLength + 2);
    out.insert(out.end(), f->begin() + static_cast<std::ptrdiff_t>(start), f->begin() + static_cast<std::ptrdiff_t>(end));
  }
  if (out.size() - kEthLength - headerLength != total) throw std::invalid_argument("length differs from the last fragment's end");
  setIpField16(out, 2, static_cast<uint16_t>(out.size() - kEthLength));
  setIpField16(out, 6, read16(first, kEthLength + 6) & 0x4000);
  rewriteIpChecksum(out);
  return out;
}

/// True when the IP header checksum of `frame` verifies.
inline bool ipChecksumValid(const Bytes& frame) {
  return internetChecksum(frame.data() + kEthLength, fragment_detail::ipHeaderLength(frame)) == 0;
}

/// A payload of `length` bytes that differs at every position modulo 251, so a misplaced
/// fragment shows.
inline Bytes patternPayload(size_t length) {
  Bytes out(length);
  for (size_t i = 0; i < length; ++i) out[i] = static_cast<uint8_t>(i % 251);
  return out;
}

}  // namespace nicproxy::testing

#pragma once
// Incremental Internet checksum updates (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
// One's-complement sums do not depend on byte order as long as every word is taken
// the same way, so these work on header fields exactly as stored (network order).
#include <cstdint>

namespace nicproxy {

inline uint16_t foldChecksum(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

/// Updates `check` for one 16-bit field going from `from` to `to`.
inline uint16_t checksumReplace16(uint16_t check, uint16_t from, uint16_t to) {
  uint32_t sum = static_cast<uint16_t>(~check);
  sum += static_cast<uint16_t>(~from);
  sum += to;
  return static_cast<uint16_t>(~foldChecksum(sum));
}

/// Updates `check` for one 32-bit field (an address) going from `from` to `to`.
inline uint16_t checksumReplace32(uint16_t check, uint32_t from, uint32_t to) {
  uint32_t sum = static_cast<uint16_t>(~check);
  sum += static_cast<uint16_t>(~from) + static_cast<uint16_t>(~(from >> 16));
  sum += (to & 0xffff) + (to >> 16);
  return static_cast<uint16_t>(~foldChecksum(sum));
}

}  // namespace nicproxy

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

/// The one's-complement terms (~from + to) of one 32-bit field's change, for checksumApply():
/// several fields' terms can be added up and folded once.
inline uint32_t checksumTerms32(uint32_t from, uint32_t to) {
  return static_cast<uint32_t>(static_cast<uint16_t>(~from)) + static_cast<uint16_t>(~(from >> 16)) + (to & 0xffff) +
         (to >> 16);
}

/// The same for one 16-bit field.
inline uint32_t checksumTerms16(uint16_t from, uint16_t to) { return static_cast<uint16_t>(~from) + uint32_t{to}; }

/// Applies summed terms to `check` (RFC 1624 eqn. 3 for all the changed fields at once:
/// one's-complement addition is associative, so the carries can be folded at the end).
/// `terms` must stay below 2^31: a handful of fields' terms do.
inline uint16_t checksumApply(uint16_t check, uint32_t terms) {
  return static_cast<uint16_t>(~foldChecksum(static_cast<uint16_t>(~check) + terms));
}

}  // namespace nicproxy

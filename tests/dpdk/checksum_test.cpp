// Incremental checksum updates (dpdk_app/checksum.hpp) against a from-scratch RFC 1071
// sum over random buffers, with a fixed seed so that a failure reproduces.
// Test addresses: none (random 16- and 32-bit words).
#include <algorithm>
#include <cstring>
#include <random>

#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include "dpdk_app/checksum.hpp"
#include "tests/dpdk/frames.hpp"

namespace nicproxy::testing {
namespace {

// The data path reads fields and checksums as they sit in memory (network order).
uint16_t load16(const Bytes& b, size_t offset) {
  uint16_t v;
  std::memcpy(&v, b.data() + offset, sizeof v);
  return v;
}
uint32_t load32(const Bytes& b, size_t offset) {
  uint32_t v;
  std::memcpy(&v, b.data() + offset, sizeof v);
  return v;
}
uint16_t storedChecksum(const Bytes& b) { return rte_cpu_to_be_16(internetChecksum(b.data(), b.size())); }
// All-zero data has two valid checksums, 0x0000 and 0xffff (RFC 1624 section 3); no
// real header is all zeros, so such rounds are skipped rather than compared.
bool allZero(const Bytes& b) { return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; }); }

TEST(Checksum, FromScratchMatchesRfc1071Example) {
  // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
  const Bytes data{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(onesComplementSum(data.data(), data.size()), 0xddf2u);
  EXPECT_EQ(internetChecksum(data.data(), data.size()), 0x220d);
}

TEST(Checksum, Replace16MatchesRecomputation) {
  std::mt19937 rng(1071);
  for (int round = 0; round < 20000; ++round) {
    Bytes buffer(2 * (1 + rng() % 40));
    for (uint8_t& b : buffer) b = static_cast<uint8_t>(rng());
    const size_t offset = 2 * (rng() % (buffer.size() / 2));
    const uint16_t before = storedChecksum(buffer);
    const uint16_t from = load16(buffer, offset);
    // Every tenth round writes an extreme value.
    const uint16_t to = round % 10 == 0 ? static_cast<uint16_t>(round % 20 == 0 ? 0x0000 : 0xffff)
                                        : static_cast<uint16_t>(rng());
    std::memcpy(buffer.data() + offset, &to, sizeof to);
    if (allZero(buffer)) continue;
    ASSERT_EQ(checksumReplace16(before, from, to), storedChecksum(buffer)) << "round " << round;
  }
}

TEST(Checksum, Replace32MatchesRecomputation) {
  std::mt19937 rng(1624);
  for (int round = 0; round < 20000; ++round) {
    Bytes buffer(4 * (1 + rng() % 20));
    for (uint8_t& b : buffer) b = static_cast<uint8_t>(rng());
    const size_t offset = 2 * (rng() % (buffer.size() / 2 - 1));  // addresses may sit on any 16-bit boundary
    const uint16_t before = storedChecksum(buffer);
    const uint32_t from = load32(buffer, offset);
    const uint32_t to = round % 10 == 0 ? (round % 20 == 0 ? 0u : 0xffffffffu) : static_cast<uint32_t>(rng());
    std::memcpy(buffer.data() + offset, &to, sizeof to);
    if (allZero(buffer)) continue;
    ASSERT_EQ(checksumReplace32(before, from, to), storedChecksum(buffer)) << "round " << round;
  }
}

TEST(Checksum, ChainedReplacementsLikeANatRewrite) {
  // Two addresses and two ports changed one after the other, as applyTranslation does.
  std::mt19937 rng(768);
  for (int round = 0; round < 5000; ++round) {
    Bytes buffer(40);
    for (uint8_t& b : buffer) b = static_cast<uint8_t>(rng());
    uint16_t check = storedChecksum(buffer);
    for (size_t offset : {12u, 16u}) {
      const uint32_t from = load32(buffer, offset);
      const uint32_t to = static_cast<uint32_t>(rng());
      std::memcpy(buffer.data() + offset, &to, sizeof to);
      check = checksumReplace32(check, from, to);
    }
    for (size_t offset : {20u, 22u}) {
      const uint16_t from = load16(buffer, offset);
      const uint16_t to = static_cast<uint16_t>(rng());
      std::memcpy(buffer.data() + offset, &to, sizeof to);
      check = checksumReplace16(check, from, to);
    }
    ASSERT_EQ(check, storedChecksum(buffer)) << "round " << round;
  }
}

TEST(Checksum, SummedTermsFoldedOnceLikeANatRewrite) {
  // Two addresses and two ports changed at once, their terms summed and folded once, as
  // applyTranslation does; every tenth round uses extreme values (all zeros, all ones).
  std::mt19937 rng(3022);
  for (int round = 0; round < 20000; ++round) {
    Bytes buffer(40);
    for (uint8_t& b : buffer) b = static_cast<uint8_t>(rng());
    const uint16_t before = storedChecksum(buffer);
    const bool extreme = round % 10 == 0;
    uint32_t terms = 0;
    for (size_t offset : {12u, 16u}) {
      const uint32_t from = load32(buffer, offset);
      const uint32_t to = extreme ? (round % 20 == 0 ? 0u : 0xffffffffu) : static_cast<uint32_t>(rng());
      std::memcpy(buffer.data() + offset, &to, sizeof to);
      terms += checksumTerms32(from, to);
    }
    for (size_t offset : {20u, 22u}) {
      const uint16_t from = load16(buffer, offset);
      const uint16_t to = extreme ? static_cast<uint16_t>(round % 20 == 0 ? 0 : 0xffff) : static_cast<uint16_t>(rng());
      std::memcpy(buffer.data() + offset, &to, sizeof to);
      terms += checksumTerms16(from, to);
    }
    if (allZero(buffer)) continue;
    ASSERT_EQ(checksumApply(before, terms), storedChecksum(buffer)) << "round " << round;
  }
}

}  // namespace
}  // namespace nicproxy::testing

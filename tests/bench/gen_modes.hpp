#pragma once
// nicproxy-gen's runs: trials at a set rate, the search for the highest rate without
// loss, TCP handshakes, and floods beside an established flow. Each prints one line per
// result (units in the line) and a `result ...` line of key=value pairs that
// scripts/bench_memif.sh reads.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/bench/gen_engine.hpp"
#include "tests/bench/gen_floods.hpp"

namespace nicproxy::bench {

/// Set by SIGINT/SIGTERM: every loop stops at its next turn.
extern std::atomic<bool> gStop;

enum class Proto : uint8_t { Udp, Tcp };

struct TrialSettings {
  Proto proto = Proto::Udp;
  double seconds = 1.0;       // sending time of one trial
  double drainSeconds = 0.2;  // receiving time after it, before counting
  uint64_t count = 0;         // stop after this many requests (0: none; `seconds` still bounds the trial)
  std::string dut = "nicproxy";
};

struct SearchSettings {
  double maxLoss = 0.001;    // the loss share a trial may have and still pass (0.001: 0.1 %)
  double precision = 0.02;   // stop when the pass/fail bounds are this close (share of the upper)
  unsigned maxTrials = 12;
};

struct FloodSettings {
  FloodKind kind = FloodKind::InvalidFlags;
  double seconds = 3.0;
  double floodRate = 0;       // frames per second; 0: as fast as the generator can
  double flowRate = 10000;    // the established flow's segments per second, each way
  double probeRate = 100;     // new connections per second opened during the flood
  double afterSeconds = 1.0;  // the established flow alone after the flood
};

/// Completes the handshakes of the engine's TCP flows (SYNs paced at `synRate` per
/// second, repeated every 200 ms for flows not yet established) within `timeout`.
/// Returns the established flows.
std::vector<uint64_t> handshake(Engine& engine, uint64_t flows, double synRate, double timeout);

/// One trial at `rate` requests per second (0: as fast as the generator can).
struct TrialResult {
  double seconds = 0;
  double targetRate = 0;
  uint64_t requests = 0, requestsRefused = 0, atBackend = 0;
  uint64_t answers = 0, answersRefused = 0, atClient = 0, wrongAnswers = 0;
  uint64_t skipped = 0;  // requests the generator fell too far behind to send
  double longestPauseMs = 0;  // the longest time the generator's loop did not run
  double offeredRate() const { return static_cast<double>(requests) / seconds; }
  uint64_t offered() const { return requests + answers; }
  uint64_t lost() const { return (requests - std::min(requests, atBackend)) + (answers - std::min(answers, atClient)); }
  double lossShare() const { return offered() == 0 ? 1.0 : static_cast<double>(lost()) / static_cast<double>(offered()); }
  bool generatorBound() const;
};
TrialResult runTrial(Engine& engine, const TrialSettings& settings, double rate, const std::vector<uint64_t>& flows);

/// Prints each trial and the `result search` line.
void search(Engine& engine, const TrialSettings& settings, const SearchSettings& search,
            const std::vector<uint64_t>& flows);
/// Prints the trial and a `result fixed` line.
void fixedRun(Engine& engine, const TrialSettings& settings, double rate, const std::vector<uint64_t>& flows);
/// Establishes flow 0, then runs the flood beside it; prints the `result flood` line.
void floodRun(Engine& engine, const FloodSettings& settings);

}  // namespace nicproxy::bench

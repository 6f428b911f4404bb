#include "tests/bench/gen_modes.hpp"

#include <algorithm>
#include <cstdio>

#include <rte_cycles.h>

namespace nicproxy::bench {

std::atomic<bool> gStop{false};

namespace {

double mega(double value) { return value / 1e6; }
double percent(double share) { return share * 100; }

uint64_t cyclesFor(const Engine& engine, double seconds) {
  return static_cast<uint64_t>(seconds * static_cast<double>(engine.hz()));
}

uint8_t nextTrial(Engine& engine) {
  // Trial 0 is never used, so that counts of frames from before the first trial (ARP,
  // stray frames) stay apart.
  const uint8_t trial = static_cast<uint8_t>(engine.trial() == 255 ? 1 : engine.trial() + 1);
  engine.setTrial(trial);
  return trial;
}

const char* protoName(Proto proto) { return proto == Proto::Udp ? "udp" : "tcp"; }

/// `verdict`: " -> pass", " -> fail", or "" outside a search.
void printTrial(unsigned index, const TrialResult& r, const char* verdict) {
  char target[32] = "unlimited";
  if (r.targetRate > 0) std::snprintf(target, sizeof target, "%.3f Mreq/s", mega(r.targetRate));
  std::printf("trial %2u: target %s, offered %.3f Mreq/s (%.3f Mpps through the DUT, both ways) for %.2f s: "
              "lost %llu of %llu (%.4f %%; refused by the ring %llu); generator's longest pause %.1f ms%s%s\n",
              index, target, mega(r.offeredRate()), mega(2 * r.offeredRate()), r.seconds, static_cast<unsigned long long>(r.lost()),
              static_cast<unsigned long long>(r.offered()), percent(r.lossShare()),
              static_cast<unsigned long long>(r.requestsRefused + r.answersRefused), r.longestPauseMs,
              r.generatorBound() ? ", the generator fell behind its rate" : "", verdict);
  if (r.wrongAnswers != 0) {
    std::printf("trial %2u: %llu answers came back with wrong addresses or ports (counted as lost)\n", index,
                static_cast<unsigned long long>(r.wrongAnswers));
  }
  std::fflush(stdout);
}

}  // namespace

bool TrialResult::generatorBound() const {
  // More than 2 % short: a shortfall the search's default precision would notice.
  return targetRate > 0 && (skipped > requests / 50 || offeredRate() < 0.98 * targetRate);
}

std::vector<uint64_t> handshake(Engine& engine, uint64_t flows, double synRate, double timeout) {
  std::vector<TcpFlow>& tcp = engine.tcpFlows();
  flows = std::min<uint64_t>(flows, tcp.size());
  const uint64_t start = rte_rdtsc();
  const uint64_t end = start + cyclesFor(engine, timeout);
  const uint64_t retry = cyclesFor(engine, 0.2);
  uint64_t roundStart = start;
  Pacer pacer(synRate, engine.hz(), start);
  uint64_t cursor = 0, syns = 0;
  bool roundDone = false;
  while (!gStop.load(std::memory_order_relaxed)) {
    const uint64_t now = rte_rdtsc();
    if (now >= end) break;
    engine.poll();
    if (!roundDone) {
      uint32_t due = pacer.due(now, 32);
      uint32_t queued = 0;
      for (; due > 0 && cursor < flows; ++cursor) {
        if (tcp[cursor].established) continue;
        engine.sendSyn(cursor);
        --due;
        ++queued;
      }
      pacer.sent(queued);
      syns += queued;
      if (cursor == flows) roundDone = true;
    } else if (now - roundStart >= retry) {
      const bool all = std::all_of(tcp.begin(), tcp.begin() + static_cast<int64_t>(flows),
                                   [](const TcpFlow& t) { return t.established; });
      if (all) break;
      cursor = 0;
      roundDone = false;
      roundStart = now;
    }
    engine.port().flush();
  }
  engine.pollFor(cyclesFor(engine, 0.05));  // the last ACKs reach the backends
  std::vector<uint64_t> established;
  for (uint64_t f = 0; f < flows; ++f) {
    if (tcp[f].established) established.push_back(f);
  }
  std::printf("handshakes: %llu flows, %llu SYNs sent, %zu established in %.2f s\n",
              static_cast<unsigned long long>(flows), static_cast<unsigned long long>(syns), established.size(),
              static_cast<double>(rte_rdtsc() - start) / static_cast<double>(engine.hz()));
  std::fflush(stdout);
  return established;
}

TrialResult runTrial(Engine& engine, const TrialSettings& settings, double rate, const std::vector<uint64_t>& flows) {
  const uint8_t trial = nextTrial(engine);
  TrialResult r;
  r.targetRate = rate;
  if (flows.empty()) return r;
  const uint64_t start = rte_rdtsc();
  const uint64_t end = start + cyclesFor(engine, settings.seconds);
  Pacer pacer(rate, engine.hz(), start);
  size_t cursor = 0;
  uint64_t now = start;
  uint64_t previous = start, longestPause = 0;
  const uint64_t count = settings.count != 0 ? settings.count : UINT64_MAX;
  while ((now = rte_rdtsc()) < end && pacer.sentCount() < count && !gStop.load(std::memory_order_relaxed)) {
    // A long gap between two turns of this loop is time the generator's CPU was taken
    // from it: on a shared host the numbers of such a trial say more about the host.
    longestPause = std::max(longestPause, now - previous);
    previous = now;
    engine.poll();
    const auto due = static_cast<uint32_t>(std::min<uint64_t>(pacer.due(now, 32), count - pacer.sentCount()));
    if (due == 0) continue;
    uint32_t n = 0;
    if (settings.proto == Proto::Udp) {
      for (; n < due; ++n) {
        engine.sendUdpRequest(flows[cursor]);
        if (++cursor == flows.size()) cursor = 0;
      }
    } else {
      for (; n < due; ++n) {
        engine.sendTcpData(flows[cursor]);
        if (++cursor == flows.size()) cursor = 0;
      }
    }
    pacer.sent(n);
    engine.port().flush();
  }
  r.seconds = static_cast<double>(now - start) / static_cast<double>(engine.hz());
  engine.pollFor(cyclesFor(engine, settings.drainSeconds));
  const RxCounts& c = engine.counts(trial);
  r.requests = engine.sent(trial, TxKind::Request);
  r.requestsRefused = engine.refused(trial, TxKind::Request);
  r.answers = engine.sent(trial, TxKind::Answer);
  r.answersRefused = engine.refused(trial, TxKind::Answer);
  r.atBackend = c.requestsAtBackend;
  r.atClient = c.answersAtClient;
  r.wrongAnswers = c.wrongAnswers;
  r.skipped = pacer.skipped();
  r.longestPauseMs = static_cast<double>(longestPause) * 1e3 / static_cast<double>(engine.hz());
  return r;
}

void search(Engine& engine, const TrialSettings& settings, const SearchSettings& s, const std::vector<uint64_t>& flows) {
  std::printf("search %s through %s: %zu flows, trials of %.2f s (+%.2f s drain), pass = loss <= %.3f %%, "
              "precision %.1f %% of the rate\n",
              protoName(settings.proto), settings.dut.c_str(), flows.size(), settings.seconds, settings.drainSeconds,
              percent(s.maxLoss), percent(s.precision));
  unsigned trials = 0;
  // First as fast as the generator can: the ceiling of the search (and the result when
  // even that passes).
  const TrialResult ceiling = runTrial(engine, settings, 0, flows);
  bool pass = ceiling.lossShare() <= s.maxLoss;
  printTrial(++trials, ceiling, pass ? " -> pass" : " -> fail");
  double hi = ceiling.offeredRate();
  double lo = 0;
  TrialResult best;
  bool generatorCeiling = pass;
  if (pass) {
    lo = hi;
    best = ceiling;
  }
  while (!pass && trials < s.maxTrials && !gStop.load() && (hi - lo) > s.precision * hi) {
    const double mid = (lo + hi) / 2;
    const TrialResult r = runTrial(engine, settings, mid, flows);
    const bool ok = r.lossShare() <= s.maxLoss;
    printTrial(++trials, r, ok ? " -> pass" : " -> fail");
    // The bounds move to the rate the trial really offered: a generator that fell behind
    // tested a lower rate than it was asked for.
    const double offered = std::min(mid, r.offeredRate());
    if (ok) {
      if (offered >= lo) best = r;
      lo = std::max(lo, offered);
      if (r.generatorBound()) {
        // Asking for more would test the same rate again: this is what the generator
        // can offer on this host now.
        std::printf("search: the generator could not offer its target rate; the search stops at the rate it "
                    "offered (generator_bound=yes)\n");
        break;
      }
    } else {
      hi = std::max(lo, offered);
    }
  }
  const double requests = best.requests != 0 ? best.offeredRate() : 0;
  if (generatorCeiling) {
    std::printf("search: %s lost nothing even at the generator's fastest: its rate is at least this one "
                "(generator_bound=ceiling)\n",
                settings.dut.c_str());
  } else if (best.requests == 0) {
    std::printf("search: no trial passed\n");
  }
  std::printf("result search proto=%s dut=%s loss_free_mpps=%.3f requests_mpps=%.3f loss_pct=%.4f "
              "max_loss_pct=%.3f trials=%u trial_s=%.2f precision_pct=%.1f upper_mpps=%.3f generator_bound=%s\n",
              protoName(settings.proto), settings.dut.c_str(), mega(2 * requests), mega(requests),
              best.requests != 0 ? percent(best.lossShare()) : 100.0, percent(s.maxLoss), trials, settings.seconds,
              percent(s.precision), mega(2 * hi),
              generatorCeiling ? "ceiling" : (best.generatorBound() ? "yes" : "no"));
  std::fflush(stdout);
}

void fixedRun(Engine& engine, const TrialSettings& settings, double rate, const std::vector<uint64_t>& flows) {
  const TrialResult r = runTrial(engine, settings, rate, flows);
  printTrial(1, r, "");
  std::printf("result fixed proto=%s dut=%s offered_mreq=%.3f dut_mpps=%.3f sent=%llu lost=%llu loss_pct=%.4f "
              "wrong_answers=%llu\n",
              protoName(settings.proto), settings.dut.c_str(), mega(r.offeredRate()), mega(2 * r.offeredRate()),
              static_cast<unsigned long long>(r.offered()), static_cast<unsigned long long>(r.lost()),
              percent(r.lossShare()), static_cast<unsigned long long>(r.wrongAnswers));
  std::fflush(stdout);
}

namespace {

/// The established flow's segments both ways during one phase. A segment is lost either
/// before the DUT (the ring to it was full: the DUT did not take frames in time, as a
/// NIC's full receive queue drops them) or inside it (taken, never delivered).
struct FlowLoss {
  uint64_t toBackend = 0, refusedToBackend = 0, atBackend = 0;
  uint64_t toClient = 0, refusedToClient = 0, atClient = 0;
  uint64_t lostToBackend() const { return toBackend - std::min(toBackend, atBackend); }
  uint64_t lostToClient() const { return toClient - std::min(toClient, atClient); }
  uint64_t insideToBackend() const { return lostToBackend() - std::min(lostToBackend(), refusedToBackend); }
  uint64_t insideToClient() const { return lostToClient() - std::min(lostToClient(), refusedToClient); }
};

FlowLoss flowLoss(const Engine& engine, uint8_t trial) {
  return FlowLoss{engine.sent(trial, TxKind::Request),  engine.refused(trial, TxKind::Request),
                  engine.counts(trial).requestsAtBackend, engine.sent(trial, TxKind::Answer),
                  engine.refused(trial, TxKind::Answer),  engine.counts(trial).answersAtClient};
}

void printFlowLoss(const char* phase, const FlowLoss& l, double seconds, uint64_t misaddressed) {
  std::string note;
  if (misaddressed != 0) note = " (" + std::to_string(misaddressed) + " of its frames went to another MAC)";
  std::printf("established flow %s (%.2f s): client->backend %llu sent, %llu lost (%llu refused by the full ring, "
              "%llu inside the DUT); backend->client %llu sent, %llu lost (%llu refused, %llu inside)%s\n",
              phase, seconds, static_cast<unsigned long long>(l.toBackend),
              static_cast<unsigned long long>(l.lostToBackend()),
              static_cast<unsigned long long>(l.lostToBackend() - l.insideToBackend()),
              static_cast<unsigned long long>(l.insideToBackend()), static_cast<unsigned long long>(l.toClient),
              static_cast<unsigned long long>(l.lostToClient()),
              static_cast<unsigned long long>(l.lostToClient() - l.insideToClient()),
              static_cast<unsigned long long>(l.insideToClient()), note.c_str());
}

/// The established flow alone (and the flood, if `maker` is set) for `seconds`.
struct PhaseStats {
  uint8_t trial = 0;
  double seconds = 0;
  uint64_t probes = 0;
  uint64_t floodSkipped = 0;
};

PhaseStats runPhase(Engine& engine, const FloodSettings& s, double seconds, FloodMaker* maker, uint64_t& nextProbe) {
  PhaseStats stats;
  stats.trial = nextTrial(engine);
  const uint64_t start = rte_rdtsc();
  const uint64_t end = start + cyclesFor(engine, seconds);
  Pacer flow(s.flowRate, engine.hz(), start);
  Pacer probes(maker != nullptr ? s.probeRate : 0, engine.hz(), start);
  Pacer flood(s.floodRate, engine.hz(), start);
  const uint64_t probeLimit = engine.tcpFlows().size();
  uint64_t now = start;
  while ((now = rte_rdtsc()) < end && !gStop.load(std::memory_order_relaxed)) {
    engine.poll();
    // The established flow first: the flood never takes its turn.
    const uint32_t segments = flow.due(now, 4);
    for (uint32_t i = 0; i < segments; ++i) engine.sendTcpData(0);
    flow.sent(segments);
    if (maker != nullptr) {
      if (s.probeRate > 0 && nextProbe < probeLimit && probes.due(now, 1) == 1) {
        engine.sendSyn(nextProbe++);
        probes.sent(1);
        ++stats.probes;
      }
      const uint32_t frames = flood.due(now, 32);
      for (uint32_t i = 0; i < frames; ++i) {
        rte_mbuf* m = engine.allocate();
        if (m == nullptr) break;
        maker->make(m);
        engine.send(m, TxKind::Flood);
      }
      flood.sent(frames);
    }
    engine.port().flush();
  }
  stats.seconds = static_cast<double>(now - start) / static_cast<double>(engine.hz());
  stats.floodSkipped = flood.skipped();
  return stats;
}

}  // namespace

void floodRun(Engine& engine, const FloodSettings& s) {
  const char* name = floodKindName(s.kind);
  const std::vector<uint64_t> established = handshake(engine, 1, 1000, 3.0);
  if (established.empty() || established[0] != 0) {
    std::printf("result flood kind=%s error=the_established_flow_did_not_complete_its_handshake\n", name);
    std::fflush(stdout);
    return;
  }
  const TcpFlow& flow = engine.tcpFlows()[0];
  std::printf("established flow: 10.201.0.1:40000 -> 10.96.0.100:80, seen by the backend as %u.%u.%u.%u:%u -> "
              "%u.%u.%u.%u:%u; %.0f segments/s each way\n",
              flow.snatAddress >> 24, (flow.snatAddress >> 16) & 0xff, (flow.snatAddress >> 8) & 0xff,
              flow.snatAddress & 0xff, flow.snatPort, flow.backendAddress >> 24, (flow.backendAddress >> 16) & 0xff,
              (flow.backendAddress >> 8) & 0xff, flow.backendAddress & 0xff, flow.backendPort, s.flowRate);
  uint64_t nextProbe = 1;
  const PhaseStats before = runPhase(engine, s, 0.5, nullptr, nextProbe);
  FloodMaker maker(s.kind, engine);
  const PhaseStats during = runPhase(engine, s, s.seconds, &maker, nextProbe);
  const PhaseStats after = runPhase(engine, s, s.afterSeconds, nullptr, nextProbe);
  engine.pollFor(cyclesFor(engine, 0.2));

  const uint64_t floodSent = engine.sent(during.trial, TxKind::Flood);
  const uint64_t floodRefused = engine.refused(during.trial, TxKind::Flood);
  std::printf("flood %s: %.2f s %s: %llu frames offered (%.1f kpps), %llu refused by the full ring, %llu taken by "
              "the DUT (%.1f kpps)\n",
              name, during.seconds, s.floodRate > 0 ? "paced" : "at the generator's full rate",
              static_cast<unsigned long long>(floodSent), static_cast<double>(floodSent) / during.seconds / 1e3,
              static_cast<unsigned long long>(floodRefused), static_cast<unsigned long long>(floodSent - floodRefused),
              static_cast<double>(floodSent - floodRefused) / during.seconds / 1e3);
  std::string mix;
  for (size_t v = 0; v < maker.variants(); ++v) {
    mix += (v == 0 ? "" : ", ") + std::string(maker.variantName(v)) + " " + std::to_string(maker.made(v));
  }
  std::printf("flood %s mix: %s\n", name, mix.c_str());
  const RxCounts& c = engine.counts(during.trial);
  std::printf("flood %s came out of the DUT: %llu frames at the backends (%llu RSTs), %llu SYN-ACKs the backends sent "
              "back, %llu frames to the flood's sources, %llu RSTs to clients, %llu ICMP, %llu ARP replies, %llu "
              "frames to other MACs, %llu to broadcast or multicast MACs\n",
              name, static_cast<unsigned long long>(c.floodAtBackend + c.rstAtBackend),
              static_cast<unsigned long long>(c.rstAtBackend),
              static_cast<unsigned long long>(engine.sent(during.trial, TxKind::FloodAnswer)),
              static_cast<unsigned long long>(c.floodRepliesAtClient), static_cast<unsigned long long>(c.rstAtClient),
              static_cast<unsigned long long>(c.icmp), static_cast<unsigned long long>(c.arpReplies),
              static_cast<unsigned long long>(c.toOtherMacs), static_cast<unsigned long long>(c.toBroadcastMac));
  const FlowLoss b = flowLoss(engine, before.trial);
  const FlowLoss d = flowLoss(engine, during.trial);
  const FlowLoss a = flowLoss(engine, after.trial);
  printFlowLoss("before the flood", b, before.seconds, engine.counts(before.trial).misaddressed);
  printFlowLoss("during the flood", d, during.seconds, c.misaddressed);
  printFlowLoss("after the flood", a, after.seconds, engine.counts(after.trial).misaddressed);
  uint64_t completed = 0;
  for (uint64_t f = 1; f < nextProbe; ++f) completed += engine.tcpFlows()[f].established ? 1 : 0;
  std::printf("new connections during the flood: %llu opened, %llu completed their handshake\n",
              static_cast<unsigned long long>(during.probes), static_cast<unsigned long long>(completed));
  std::printf("result flood kind=%s seconds=%.2f flood_kpps=%.1f flood_taken_kpps=%.1f passed_to_backends=%llu "
              "to_flood_sources=%llu flow_to_backend=%llu flow_to_backend_lost=%llu flow_to_backend_lost_inside=%llu "
              "flow_to_client=%llu flow_to_client_lost=%llu flow_to_client_lost_inside=%llu before_lost=%llu after_lost=%llu "
              "misaddressed=%llu probes=%llu probes_completed=%llu\n",
              name, during.seconds, static_cast<double>(floodSent) / during.seconds / 1e3,
              static_cast<double>(floodSent - floodRefused) / during.seconds / 1e3,
              static_cast<unsigned long long>(c.floodAtBackend + c.rstAtBackend),
              static_cast<unsigned long long>(c.floodRepliesAtClient + c.rstAtClient),
              static_cast<unsigned long long>(d.toBackend), static_cast<unsigned long long>(d.lostToBackend()),
              static_cast<unsigned long long>(d.insideToBackend()), static_cast<unsigned long long>(d.toClient),
              static_cast<unsigned long long>(d.lostToClient()), static_cast<unsigned long long>(d.insideToClient()),
              static_cast<unsigned long long>(b.lostToBackend() + b.lostToClient()),
              static_cast<unsigned long long>(a.lostToBackend() + a.lostToClient()),
              static_cast<unsigned long long>(c.misaddressed), static_cast<unsigned long long>(during.probes),
              static_cast<unsigned long long>(completed));
  std::fflush(stdout);
}

}  // namespace nicproxy::bench

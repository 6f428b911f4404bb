// nicproxy-gen: a traffic generator on a net_memif port, for scripts/bench_memif.sh.
// It plays both ends of one-arm FullNAT: the clients (sending to service VIPs) and the
// backends (answering what the DUT sends them), on one memif port and one lcore, so that
// every packet it counts went through the device under test (nicproxy, or testpmd's
// io-forward as the baseline) and back.
//
//   nicproxy-gen plan --dir D --device DEV --generator-mac MAC   nicproxy.json + services.json
//   nicproxy-gen --device DEV udp --search                       highest loss-free rate
//   nicproxy-gen --device DEV tcp --rate 100000                  handshakes, then data
//   nicproxy-gen --device DEV flood martians                     a flood beside an established flow
//
// Address plan: tests/bench/gen_plan.hpp. What is counted and how: gen_engine.hpp.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>
#include <rte_ether.h>

#include "control/net.hpp"
#include "tests/bench/gen_modes.hpp"
#include "tests/bench/gen_plan.hpp"
#include "tests/bench/gen_port.hpp"

namespace {

using namespace nicproxy::bench;

void onSignal(int) { gStop.store(true); }

rte_ether_addr toEther(const nicproxy::MacAddress& mac) {
  rte_ether_addr e;
  std::copy(mac.begin(), mac.end(), e.addr_bytes);
  return e;
}

std::string formatEther(const rte_ether_addr& mac) {
  char text[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(text, sizeof text, &mac);
  return text;
}

struct Common {
  EalSetup eal;
  std::string dut = "nicproxy";
  std::string dutMac = "02:00:00:00:00:01";
  bool hold = false;
  double linkTimeout = 10;
  bool noVerify = false;
};

struct TrafficOptions {
  uint64_t flows = 1000;
  uint16_t size = 64;
  double seconds = 1.0;
  double drain = 0.2;
  bool search = false;
  double rate = 0;
  double maxLossPercent = 0.1;
  double precisionPercent = 2;
  unsigned maxTrials = 12;
  double synRate = 100000;
  uint64_t count = 0;
};

/// After the results: keep the link (and its shared memory) up, idle, until SIGTERM, so
/// that the DUT can be stopped first (see GenPort::close).
void holdUntilSignal(bool hold) {
  std::printf("# done\n");
  std::fflush(stdout);
  while (hold && !gStop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"nicproxy-gen: clients and backends on a net_memif port, for scripts/bench_memif.sh"};
  cli.require_subcommand(1);
  cli.fallthrough();
  Common common;
  GenPlan plan;
  cli.add_option("--device", common.eal.device, "memif vdev string (role=client), e.g. net_memif0,role=client,...");
  cli.add_option("--cpu", common.eal.cpu, "CPU of the generator's one lcore")->capture_default_str();
  cli.add_option("--file-prefix", common.eal.filePrefix, "EAL --file-prefix (default: npgen<pid>)");
  cli.add_option("--dut", common.dut, "what is on the other end: nicproxy, or io (testpmd io-forward: frames come "
                                       "back unchanged)")
      ->check(CLI::IsMember({"nicproxy", "io"}))
      ->capture_default_str();
  cli.add_option("--dut-mac", common.dutMac, "the DUT's MAC, the clients' next hop")->capture_default_str();
  cli.add_flag("--hold", common.hold, "after the results, keep the link up until SIGTERM (stop the DUT first)");
  cli.add_option("--link-timeout", common.linkTimeout, "seconds to wait for the memif peer")->capture_default_str();
  cli.add_flag("--no-verify", common.noVerify, "do not verify the checksums of received frames");
  cli.add_option("--services", plan.services, "bench services (as in the plan)")->capture_default_str();
  cli.add_option("--endpoints", plan.endpoints, "endpoints per service (as in the plan)")->capture_default_str();
  cli.add_option("--backends", plan.backendAddresses, "backend addresses (as in the plan)")->capture_default_str();

  PlanFiles files;
  CLI::App* planCommand = cli.add_subcommand("plan", "write nicproxy's configuration and services file");
  planCommand->add_option("--dir", files.directory, "output directory")->required();
  planCommand->add_option("--nicproxy-device", files.device, "nicproxy's memif vdev string (role=server)")->required();
  planCommand->add_option("--generator-mac", files.generatorMac, "MAC of the bench backends' permanent neighbours")
      ->required();
  planCommand->add_option("--config-name", files.configName, "configuration file name")->capture_default_str();
  planCommand->add_option("--lcores", files.lcores, "nicproxy's EAL --lcores")->capture_default_str();
  planCommand->add_option("--nicproxy-prefix", files.filePrefix, "nicproxy's EAL --file-prefix")->required();
  planCommand->add_option("--flow-table", files.flowTableSize, "dpdk.flowTableSize")->capture_default_str();
  planCommand->add_option("--flowgen-flows", files.flowgenFlows, "services for testpmd flowgen's destinations")
      ->capture_default_str();

  TrafficOptions traffic;
  CLI::App* udp = cli.add_subcommand("udp", "UDP requests from the clients, answered by the backends");
  CLI::App* tcp = cli.add_subcommand("tcp", "TCP handshakes, then data segments answered by the backends");
  for (CLI::App* command : {udp, tcp}) {
    command->add_option("--flows", traffic.flows, "flows (client address and port pairs)")->capture_default_str();
    command->add_option("--seconds", traffic.seconds, "length of a trial")->capture_default_str();
    command->add_option("--drain", traffic.drain, "seconds of receiving after a trial")->capture_default_str();
    command->add_flag("--search", traffic.search, "binary search for the highest rate without loss");
    command->add_option("--rate", traffic.rate, "requests per second (0: as fast as possible)")->capture_default_str();
    command->add_option("--max-loss", traffic.maxLossPercent, "percent of loss a search trial may have")
        ->capture_default_str();
    command->add_option("--precision", traffic.precisionPercent, "search precision, percent of the rate")
        ->capture_default_str();
    command->add_option("--max-trials", traffic.maxTrials, "search trials at most")->capture_default_str();
    command->add_option("--count", traffic.count, "without --search: stop after this many requests (--seconds "
                                                  "still bounds the run)");
  }
  udp->add_option("--size", traffic.size, "frame size in bytes, FCS included")->capture_default_str();
  tcp->add_option("--syn-rate", traffic.synRate, "SYNs per second while establishing")->capture_default_str();

  FloodSettings flood;
  std::string kindName;
  CLI::App* floodCommand = cli.add_subcommand("flood", "a flood beside one established TCP flow");
  std::vector<std::string> kindNames;
  for (FloodKind kind : kFloodKinds) kindNames.emplace_back(floodKindName(kind));
  floodCommand->add_option("kind", kindName, "the flood")->required()->check(CLI::IsMember(kindNames));
  floodCommand->add_option("--seconds", flood.seconds, "flood length")->capture_default_str();
  floodCommand->add_option("--flood-rate", flood.floodRate, "flood frames per second (0: full rate)")
      ->capture_default_str();
  floodCommand->add_option("--flow-rate", flood.flowRate, "the established flow's segments per second each way")
      ->capture_default_str();
  floodCommand->add_option("--probe-rate", flood.probeRate, "new connections per second during the flood")
      ->capture_default_str();
  floodCommand->add_option("--after", flood.afterSeconds, "seconds of the flow alone after the flood")
      ->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  if (planCommand->parsed()) {
    try {
      writePlan(plan, files);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "nicproxy-gen plan: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  if (common.eal.device.empty()) {
    std::fprintf(stderr, "nicproxy-gen: --device is required\n");
    return 2;
  }
  if (common.eal.filePrefix.empty()) common.eal.filePrefix = "npgen" + std::to_string(getpid());
  const auto dutMac = nicproxy::parseMac(common.dutMac);
  if (!dutMac) {
    std::fprintf(stderr, "nicproxy-gen: --dut-mac %s is not a MAC address\n", common.dutMac.c_str());
    return 2;
  }
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);

  std::unique_ptr<GenPort> port;
  try {
    port = std::make_unique<GenPort>(common.eal);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nicproxy-gen: %s\n", e.what());
    return 1;
  }
  if (!port->waitForLink(common.linkTimeout)) {
    std::fprintf(stderr, "nicproxy-gen: the memif peer did not connect within %.0f s\n", common.linkTimeout);
    return 1;
  }
  GenOptions options;
  options.plan = plan;
  options.dutMac = toEther(*dutMac);
  options.promiscuous = common.dut == "io";
  options.verifyChecksums = !common.noVerify;
  options.frameSize = traffic.size;
  options.flows = traffic.flows;
  if (floodCommand->parsed()) {
    options.layout = FlowLayout::Guarded;
    // Flow 0 and one flow per probe connection.
    options.flows = 2 + static_cast<uint64_t>(flood.probeRate * flood.seconds * 1.1);
  }
  Engine engine(*port, options);
  std::printf("# nicproxy-gen: one lcore on CPU %u plays every client and backend (sending paced by the TSC, "
              "%.2f GHz); MAC %s; DUT %s (MAC %s); checksums %s\n",
              common.eal.cpu, static_cast<double>(engine.hz()) / 1e9, formatEther(port->mac()).c_str(),
              common.dut.c_str(), common.dutMac.c_str(), options.verifyChecksums ? "verified" : "not verified");
  std::fflush(stdout);

  TrialSettings settings;
  settings.seconds = traffic.seconds;
  settings.drainSeconds = traffic.drain;
  settings.count = traffic.count;
  settings.dut = common.dut == "io" ? "testpmd-io" : "nicproxy";
  if (floodCommand->parsed()) {
    flood.kind = *floodKindFromName(kindName);
    floodRun(engine, flood);
  } else {
    std::vector<uint64_t> flows;
    if (tcp->parsed()) {
      settings.proto = Proto::Tcp;
      flows = handshake(engine, traffic.flows, traffic.synRate, 5.0);
    } else {
      for (uint64_t f = 0; f < traffic.flows; ++f) flows.push_back(f);
    }
    if (traffic.search) {
      search(engine, settings, SearchSettings{traffic.maxLossPercent / 100, traffic.precisionPercent / 100,
                                              traffic.maxTrials},
             flows);
    } else {
      fixedRun(engine, settings, traffic.rate, flows);
    }
  }
  if (engine.poolEmpty() != 0) {
    std::printf("# the generator's mempool ran dry %llu times\n", static_cast<unsigned long long>(engine.poolEmpty()));
  }
  holdUntilSignal(common.hold);
  port.reset();
  return 0;
}

// Writes the packet fuzzer's seed corpus (one file per seed, in the input format of
// packet_world.hpp) from the dpdk tests' frame builders: each seed is a short exchange
// with the harness topology that a real client or backend could send, run through the
// same PacketWorld as the fuzzer so that replies carry the SNAT ports the reset gives.
//
//   packet_seeds DIR
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/dpdk/fragment_frames.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/fuzz/packet_world.hpp"

using namespace nicproxy::testing;
using nicproxy::fuzzing::appendRecord;
using nicproxy::fuzzing::kEndBurst;
using nicproxy::fuzzing::kHousekeeping;
using nicproxy::fuzzing::PacketWorld;

namespace {

Bytes text(const char* s) { return Bytes(s, s + std::char_traits<char>::length(s)); }

/// One seed being written: each frame is run at once (so that a session learns its
/// backend) and recorded.
class Seed {
 public:
  explicit Seed(PacketWorld& world) : world_(world) { world_.reset(); }
  std::vector<Sent> send(uint16_t port, const Bytes& frame, uint8_t extraFlags = 0) {
    appendRecord(input_, static_cast<uint8_t>(port | kEndBurst | extraFlags), frame);
    return world_.harness().run(frame, port);
  }
  /// A frame recorded but not run: the next ones do not depend on it.
  void add(uint16_t port, const Bytes& frame, uint8_t flags = 0) { appendRecord(input_, static_cast<uint8_t>(port | flags), frame); }
  void client(TcpSession& s, uint8_t flags, const Bytes& payload = {}) {
    appendRecord(input_, kEndBurst, s.client(flags, payload).build());
    s.sendClient(flags, payload);
  }
  void backend(TcpSession& s, uint16_t port, uint8_t flags, const Bytes& payload = {}) {
    appendRecord(input_, static_cast<uint8_t>(port | kEndBurst), s.backend(flags, payload).build());
    s.sendBackend(flags, payload);
  }
  const Bytes& input() const { return input_; }

 private:
  PacketWorld& world_;
  Bytes input_;
};

/// A new TCP session from the client, SYN to FIN, both sides; `backendPort`: the port index
/// its backend is behind.
Bytes fullSession(PacketWorld& world, uint32_t vip, uint16_t vport, uint16_t backendPort) {
  Seed seed(world);
  TcpSession s(world.harness(), vip, vport, 41000);
  seed.client(s, kTcpSyn);
  seed.backend(s, backendPort, kTcpSyn | kTcpAck);
  seed.client(s, kTcpAck);
  seed.client(s, kTcpAck | kTcpPsh, text("GET / HTTP/1.1\r\n\r\n"));
  seed.backend(s, backendPort, kTcpAck | kTcpPsh, text("HTTP/1.1 200 OK\r\n\r\n"));
  seed.client(s, kTcpAck | kTcpFin);
  seed.backend(s, backendPort, kTcpAck | kTcpFin);
  seed.client(s, kTcpAck);
  return seed.input();
}

/// The packet nicproxy forwarded for the web flow, as its backend received it (for ICMP
/// errors that quote it).
Bytes webForwarded(PacketWorld& world) {
  TcpSession& web = world.web();
  TcpFrame f;
  f.eth = EthSpec{kBackendMac, kPort0Mac};
  f.ip.source = web.snatIp();
  f.ip.destination = web.backendIp();
  f.tcp.sourcePort = web.snatPort();
  f.tcp.destinationPort = web.backendPort();
  f.tcp.seq = web.clientNext();
  f.tcp.ack = web.backendNext();
  f.tcp.flags = kTcpAck | kTcpPsh;
  f.tcp.payload = Bytes(1200, 'x');
  return f.build();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: packet_seeds DIR\n");
    return 2;
  }
  try {
    nicproxy::fuzzing::startEal(argv[0]);
    PacketWorld world;
    std::vector<std::pair<std::string, Bytes>> seeds;
    auto one = [&](const std::string& name, uint16_t port, const Bytes& frame) {
      world.reset();
      Bytes input;
      appendRecord(input, static_cast<uint8_t>(port), frame);
      seeds.emplace_back(name, input);
    };

    // A seed for an established flow: after a reset, it must be forwarded as one frame, or
    // the reset did not bring back the same flows (SNAT ports) and the seeds miss them.
    auto established = [&](const std::string& name, uint16_t port, const Bytes& frame) {
      one(name, port, frame);
      world.reset();
      if (world.harness().run(frame, port).size() != 1) {
        throw std::runtime_error(name + ": not forwarded after a reset");
      }
    };

    // The established flows, one segment each way (packet_world.hpp opens them).
    world.reset();
    established("web-client-data", 0, world.web().client(kTcpAck | kTcpPsh, text("GET / HTTP/1.1\r\n\r\n")).build());
    established("web-backend-data", 0, world.web().backend(kTcpAck | kTcpPsh, text("HTTP/1.1 200 OK\r\n\r\n")).build());
    one("web-client-fin", 0, world.web().client(kTcpAck | kTcpFin).build());
    one("web-client-rst", 0, world.web().client(kTcpRst).build());
    one("web-backend-rst", 0, world.web().backend(kTcpRst | kTcpAck).build());
    established("far-client-data", 0, world.far().client(kTcpAck | kTcpPsh, text("ping")).build());
    established("far-backend-data", 1, world.far().backend(kTcpAck | kTcpPsh, text("pong")).build());
    one("dns-query", 0, build(clientUdp(kWebVip, 53, nicproxy::fuzzing::kDnsClientPort)));
    established("dns-reply", 0, nicproxy::fuzzing::dnsReply(world).build());

    // New connections to each kind of frontend.
    one("syn-multi", 0, clientTcp(kMultiVip, 80, 42000).build());
    one("syn-empty-reject", 0, clientTcp(kEmptyVip, 80, 42001).build());
    one("udp-empty-reject", 0, build(clientUdp(kEmptyVip, 53, 42002)));
    one("syn-unknown-vip", 0, clientTcp(kUnknownVip, 80, 42003).build());
    one("syn-dark", 0, clientTcp(kDarkVip, 80, 42004).build());
    one("syn-nodeport", 0, clientTcp(kPort0Ip, kWebNodePort, 42005).build());
    one("syn-external-in-subnet", 0, clientTcp(kExternalInSubnet, 80, 42006).build());
    one("syn-external-outside", 0, clientTcp(kExternalOutside, 80, 42007).build());
    TcpFrame withOptions = clientTcp(kWebVip, 80, 42008);
    withOptions.tcp.options = {0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07};  // MSS 1460, NOP, window scale 7
    one("syn-options", 0, withOptions.build());
    TcpFrame ipOptions = clientTcp(kWebVip, 80, 42009);
    ipOptions.ip.options = {0x01, 0x01, 0x01, 0x00};
    one("syn-ip-options", 0, ipOptions.build());

    // ARP and ICMP.
    one("arp-request-port0", 0, arpRequest(kPort0Ip).build());
    one("arp-request-external", 0, arpRequest(kExternalInSubnet).build());
    ArpFrame darkReply = arpRequest(kPort0Ip, kDarkBackendIp, kDarkBackendMac);
    darkReply.eth.destination = kPort0Mac;
    darkReply.opcode = 2;
    darkReply.targetMac = kPort0Mac;
    one("arp-reply-dark", 0, darkReply.build());
    IcmpFrame echo;
    echo.eth = EthSpec{kPort0Mac, kClientMac};
    echo.ip.source = kClientIp;
    echo.ip.destination = kPort0Ip;
    echo.rest = 0x00010001;
    echo.data = text("abcdefgh");
    one("icmp-echo-port0", 0, echo.build());
    echo.ip.destination = kWebVip;
    one("icmp-echo-vip", 0, echo.build());
    world.reset();
    Ipv4Spec router;
    router.source = kBackendIp;
    router.destination = world.web().snatIp();
    one("icmp-frag-needed-from-backend", 0,
        icmpError(EthSpec{kPort0Mac, kBackendMac}, router, 3, 4, 1000, webForwarded(world), 28).build());
    Ipv4Spec clientRouter;
    clientRouter.source = kClientIp;
    clientRouter.destination = kWebVip;
    TcpFrame toClient = world.web().client(kTcpAck);  // the quote's direction does not matter to the parser
    one("icmp-unreachable-from-client", 0,
        icmpError(EthSpec{kPort0Mac, kClientMac}, clientRouter, 3, 1, 0, toClient.build(), 28).build());

    // Fragments: a large dns query in three pieces, in order and out of order.
    UdpFrame big = clientUdp(kWebVip, 53, 42010);
    big.udp.payload = patternPayload(3000);
    const std::vector<Bytes> pieces = splitFrame(big.build(), 1200);
    {
      world.reset();
      Bytes input;
      for (const Bytes& p : pieces) appendRecord(input, 0, p);
      seeds.emplace_back("udp-fragments", input);
      Bytes reversed;
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) appendRecord(reversed, kEndBurst, *it);
      seeds.emplace_back("udp-fragments-reversed", reversed);
    }

    // Whole sessions, both directions.
    seeds.emplace_back("session-web", fullSession(world, kWebVip, 80, 0));
    seeds.emplace_back("session-multi", fullSession(world, kMultiVip, 80, 0));
    seeds.emplace_back("session-far", fullSession(world, kFarVip, 80, 1));
    {
      Seed seed(world);
      seed.send(0, build(clientUdp(kWebVip, 53, 42011)));
      seed.send(0, nicproxy::fuzzing::dnsReply(world).build(), kHousekeeping | 0xf0);
      seeds.emplace_back("dns-exchange-and-timeout", seed.input());
    }

    // Frames that are not what they claim.
    Bytes truncated = clientTcp(kWebVip, 80, 42012).build();
    truncated.resize(kEthLength + 10);
    one("truncated-ipv4", 0, truncated);
    TcpFrame badIhl = clientTcp(kWebVip, 80, 42013);
    badIhl.ip.ihl = 15;
    one("bad-ihl", 0, badIhl.build());
    UdpFrame badLength = clientUdp(kWebVip, 53, 42014);
    badLength.udp.length = 4000;
    one("bad-udp-length", 0, build(badLength));
    one("ipv6", 0, ethernetFrame(EthSpec{kPort0Mac, kClientMac}, kEtherTypeIpv6, Bytes(60, 0)));
    one("runt", 0, Bytes{0x02, 0, 0, 0, 0, 1});

    std::filesystem::create_directories(argv[1]);
    for (const auto& [name, bytes] : seeds) {
      std::ofstream out(std::filesystem::path(argv[1]) / name, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      if (!out) throw std::runtime_error("cannot write " + name);
    }
    std::printf("packet_seeds: %zu seeds in %s\n", seeds.size(), argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "packet_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}

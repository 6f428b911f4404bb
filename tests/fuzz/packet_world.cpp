#include "tests/fuzz/packet_world.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include <sanitizer/asan_interface.h>

#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_random.h>
#include <spdlog/spdlog.h>

#include "tests/dpdk/packets.hpp"

namespace nicproxy::fuzzing {

using namespace nicproxy::testing;

void startEal(const char* programName) {
  // As tests/dpdk/main.cpp: no hugepages, no PCI, no shared config, a file prefix of our
  // own so that several fuzzers (and the dpdk tests) can run at once.
  spdlog::set_level(spdlog::level::warn);  // the provider logs every sync at info
  std::vector<std::string> args = {programName, "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                                   "--file-prefix", "np-fuzz-" + std::to_string(getpid()),
                                   "--no-telemetry", "--log-level", "*:error", "-l", "0"};
  std::vector<char*> eal;
  for (std::string& a : args) eal.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) throw std::runtime_error("rte_eal_init failed");
}

void appendRecord(Bytes& input, uint8_t flags, const Bytes& frame) {
  input.push_back(flags);
  input.push_back(static_cast<uint8_t>(frame.size()));
  input.push_back(static_cast<uint8_t>(frame.size() >> 8));
  input.insert(input.end(), frame.begin(), frame.end());
}

namespace {

constexpr uint64_t kRandomSeed = 0x6e6963;  // any constant

Harness::Options worldOptions() {
  Harness::Options o;
  o.flowCapacity = 64;        // small: inputs reach the table's pressure and early drop
  o.learnBackends = false;    // permanent instead (PacketWorld())
  o.fragmentDatagrams = 16;
  return o;
}

}  // namespace

PacketWorld::PacketWorld() : harness_(std::make_unique<Harness>(worldOptions())) {
  rxPool_ = rte_pktmbuf_pool_create(uniqueName("fuzz_rx").c_str(), 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    SOCKET_ID_ANY);
  if (rxPool_ == nullptr) throw std::runtime_error("PacketWorld: rte_pktmbuf_pool_create failed");
  const std::pair<uint32_t, Mac> backends[] = {{kBackendIp, kBackendMac},
                                               {kBackend2Ip, kBackend2Mac},
                                               {kBackend3Ip, kBackend3Mac},
                                               {kFarBackendIp, kFarBackendMac}};
  for (const auto& [address, mac] : backends) {
    if (!harness_->plane().neighbors.addPermanent(rte_cpu_to_be_32(address), etherAddr(mac))) {
      throw std::runtime_error("PacketWorld: the neighbour table refused a backend");
    }
  }
}

PacketWorld::~PacketWorld() {
  harness_.reset();  // frees what it still holds, received frames included
  // EAL writes to freed memory: lift the poison first.
  rte_mempool_obj_iter(
      rxPool_,
      [](rte_mempool*, void*, void* object, unsigned) {
        auto* m = static_cast<rte_mbuf*>(object);
        ASAN_UNPOISON_MEMORY_REGION(m->buf_addr, m->buf_len);
      },
      nullptr);
  rte_mempool_free(rxPool_);
}

void PacketWorld::settle() {
  Harness& h = *harness_;
  FlowTable& flows = h.flows();
  for (uint32_t i = 0; i < flows.capacity(); ++i) {
    if (flows.entry(i).live) flows.remove(i);
  }
  h.setNow(h.now() + 10 * h.hz());
  // The reassembly timeouts free what the input left half-assembled.
  h.housekeeping();
  const unsigned inUse = h.mbufsInUse() + rte_mempool_in_use_count(rxPool_);
  if (inUse != 0) {
    // Nothing holds an mbuf between inputs: one in use is a leak (by the input just run).
    throw std::logic_error("PacketWorld: " + std::to_string(inUse) + " mbufs leaked");
  }
}

void PacketWorld::reset() {
  settle();
  // The SNAT ports are picked at random (snat_allocator.cpp): the same seed every time
  // gives the same ports, so that seeds can reach the flows from the backends' side.
  rte_srand(kRandomSeed);
  openFlows();
}

void PacketWorld::openFlows() {
  Harness& h = *harness_;
  web_.emplace(h, kWebVip, 80, kWebClientPort);
  web_->open();
  far_.emplace(h, kFarVip, 80, kFarClientPort);
  far_->open();
  const std::vector<Sent> query = h.run(build(clientUdp(kWebVip, 53, kDnsClientPort)), 0);
  if (query.size() != 1) throw std::runtime_error("PacketWorld: the dns query was not forwarded");
  dnsSnatIp_ = read32(query[0].frame, kEthLength + 12);
  dnsSnatPort_ = sourcePortOf(query[0].frame);
  if (h.run(dnsReply(*this).build(), 0).size() != 1) throw std::runtime_error("PacketWorld: the dns reply was not forwarded");
}

UdpFrame dnsReply(const PacketWorld& world) {
  UdpFrame f;
  f.eth = EthSpec{kPort0Mac, kBackendMac};
  f.ip.source = kBackendIp;
  f.ip.destination = world.dnsSnatIp();
  f.udp.sourcePort = 5353;
  f.udp.destinationPort = world.dnsSnatPort();
  f.udp.payload = {'a', 'n', 's', 'w', 'e', 'r'};
  return f;
}

rte_mbuf* PacketWorld::receivedFrame(const uint8_t* data, size_t length) {
  rte_mbuf* m = rte_pktmbuf_alloc(rxPool_);
  if (m == nullptr) throw std::runtime_error("PacketWorld: the receive pool is empty");
  ASAN_UNPOISON_MEMORY_REGION(m->buf_addr, m->buf_len);
  auto* bytes = static_cast<uint8_t*>(static_cast<void*>(rte_pktmbuf_append(m, static_cast<uint16_t>(length))));
  if (bytes == nullptr) throw std::logic_error("PacketWorld: frame larger than an mbuf");
  if (length != 0) std::memcpy(bytes, data, length);
  // ASan can poison the tail of an 8-byte granule (its shadow then says how many leading
  // bytes are addressable), so the poison starts at the frame's very first byte past the end.
  uint8_t* end = bytes + length;
  ASAN_POISON_MEMORY_REGION(end, static_cast<size_t>(static_cast<uint8_t*>(m->buf_addr) + m->buf_len - end));
  return m;
}

void PacketWorld::runBurst(std::vector<rte_mbuf*>& burst, uint16_t port, uint8_t lastFlags) {
  if (burst.empty()) return;
  Harness& h = *harness_;
  WorkerContext& ctx = h.context();
  processBurst(ctx, h.services(), port, burst.data(), static_cast<uint16_t>(burst.size()), h.now());
  burst.clear();
  for (TxBatch& batch : ctx.tx) {  // what it would transmit
    for (uint16_t i = 0; i < batch.count; ++i) rte_pktmbuf_free(batch.packets[i]);
    batch.count = 0;
  }
  if ((lastFlags & kHousekeeping) != 0) h.housekeeping();
}

void PacketWorld::feed(const uint8_t* data, size_t size) {
  Harness& h = *harness_;
  std::vector<rte_mbuf*> burst;
  uint16_t burstPort = 0;
  uint8_t lastFlags = 0;
  size_t offset = 0;
  for (size_t frames = 0; frames < kMaxFrames && offset < size; ++frames) {
    const uint8_t flags = data[offset++];
    size_t length = 0;
    if (offset + 2 <= size) length = data[offset] | static_cast<size_t>(data[offset + 1]) << 8;
    offset = std::min(offset + 2, size);
    length = std::min({length, size - offset, kMaxFrameBytes});
    const uint16_t port = flags & kPortBit;
    if (!burst.empty() && (port != burstPort || burst.size() == kBurstSize)) runBurst(burst, burstPort, lastFlags);
    if (burst.empty()) {
      h.setNow(h.now() + (flags >> 4) * h.hz() / 8);
      burstPort = port;
    }
    burst.push_back(receivedFrame(data + offset, length));
    offset += length;
    lastFlags = flags;
    if ((flags & kEndBurst) != 0) runBurst(burst, burstPort, lastFlags);
  }
  runBurst(burst, burstPort, lastFlags);
}

}  // namespace nicproxy::fuzzing

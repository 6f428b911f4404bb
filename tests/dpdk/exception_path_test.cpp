// Tests: the exception thread's half of the exception path (exception_path.hpp):
// checkKernelFrame (kernel_frames.hpp) on frames of its own, and a real ExceptionPath: a
// net_tap interface made in a network namespace this test creates, with the port's MAC,
// MTU and address, frames through it both ways with the real exception thread, and
// everything gone at the end.
// Addresses (harness.hpp): port 0 02:00:00:00:00:01 10.50.0.1/24 (extra SNAT address
// 10.50.0.5), client 10.50.0.100 02:00:00:00:00:64.
//   KernelFrame.Checks                    table: lengths against the MTU (with and without a
//                                         VLAN tag), broken IPv4 headers, which worker
//   KernelFrame.HeadersAcrossSegments     a chained mbuf whose headers straddle segments
//   ExceptionInterface.VirtioUserNeedsVhostNet  the error names /dev/vhost-net and modprobe
//   ExceptionInterface.TapBothWays        (root) the tap in a scratch namespace: MAC, MTU,
//                                         address, txqueuelen; a frame for the kernel reaches it and the
//                                         kernel's ARP comes back on worker 0's ring; a TCP
//                                         frame to a SNAT port reaches its owner's ring; a
//                                         frame over the MTU is counted, not passed; the
//                                         interface and the plane's rings go at the end
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk_app/exception_device.hpp"
#include "dpdk_app/exception_path.hpp"
#include "dpdk_app/kernel_frames.hpp"
#include "tests/dpdk/frames.hpp"
#include "tests/dpdk/harness.hpp"

namespace nicproxy::testing {
namespace {

constexpr uint16_t kVlanEtherType = 0x8100;

rte_mempool* testPool() {
  static rte_mempool* pool =
      rte_pktmbuf_pool_create("exc_test_pool", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  return pool;
}

rte_mbuf* mbufOf(const Bytes& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(testPool());
  if (m == nullptr) return nullptr;
  auto* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  std::memcpy(data, frame.data(), frame.size());
  return m;
}

Bytes bytesOf(const rte_mbuf* m) {
  Bytes out(rte_pktmbuf_pkt_len(m));
  const void* data = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(out.size()), out.data());
  if (data != out.data()) std::memcpy(out.data(), data, out.size());
  return out;
}

PortInfo port0(uint16_t mtu = 1500) {
  PortInfo info;
  std::copy(kPort0Mac.begin(), kPort0Mac.end(), info.mac.addr_bytes);
  info.address = rte_cpu_to_be_32(kPort0Ip);
  info.mask = rte_cpu_to_be_32(kMask24);
  info.extraSnatAddresses[0] = rte_cpu_to_be_32(kPort0SnatIp);
  info.extraSnatCount = 1;
  info.mtu = mtu;
  return info;
}

// A frame the kernel sends out (source: the port's MAC, which the interface has).
const EthSpec kFromKernel{kClientMac, kPort0Mac};

Bytes tcpTo(uint32_t destination, uint16_t destinationPort, uint16_t fragment = 0x4000) {
  TcpFrame f{kFromKernel, {}, {}};
  f.ip.source = ipv4(10, 244, 1, 7);  // a pod behind the node's kernel
  f.ip.destination = destination;
  f.ip.fragment = fragment;
  f.tcp.sourcePort = 8080;
  f.tcp.destinationPort = destinationPort;
  f.tcp.flags = kTcpSyn | kTcpAck;
  return f.build();
}

// An IPv4 frame of exactly `length` bytes (UDP to the client).
Bytes ipv4OfLength(size_t length) {
  UdpFrame f{kFromKernel, {}, {}};
  f.ip.source = kPort0Ip;
  f.ip.destination = kClientIp;
  f.ip.protocol = kProtoUdp;
  f.udp.sourcePort = 5353;
  f.udp.destinationPort = 5353;
  f.udp.payload.assign(length - 14 - 20 - 8, 0xab);
  return f.build();
}

// `frame` with an 802.1Q tag (VLAN 10) after the MAC addresses.
Bytes tagged(const Bytes& frame) {
  Bytes out(frame.begin(), frame.begin() + 12);
  put16(out, kVlanEtherType);
  put16(out, 10);
  out.insert(out.end(), frame.begin() + 12, frame.end());
  return out;
}

TEST(KernelFrame, Checks) {
  const PortInfo info = port0();
  const uint16_t workers = 4;
  Bytes badVersion = ipv4OfLength(100);
  badVersion[14] = 0x65;
  Bytes shortIhl = ipv4OfLength(100);
  shortIhl[14] = 0x44;
  Bytes totalPastFrame = ipv4OfLength(100);
  totalPastFrame[16] = 0x03;  // total length 0x03xx > 86
  Bytes ipv6 = ethernetFrame(kFromKernel, kEtherTypeIpv6, Bytes(60, 0x60));
  Bytes truncatedTag = tagged(ipv4OfLength(100));
  truncatedTag.resize(16);
  const Bytes arp =
      ArpFrame{{kBroadcast, kPort0Mac}, 1, kPort0Mac, kPort0Ip, {}, kClientIp, 60}.build();
  const struct {
    const char* description;
    Bytes frame;
    std::optional<DropReason> drop;
    uint16_t worker;
  } cases[] = {
      {"13 bytes: no Ethernet header", Bytes(13, 0), DropReason::KernelFrameMalformed, 0},
      {"ARP request: worker 0", arp, std::nullopt, 0},
      {"IPv6: worker 0 (not looked into)", ipv6, std::nullopt, 0},
      {"MTU + 14 bytes: passes", ipv4OfLength(1514), std::nullopt, 0},
      {"MTU + 15 bytes: too long", ipv4OfLength(1515), DropReason::KernelFrameTooLong, 0},
      {"tagged, MTU + 18 bytes: passes", tagged(ipv4OfLength(1514)), std::nullopt, 0},
      {"tagged, MTU + 19 bytes: too long", tagged(ipv4OfLength(1515)), DropReason::KernelFrameTooLong, 0},
      {"IPv4 version 6 in the header", badVersion, DropReason::KernelFrameMalformed, 0},
      {"IPv4 header length 16 bytes", shortIhl, DropReason::KernelFrameMalformed, 0},
      {"IPv4 total length past the frame", totalPastFrame, DropReason::KernelFrameMalformed, 0},
      {"tagged, truncated in the VLAN header", truncatedTag, DropReason::KernelFrameMalformed, 0},
      {"TCP to the extra SNAT address, SNAT port 40001: its owner", tcpTo(kPort0SnatIp, 40001), std::nullopt,
       40001 % workers},
      {"TCP to the port address, SNAT port 40002: its owner", tcpTo(kPort0Ip, 40002), std::nullopt, 40002 % workers},
      {"TCP to the port address, node port 30080: worker 0", tcpTo(kPort0Ip, 30080), std::nullopt, 0},
      {"TCP to the port address, port 443: worker 0", tcpTo(kPort0Ip, 443), std::nullopt, 0},
      {"TCP to another host, port 40001: worker 0", tcpTo(kClientIp, 40001), std::nullopt, 0},
      {"a later fragment to a SNAT port: worker 0", tcpTo(kPort0Ip, 40001, 0x0010), std::nullopt, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    rte_mbuf* m = mbufOf(c.frame);
    ASSERT_NE(m, nullptr);
    const KernelFrameVerdict verdict = checkKernelFrame(m, info, workers);
    EXPECT_EQ(verdict.drop, c.drop);
    EXPECT_EQ(verdict.worker, c.worker);
    rte_pktmbuf_free(m);
  }
}

TEST(KernelFrame, HeadersAcrossSegments) {
  // The kernel's frame read into a chain (a jumbo MTU): the IPv4 header straddles two mbufs.
  const Bytes frame = tcpTo(kPort0SnatIp, 40003);
  rte_mbuf* head = mbufOf(Bytes(frame.begin(), frame.begin() + 20));
  rte_mbuf* tail = mbufOf(Bytes(frame.begin() + 20, frame.end()));
  ASSERT_NE(head, nullptr);
  ASSERT_NE(tail, nullptr);
  ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);
  const KernelFrameVerdict verdict = checkKernelFrame(head, port0(), 2);
  EXPECT_FALSE(verdict.drop.has_value());
  EXPECT_EQ(verdict.worker, 40003 % 2);
  rte_pktmbuf_free(head);
}

TEST(ExceptionInterface, VirtioUserNeedsVhostNet) {
  if (access("/dev/vhost-net", F_OK) == 0) GTEST_SKIP() << "this machine has /dev/vhost-net";
  rte_ether_addr mac{};
  std::copy(kPort0Mac.begin(), kPort0Mac.end(), mac.addr_bytes);
  try {
    ExceptionDevice device(ExceptionPathKind::VirtioUser, 0, "npvirtio" + std::to_string(getpid() % 10000), mac, 1500,
                           testPool());
    FAIL() << "virtio-user opened without /dev/vhost-net";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("needs /dev/vhost-net"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("modprobe vhost_net"), std::string::npos) << e.what();
  }
}

// A network namespace made for the test; this thread enters it, and leaves it and
// deletes it at the end. Threads made meanwhile (the exception thread) start in it.
class ScratchNetns {
 public:
  ScratchNetns() : name_("npexc" + std::to_string(getpid())) {
    original_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original_ < 0 || std::system(("ip netns add " + name_).c_str()) != 0) return;
    added_ = true;
    std::system(("ip netns exec " + name_ + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                 "net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1").c_str());
    const int fd = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    entered_ = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) close(fd);
  }
  ~ScratchNetns() {
    if (entered_) setns(original_, CLONE_NEWNET);
    if (original_ >= 0) close(original_);
    if (added_) std::system(("ip netns del " + name_).c_str());
  }
  bool ok() const { return entered_; }
  const std::string& name() const { return name_; }
  /// A shell command's output, run inside the namespace.
  std::string run(const std::string& command) const {
    std::string out;
    FILE* pipe = popen(("ip netns exec " + name_ + " " + command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return out;
    char buffer[512];
    while (fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
    pclose(pipe);
    return out;
  }

 private:
  std::string name_;
  int original_ = -1;
  bool added_ = false;
  bool entered_ = false;
};

// The kernel's side of the interface: a packet socket bound to it.
class PacketSocket {
 public:
  explicit PacketSocket(const std::string& interface) {
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close(fd_);
      fd_ = -1;
    }
    timeval timeout{0, 200000};
    if (fd_ >= 0) setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~PacketSocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool send(const Bytes& frame) { return ::send(fd_, frame.data(), frame.size(), 0) == static_cast<ssize_t>(frame.size()); }
  /// Waits up to `seconds` for a frame equal to `want` (received by the kernel on the interface).
  bool sawIncoming(const Bytes& want, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    Bytes buffer(4096);
    while (std::chrono::steady_clock::now() < deadline) {
      sockaddr_ll from{};
      socklen_t length = sizeof from;
      const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &length);
      if (n > 0 && from.sll_pkttype != PACKET_OUTGOING && Bytes(buffer.begin(), buffer.begin() + n) == want) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

// Takes frames off `ring` for up to `seconds` until `match` accepts one; frees the rest.
template <typename Match>
std::optional<Bytes> takeFrom(rte_ring* ring, int seconds, Match match, uint16_t* port = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    void* object = nullptr;
    if (rte_ring_dequeue(ring, &object) != 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    auto* m = static_cast<rte_mbuf*>(object);
    Bytes frame = bytesOf(m);
    const uint16_t mport = m->port;
    rte_pktmbuf_free(m);
    if (match(frame)) {
      if (port != nullptr) *port = mport;
      return frame;
    }
  }
  return std::nullopt;
}

int interfaceIoctl(const std::string& interface, unsigned long request, ifreq& request_data) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  std::snprintf(request_data.ifr_name, IFNAMSIZ, "%s", interface.c_str());
  const int rc = ioctl(fd, request, &request_data);
  close(fd);
  return rc;
}

TEST(ExceptionInterface, TapBothWays) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (a network namespace and a tap)";
  ScratchNetns netns;
  ASSERT_TRUE(netns.ok()) << "could not make and enter network namespace " << netns.name();
  const std::string name = "npx" + std::to_string(getpid());

  DataPlane plane;
  plane.workerCount = 2;
  plane.ports.push_back(port0(1400));
  ExceptionPath::PortSetup setup;
  setup.index = 0;
  setup.config.kind = ExceptionPathKind::Tap;
  setup.config.configureAddresses = true;
  setup.interfaceName = name;
  ExceptionLimitsConfig limits;
  limits.ringSize = 2048;
  auto path = std::make_unique<ExceptionPath>(plane, std::vector<ExceptionPath::PortSetup>{setup}, limits, testPool(),
                                              SOCKET_ID_ANY);
  ASSERT_NE(plane.ports[0].toKernel, nullptr);
  ASSERT_EQ(plane.fromKernel.size(), 2u);
  EXPECT_EQ(plane.kernelPort, 0);

  // The kernel interface: the port's MAC and MTU, the port's address.
  ifreq request{};
  ASSERT_EQ(interfaceIoctl(name, SIOCGIFHWADDR, request), 0) << name << " is not in the namespace";
  EXPECT_EQ(0, std::memcmp(request.ifr_hwaddr.sa_data, kPort0Mac.data(), 6));
  ASSERT_EQ(interfaceIoctl(name, SIOCGIFMTU, request), 0);
  EXPECT_EQ(request.ifr_mtu, 1400);
  ASSERT_EQ(interfaceIoctl(name, SIOCGIFTXQLEN, request), 0);
  EXPECT_EQ(request.ifr_qlen, 2048) << "the kernel's queue is not as deep as the rings";
  EXPECT_NE(netns.run("ip -4 -o addr show dev " + name).find("inet 10.50.0.1/24"), std::string::npos)
      << netns.run("ip -4 -o addr show dev " + name);

  PacketSocket kernel(name);
  ASSERT_TRUE(kernel.ok());
  path->start();

  // To the kernel: a ping from the client, as a worker would hand it over.
  IcmpFrame echo;
  echo.eth = {kPort0Mac, kClientMac};
  echo.ip.source = kClientIp;
  echo.ip.destination = kPort0Ip;
  echo.rest = 0x00010001;
  echo.data = Bytes(32, 0x61);
  const Bytes ping = echo.build();
  rte_mbuf* m = mbufOf(ping);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(rte_ring_enqueue(plane.ports[0].toKernel, m), 0);
  EXPECT_TRUE(kernel.sawIncoming(ping, 3)) << "the frame did not reach the kernel interface";
  // The kernel answers it: first it asks for the client's MAC, from the port's MAC and
  // address, and that request comes back on worker 0's ring, to leave by port 0.
  uint16_t leaveBy = 0xffff;
  const auto arp = takeFrom(
      plane.fromKernel[0], 3,
      [](const Bytes& f) { return f.size() >= 42 && read16(f, 12) == kEtherTypeArp && read32(f, 38) == kClientIp; },
      &leaveBy);
  ASSERT_TRUE(arp.has_value()) << "no ARP request for 10.50.0.100 from the kernel";
  EXPECT_EQ(Bytes(arp->begin() + 6, arp->begin() + 12), Bytes(kPort0Mac.begin(), kPort0Mac.end()));
  EXPECT_EQ(read32(*arp, 28), kPort0Ip);
  EXPECT_EQ(leaveBy, 0);

  // A reply of a connection to a local endpoint (to the SNAT address, SNAT port 40001):
  // to the owner, worker 1.
  const Bytes reply = tcpTo(kPort0SnatIp, 40001);
  ASSERT_TRUE(kernel.send(reply));
  EXPECT_TRUE(takeFrom(plane.fromKernel[1], 3, [&](const Bytes& f) { return f == reply; }).has_value())
      << "the reply did not reach worker 1's ring";

  // Longer than the port's MTU (the interface's raised behind nicproxy's back): dropped, counted.
  request.ifr_mtu = 2000;
  ASSERT_EQ(interfaceIoctl(name, SIOCSIFMTU, request), 0);
  ASSERT_TRUE(kernel.send(ipv4OfLength(1400 + 14 + 100)));
  const ExceptionCounters& counters = *path->ports().at(0).counters;
  for (int i = 0; i < 300 && counters.dropCount(DropReason::KernelFrameTooLong) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(counters.dropCount(DropReason::KernelFrameTooLong), 1u);
  EXPECT_EQ(counters.toKernelPackets.load(), 1u);
  EXPECT_EQ(counters.toKernelBytes.load(), ping.size());
  EXPECT_GE(counters.fromKernelPackets.load(), 2u);

  // Gone: the thread, the interface, the plane's rings.
  path.reset();
  EXPECT_EQ(if_nametoindex(name.c_str()), 0u) << name << " is still there";
  EXPECT_EQ(plane.ports[0].toKernel, nullptr);
  EXPECT_TRUE(plane.fromKernel.empty());
  EXPECT_EQ(plane.kernelPort, DataPlane::kNoKernelPort);
}

}  // namespace
}  // namespace nicproxy::testing

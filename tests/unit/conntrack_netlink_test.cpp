// Tests: NetlinkConntrackTable against this kernel's conntrack, in a network namespace of
// our own (ctnl<pid>): the entries are made with the conntrack tool, listed and deleted
// through the class, and checked with the tool again. Addresses: client 10.9.0.1,
// Service 172.30.0.10, endpoints 10.180.0.1-2.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "drivers/conntrack_netlink.hpp"
#include "drivers/exec.hpp"
#include "tests/unit/kernel_fixtures.hpp"
#include "tests/unit/scratch_namespace.hpp"

namespace nicproxy {
namespace {

using fixtures::ip;

// Opens the table's socket inside namespace `ns` (a socket belongs to the namespace of
// the thread that opened it; the table opens it on first use), then comes back.
void openIn(NetlinkConntrackTable& table, const std::string& ns) {
  const int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (home < 0 || target < 0 || ::setns(target, CLONE_NEWNET) != 0) throw std::runtime_error("cannot enter " + ns);
  std::string error;
  try {
    table.listUdp();
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (::setns(home, CLONE_NEWNET) != 0) throw std::runtime_error("cannot come back from " + ns);
  ::close(home);
  ::close(target);
  if (!error.empty()) throw std::runtime_error(error);
}

// conntrack -I for one entry from 10.9.0.1:sport to 172.30.0.10:53, answered by `endpoint`.
std::vector<std::string> insert(const std::string& ns, const char* proto, int sport, const char* endpoint,
                                int endpointPort, const char* zone = "0") {
  std::vector<std::string> argv = {"ip", "netns", "exec", ns, "conntrack", "-I", "-p", proto, "-s", "10.9.0.1",
                                   "-d", "172.30.0.10", "--sport", std::to_string(sport), "--dport", "53", "-r",
                                   endpoint, "-q", "10.9.0.1", "--reply-port-src", std::to_string(endpointPort),
                                   "--reply-port-dst", std::to_string(sport), "-t", "120", "-w", zone};
  if (std::string(proto) == "tcp") argv.insert(argv.end(), {"--state", "ESTABLISHED"});
  return argv;
}

TEST(ConntrackNetlink, ListsUdpEntriesAndDeletesExactlyTheOneAsked) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  ProcessExecutor host;
  if (!host.run({"conntrack", "--version"}).ok()) GTEST_SKIP() << "needs the conntrack tool to make entries";
  const testing::ScratchNamespace scratch("ctnl");
  ASSERT_TRUE(scratch.created());
  const std::string& ns = scratch.name();
  ASSERT_TRUE(host.run(insert(ns, "udp", 4001, "10.180.0.1", 5353)).ok());
  ASSERT_TRUE(host.run(insert(ns, "udp", 4002, "10.180.0.2", 53, "5")).ok());
  ASSERT_TRUE(host.run(insert(ns, "tcp", 4003, "10.180.0.1", 53)).ok());

  NetlinkConntrackTable table;
  openIn(table, ns);
  std::vector<ConntrackEntry> entries = table.listUdp();
  std::sort(entries.begin(), entries.end());
  const ConntrackEntry first{.origSrc = ip("10.9.0.1"), .origDst = ip("172.30.0.10"), .origSrcPort = 4001,
                             .origDstPort = 53, .replySrc = ip("10.180.0.1"), .zone = 0};
  const ConntrackEntry zoned{.origSrc = ip("10.9.0.1"), .origDst = ip("172.30.0.10"), .origSrcPort = 4002,
                             .origDstPort = 53, .replySrc = ip("10.180.0.2"), .zone = 5};
  EXPECT_EQ(entries, (std::vector<ConntrackEntry>{first, zoned}));

  EXPECT_TRUE(table.remove(first));
  EXPECT_FALSE(table.remove(first));  // gone already: not an error
  EXPECT_EQ(table.listUdp(), (std::vector<ConntrackEntry>{zoned}));
  ConntrackEntry wrongZone = zoned;
  wrongZone.zone = 0;
  EXPECT_FALSE(table.remove(wrongZone));
  EXPECT_TRUE(table.remove(zoned));
  EXPECT_TRUE(table.listUdp().empty());

  const ExecResult tcp = host.run({"ip", "netns", "exec", ns, "conntrack", "-L", "-p", "tcp"});
  EXPECT_NE(tcp.out.find("sport=4003"), std::string::npos) << "the TCP entry must stay: " << tcp.out << tcp.err;
}

}  // namespace
}  // namespace nicproxy

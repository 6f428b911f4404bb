// Tests: the real sockets of the IPVS dataplane on this kernel. NetlinkVipLink
// (libnl-route-3) adds, lists and deletes /32 addresses on a veth in a network
// namespace of our own (this kernel has no dummy interfaces, so kube-ipvs0 itself
// cannot be created here; ensureDummy must then fail naming the dummy module, or
// create it where the module exists). NetlinkIpvsTransport::open fails clearly where
// the kernel has no IPVS. Addresses: 172.30.0.41 and 172.30.0.42 on veth "npv0" in
// namespace npvip<pid>.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>

#include "drivers/exec.hpp"
#include "drivers/ipvs/ipvs_netlink.hpp"
#include "drivers/ipvs/vip_link.hpp"
#include "tests/unit/kernel_fixtures.hpp"
#include "tests/unit/scratch_namespace.hpp"

namespace nicproxy {
namespace {

using fixtures::ip;

// Builds a NetlinkVipLink whose socket lives in namespace `ns`: a socket belongs to the
// namespace of the thread that opened it, so this thread enters `ns` and comes back.
std::unique_ptr<NetlinkVipLink> linkIn(const std::string& ns) {
  const int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (home < 0 || target < 0 || ::setns(target, CLONE_NEWNET) != 0) throw std::runtime_error("cannot enter " + ns);
  std::unique_ptr<NetlinkVipLink> link;
  try {
    link = std::make_unique<NetlinkVipLink>();
  } catch (...) {
    ::setns(home, CLONE_NEWNET);
    throw;
  }
  if (::setns(home, CLONE_NEWNET) != 0) throw std::runtime_error("cannot come back from " + ns);
  ::close(home);
  ::close(target);
  return link;
}

TEST(IpvsKernel, VipLinkAddsListsAndDeletesHostAddressesOnARealInterface) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  ProcessExecutor host;
  const testing::ScratchNamespace scratch("npvip");
  ASSERT_TRUE(scratch.created());
  const std::string& ns = scratch.name();
  ASSERT_TRUE(host.run({"ip", "-n", ns, "link", "add", "npv0", "type", "veth", "peer", "name", "npv1"}).ok());

  const auto link = linkIn(ns);
  link->ensureDummy("npv0");  // exists already: nothing to do
  EXPECT_TRUE(link->addresses("npv0").empty());
  link->addAddress("npv0", ip("172.30.0.41"));
  link->addAddress("npv0", ip("172.30.0.42"));
  EXPECT_EQ(link->addresses("npv0"), (std::set<Ipv4>{ip("172.30.0.41"), ip("172.30.0.42")}));
  const ExecResult shown = host.run({"ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "npv0"});
  EXPECT_NE(shown.out.find("inet 172.30.0.41/32"), std::string::npos) << shown.out;
  link->deleteAddress("npv0", ip("172.30.0.41"));
  link->deleteAddress("npv0", ip("172.30.0.41"));  // already gone: not an error
  EXPECT_EQ(link->addresses("npv0"), std::set<Ipv4>{ip("172.30.0.42")});
  EXPECT_TRUE(link->addresses("absent0").empty());

  try {
    link->ensureDummy("kube-ipvs0");
    EXPECT_TRUE(link->deleteLink("kube-ipvs0")) << "created, so it must be there to delete";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("cannot create the dummy interface kube-ipvs0"), std::string::npos)
        << error.what();
  }
  EXPECT_FALSE(link->deleteLink("kube-ipvs0"));
  EXPECT_TRUE(link->deleteLink("npv0"));
  EXPECT_FALSE(host.run({"ip", "-n", ns, "link", "show", "npv1"}).ok()) << "deleting a veth deletes its peer";
}

TEST(IpvsKernel, OpeningTheIpvsFamilyWithoutIpvsSaysSo) {
  if (std::filesystem::exists("/proc/net/ip_vs")) GTEST_SKIP() << "this kernel has IPVS";
  try {
    NetlinkIpvsTransport::open();
    FAIL() << "opened the IPVS family on a kernel without IPVS";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("\"IPVS\" is not there (is the ip_vs module loaded?)"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace nicproxy

// Tests: drivers/ipvs/ipvs_modules (probeIpvs on a fake /proc, /sys and /lib/modules
// tree; missingIpvsModules), the check that makes mode "ipvs" fail at start naming the
// missing kernel modules.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "drivers/ipvs/ipvs_modules.hpp"

namespace nicproxy {
namespace {

namespace fs = std::filesystem;

struct FakeRoot : ::testing::Test {
  fs::path root;
  void SetUp() override {
    root = fs::temp_directory_path() / ("nicproxy-ipvs-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root / "proc/net");
    fs::create_directories(root / "sys/module/nf_conntrack");
    fs::create_directories(root / "lib/modules/6.1.0");
  }
  void TearDown() override { fs::remove_all(root); }
  void write(const fs::path& relative, const std::string& text) { std::ofstream(root / relative) << text; }
};

TEST_F(FakeRoot, NoIpvsAtAllNamesEveryModule) {
  const IpvsProbe probe = probeIpvs(root, "6.1.0");
  EXPECT_FALSE(probe.procNetIpVs);
  EXPECT_EQ(missingIpvsModules(probe, "rr"), (std::vector<std::string>{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh"}));
  EXPECT_EQ(missingIpvsModules(probe, "mh"),
            (std::vector<std::string>{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "ip_vs_mh"}));
}

TEST_F(FakeRoot, LoadedAndBuiltinModulesCount) {
  write("proc/net/ip_vs", "IP Virtual Server version 1.2.1\n");
  write("proc/modules", "ip_vs_rr 16384 0 - Live 0x0\nip_vs 184320 2 ip_vs_rr, Live 0x0\n");
  write("lib/modules/6.1.0/modules.builtin", "kernel/net/netfilter/ipvs/ip_vs_wrr.ko\n");
  const IpvsProbe probe = probeIpvs(root, "6.1.0");
  EXPECT_TRUE(probe.procNetIpVs);
  EXPECT_EQ(missingIpvsModules(probe, "rr"), (std::vector<std::string>{"ip_vs_sh"}));
  write("proc/modules", "ip_vs_rr 1 0 - Live 0x0\nip_vs_sh 1 0 - Live 0x0\nip_vs_lc 1 0 - Live 0x0\n");
  EXPECT_TRUE(missingIpvsModules(probeIpvs(root, "6.1.0"), "lc").empty());
}

TEST(IpvsModules, ThisKernel) {
  // This machine has no IPVS: the real probe must say so, not pretend.
  if (fs::exists("/proc/net/ip_vs")) GTEST_SKIP() << "this kernel has IPVS";
  const auto missing = missingIpvsModules(probeIpvs("/", "none"), "rr");
  ASSERT_FALSE(missing.empty());
  EXPECT_EQ(missing.front(), "ip_vs");
}

}  // namespace
}  // namespace nicproxy

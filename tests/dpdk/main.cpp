// The dpdk test binary's entry point: EAL is initialised once per process (it cannot
// be re-initialised), without hugepages or PCI devices, before any test runs.
// DPDK 22.11 refuses --in-memory with --no-huge (--no-huge implies --legacy-mem), so
// the process keeps no shared config (--no-shconf) and uses its own file prefix, which
// lets several test binaries run at once.
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <rte_eal.h>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  spdlog::set_level(spdlog::level::warn);  // the provider logs every sync at info
  std::vector<std::string> args = {"dpdk_tests",    "--no-huge",     "-m",          "256",
                                   "--no-pci",      "--no-shconf",   "--file-prefix", "np-test-" + std::to_string(getpid()),
                                   "--no-telemetry", "--log-level",  "*:error",     "-l", "0"};
  std::vector<char*> eal;
  for (std::string& a : args) eal.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    return 1;
  }
  const int result = RUN_ALL_TESTS();
  rte_eal_cleanup();
  return result;
}

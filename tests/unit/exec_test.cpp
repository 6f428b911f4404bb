// Tests: drivers/exec (ProcessExecutor, FakeExecutor).
//   ProcessExecutor.CapturesStdout            /bin/echo hi
//   ProcessExecutor.FeedsStdin                cat echoes 1 MiB of stdin back (no pipe deadlock)
//   ProcessExecutor.NoStdinMeansEndOfFile     cat without stdin data exits at once
//   ProcessExecutor.ExitCodeAndStderr         false -> 1; ls of a missing path -> 2 and a message
//   ProcessExecutor.ChildThatIgnoresStdin     true with unread stdin: no SIGPIPE death, exit 0
//   ProcessExecutor.MissingBinary             a clear error, not an exit code
//   ProcessExecutor.ArgumentsAreNotShellParsed
//   ProcessExecutor.HangingCommandIsKilledAtItsTimeout   sleep 100 with a 300 ms bound: SIGTERM, a clear error
//   ProcessExecutor.CommandIgnoringSigtermGetsSigkill    sh that traps TERM (and its sleep): SIGKILL after the grace
//   ProcessExecutor.OutputHandedToABackgroundChild       a child that exits but leaves a sleep holding stdout
//   ProcessExecutor.WatchdogNamesTheCommand              a hanging command is reported by the control loop's watchdog
//   FakeExecutor.RecordsCallsAndReplaysScript
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "control/watchdog.hpp"
#include "drivers/exec.hpp"

namespace nicproxy {
namespace {

TEST(ProcessExecutor, CapturesStdout) {
  ProcessExecutor executor;
  const ExecResult result = executor.run({"/bin/echo", "hi"});
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_EQ(result.out, "hi\n");
  EXPECT_EQ(result.err, "");
}

TEST(ProcessExecutor, FeedsStdin) {
  ProcessExecutor executor;
  std::string input;
  for (int i = 0; input.size() < (1U << 20); ++i) input += "line " + std::to_string(i) + "\n";
  const ExecResult result = executor.run({"cat"}, input);
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.out.size(), input.size());
  EXPECT_TRUE(result.out == input);  // not EXPECT_EQ: a 1 MiB diff helps nobody
}

TEST(ProcessExecutor, NoStdinMeansEndOfFile) {
  ProcessExecutor executor;
  const ExecResult result = executor.run({"cat"});
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.out, "");
}

TEST(ProcessExecutor, ExitCodeAndStderr) {
  ProcessExecutor executor;
  const ExecResult falseResult = executor.run({"false"});
  EXPECT_FALSE(falseResult.ok());
  EXPECT_EQ(falseResult.exitCode, 1);
  EXPECT_EQ(falseResult.error, "");

  const ExecResult ls = executor.run({"ls", "/nonexistent-nicproxy-path"});
  EXPECT_EQ(ls.exitCode, 2);
  EXPECT_NE(ls.err.find("nonexistent-nicproxy-path"), std::string::npos) << ls.err;
  EXPECT_EQ(ls.out, "");
}

TEST(ProcessExecutor, ChildThatIgnoresStdin) {
  ProcessExecutor executor;
  const ExecResult result = executor.run({"true"}, std::string(4U << 20, 'x'));
  EXPECT_TRUE(result.ok()) << result.error;
}

TEST(ProcessExecutor, MissingBinary) {
  ProcessExecutor executor;
  const ExecResult result = executor.run({"nicproxy-no-such-program", "--version"});
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.exitCode, -1);
  EXPECT_EQ(result.error, "cannot run nicproxy-no-such-program: No such file or directory");

  EXPECT_EQ(executor.run({}).error, "empty command");
}

TEST(ProcessExecutor, ArgumentsAreNotShellParsed) {
  ProcessExecutor executor;
  const ExecResult result = executor.run({"/bin/echo", "a b", "$HOME", "; rm -rf /"});
  EXPECT_EQ(result.out, "a b $HOME ; rm -rf /\n");
}

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// True when no live process is left in the process group `pgid` within a second.
// Read from /proc: a killed grandchild stays a zombie until init reaps it, and
// kill(-pgid, 0) still finds zombies.
bool groupGone(pid_t pgid) {
  const auto deadline = Clock::now() + milliseconds(1000);
  while (true) {
    bool alive = false;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::ifstream in(entry.path() / "stat");
      std::string stat;
      if (!std::getline(in, stat)) continue;
      // "pid (comm) state ppid pgrp ...": comm may hold spaces, so parse after the last ')'.
      std::istringstream fields(stat.substr(stat.rfind(')') + 1));
      char state = 0;
      pid_t ppid = 0, pgrp = 0;
      fields >> state >> ppid >> pgrp;
      if (pgrp == pgid && state != 'Z' && state != 'X') alive = true;
    }
    if (!alive) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

TEST(ProcessExecutor, HangingCommandIsKilledAtItsTimeout) {
  ProcessExecutor executor(ExecLimits{.timeout = milliseconds(300), .killGrace = milliseconds(2000)});
  const auto start = Clock::now();
  const ExecResult result = executor.run({"sleep", "100"});
  const auto took = Clock::now() - start;
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.exitCode, -1);
  EXPECT_EQ(result.error, "sleep timed out after 300 ms (killed with SIGTERM)");
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(1500)) << "sleep stops on SIGTERM: no need to wait for the grace period";
}

TEST(ProcessExecutor, CommandIgnoringSigtermGetsSigkill) {
  ProcessExecutor executor(ExecLimits{.timeout = milliseconds(300), .killGrace = milliseconds(300)});
  // The shell and its sleep both ignore SIGTERM (an ignored signal stays ignored across exec);
  // $$ is the process group, since the runner makes the child a group leader.
  const auto start = Clock::now();
  const ExecResult result = executor.run({"sh", "-c", "trap '' TERM; echo $$; sleep 100; echo not reached"});
  const auto took = Clock::now() - start;
  EXPECT_EQ(result.error, "sh timed out after 300 ms (killed with SIGKILL, as SIGTERM did not stop it within 300 ms)");
  EXPECT_LT(took, milliseconds(2000));
  ASSERT_FALSE(result.out.empty());
  const pid_t group = std::stoi(result.out);
  EXPECT_TRUE(groupGone(group)) << "the sleep the shell started is gone too";
}

TEST(ProcessExecutor, OutputHandedToABackgroundChild) {
  // The shell exits at once, but a background sleep keeps stdout open: without a bound the
  // runner would wait 100 s for end-of-file.
  ProcessExecutor executor(ExecLimits{.timeout = milliseconds(300), .killGrace = milliseconds(300)});
  const auto start = Clock::now();
  const ExecResult result = executor.run({"sh", "-c", "sleep 100 & echo $$"});
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  EXPECT_EQ(result.error.rfind("sh timed out after 300 ms", 0), 0u) << result.error;
  ASSERT_FALSE(result.out.empty());
  EXPECT_TRUE(groupGone(std::stoi(result.out))) << "the background sleep is gone";
}

TEST(ProcessExecutor, WatchdogNamesTheCommand) {
  std::mutex mutex;
  std::vector<std::string> reports;
  Watchdog watchdog("control loop", milliseconds(100), [&](const std::string& line) {
    std::lock_guard lock(mutex);
    reports.push_back(line);
  });
  ProcessExecutor executor(ExecLimits{.timeout = milliseconds(400), .killGrace = milliseconds(300)});
  {
    const WatchedStep step(&watchdog, "iptables sync of generation 3 (full)");
    EXPECT_FALSE(executor.run({"sleep", "100"}, "*nat\nCOMMIT\n").ok());
  }
  std::lock_guard lock(mutex);
  ASSERT_GE(reports.size(), 2u);
  EXPECT_NE(reports[0].find("control loop busy for"), std::string::npos) << reports[0];
  EXPECT_NE(reports[0].find("waiting in: iptables sync of generation 3 (full) > sleep 100"), std::string::npos)
      << reports[0];
  EXPECT_NE(reports.back().find("\"iptables sync of generation 3 (full)\" finished after"), std::string::npos)
      << reports.back();
}

TEST(FakeExecutor, RecordsCallsAndReplaysScript) {
  FakeExecutor fake;
  fake.pushResult(ExecResult{.exitCode = 1, .out = {}, .err = "iptables-restore: line 3 failed\n", .error = {}});
  Executor& executor = fake;
  const ExecResult first = executor.run({"iptables-restore", "--noflush"}, "*nat\nCOMMIT\n");
  const ExecResult second = executor.run({"iptables-save"});
  EXPECT_EQ(first.exitCode, 1);
  EXPECT_EQ(first.err, "iptables-restore: line 3 failed\n");
  EXPECT_TRUE(second.ok());  // script exhausted: the default result
  ASSERT_EQ(fake.calls().size(), 2u);
  EXPECT_EQ(fake.calls()[0].argv, (std::vector<std::string>{"iptables-restore", "--noflush"}));
  EXPECT_EQ(fake.calls()[0].stdinData, "*nat\nCOMMIT\n");
  EXPECT_EQ(fake.calls()[1].stdinData, "");
}

}  // namespace
}  // namespace nicproxy

// Tests: drivers/exec (ProcessExecutor, FakeExecutor).
//   ProcessExecutor.CapturesStdout            /bin/echo hi
//   ProcessExecutor.FeedsStdin                cat echoes 1 MiB of stdin back (no pipe deadlock)
//   ProcessExecutor.NoStdinMeansEndOfFile     cat without stdin data exits at once
//   ProcessExecutor.ExitCodeAndStderr         false -> 1; ls of a missing path -> 2 and a message
//   ProcessExecutor.ChildThatIgnoresStdin     true with unread stdin: no SIGPIPE death, exit 0
//   ProcessExecutor.MissingBinary             a clear error, not an exit code
//   ProcessExecutor.ArgumentsAreNotShellParsed
//   FakeExecutor.RecordsCallsAndReplaysScript
#include <gtest/gtest.h>

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

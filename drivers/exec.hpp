#pragma once
// Runs a program from an argv vector (never through a shell, so no quoting bugs and
// no injection from object names), feeding it stdin and capturing its output. The
// kernel drivers use it for iptables-restore, nft -f - and friends; their tests use
// FakeExecutor instead. Every command is bounded in time: one that hangs (a lock held
// by another program, a stuck kernel call) is killed, so the control loop goes on.
#include <chrono>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace nicproxy {

struct ExecResult {
  int exitCode = -1;  // the exit status; -1 when the program did not start or was killed
  std::string out;    // everything written to stdout
  std::string err;    // everything written to stderr
  std::string error;  // why it did not start or finish ("cannot run foo: No such file..."); empty otherwise
  bool ok() const { return error.empty() && exitCode == 0; }
  /// Why the command failed, for a log line or an exception: the runner's own error when
  /// it did not start, else the first `lines` lines of its stderr joined with " / ".
  std::string failureText(size_t lines = 3) const;
};

class Executor {
 public:
  virtual ~Executor() = default;
  /// Runs argv[0] (looked up in PATH) with argv as its arguments. The child's stdin is
  /// `stdinData` followed by end-of-file, never the daemon's own stdin. Blocks until it exits.
  virtual ExecResult run(const std::vector<std::string>& argv, std::string_view stdinData = {}) = 0;
};

/// How long a command may run. The default is well above the slowest legitimate
/// command measured (a full nftables sync of 10,000 Services, about 2 min).
struct ExecLimits {
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  /// After SIGTERM, how long the command has to exit before SIGKILL.
  std::chrono::milliseconds killGrace{std::chrono::seconds(2)};
};

/// The real thing: posix_spawnp and pipes. The child runs in its own process group, so
/// a timeout kills whatever it started too (SIGTERM, then SIGKILL after killGrace); the
/// result's error then says "<command> timed out after N s (killed with SIGTERM)".
class ProcessExecutor : public Executor {
 public:
  explicit ProcessExecutor(ExecLimits limits = {}) : limits_(limits) {}
  ExecResult run(const std::vector<std::string>& argv, std::string_view stdinData = {}) override;
  const ExecLimits& limits() const { return limits_; }

 private:
  ExecLimits limits_;
};

/// Records every call and answers from a script: queued results in order, then the
/// default result (exit code 0, no output).
class FakeExecutor : public Executor {
 public:
  struct Call {
    std::vector<std::string> argv;
    std::string stdinData;
  };

  ExecResult run(const std::vector<std::string>& argv, std::string_view stdinData = {}) override;

  void pushResult(ExecResult result) { results_.push_back(std::move(result)); }
  void setDefaultResult(ExecResult result) { defaultResult_ = std::move(result); }
  const std::vector<Call>& calls() const { return calls_; }

 private:
  std::deque<ExecResult> results_;
  ExecResult defaultResult_{.exitCode = 0, .out = {}, .err = {}, .error = {}};
  std::vector<Call> calls_;
};

}  // namespace nicproxy

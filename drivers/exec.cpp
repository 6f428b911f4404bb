#include "drivers/exec.hpp"

#include <sstream>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include "control/watchdog.hpp"

extern char** environ;

namespace nicproxy {
namespace {

using Clock = std::chrono::steady_clock;

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

bool makePipe(Pipe& pipe) {
  std::array<int, 2> fds{};
  // CLOEXEC: the child gets only the ends dup2'ed onto 0, 1 and 2.
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) return false;
  pipe.read.reset(fds[0]);
  pipe.write.reset(fds[1]);
  return true;
}

std::string errnoText(const char* what, int error) { return std::string(what) + ": " + std::strerror(error); }

// Blocks SIGPIPE in this thread while it writes the child's stdin, so a child that
// exits without reading shows up as EPIPE instead of killing the daemon; a SIGPIPE
// raised meanwhile is consumed before the mask is restored.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    wasPending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  ~SigpipeGuard() {
    if (!wasPending_) {
      const timespec zero{};
      while (sigtimedwait(&set_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t set_{};
  sigset_t old_{};
  bool wasPending_ = false;
};

// Pumps stdin out and stdout/stderr in at the same time; doing them one after the
// other deadlocks once a pipe buffer (64 KiB) fills up.
// Returns an error text, or empty; sets `timedOut` and returns at `deadline`.
std::string pump(Pipe& in, Pipe& out, Pipe& err, std::string_view stdinData, ExecResult& result,
                 Clock::time_point deadline, bool& timedOut) {
  if (stdinData.empty()) in.write.reset();
  if (in.write.get() >= 0) ::fcntl(in.write.get(), F_SETFL, O_NONBLOCK);
  SigpipeGuard guard;
  std::array<char, 65536> buffer{};
  while (out.read.get() >= 0 || err.read.get() >= 0) {
    std::array<pollfd, 3> fds{{{in.write.get(), POLLOUT, 0}, {out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}}};
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timedOut = true;
      return {};
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(left.count(), 60000)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return errnoText("poll", errno);
    }
    if (fds[0].revents != 0) {
      const ssize_t written = ::write(in.write.get(), stdinData.data(), stdinData.size());
      if (written > 0) stdinData.remove_prefix(static_cast<size_t>(written));
      // EPIPE: the child stopped reading; what it says on stderr tells why.
      if ((written < 0 && errno != EAGAIN && errno != EINTR) || stdinData.empty()) in.write.reset();
    }
    for (int i = 1; i < 3; ++i) {
      if (fds[i].revents == 0) continue;
      Fd& fd = i == 1 ? out.read : err.read;
      const ssize_t count = ::read(fd.get(), buffer.data(), buffer.size());
      if (count > 0) {
        (i == 1 ? result.out : result.err).append(buffer.data(), static_cast<size_t>(count));
      } else if (count == 0 || (errno != EAGAIN && errno != EINTR)) {
        fd.reset();
      }
    }
  }
  return {};
}

// Waits for the child until `deadline`; false when it is still running then.
bool waitUntil(pid_t pid, Clock::time_point deadline, int& status, std::string& error) {
  auto pause = std::chrono::microseconds(200);
  while (true) {
    const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid) return true;
    if (reaped < 0 && errno != EINTR) {
      error = errnoText("waitpid", errno);
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
}

// SIGTERM to the child's process group, SIGKILL after `grace` to whatever is left of it
// (a child that ignores SIGTERM, or what it started). Returns the signal that ended the child.
int stopProcessGroup(pid_t pid, std::chrono::milliseconds grace, int& status, std::string& error) {
  ::kill(-pid, SIGTERM);
  const bool exited = waitUntil(pid, Clock::now() + grace, status, error);
  ::kill(-pid, SIGKILL);
  if (!exited) waitUntil(pid, Clock::time_point::max(), status, error);
  return exited ? SIGTERM : SIGKILL;
}

std::string secondsText(std::chrono::milliseconds d) {
  const auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

}  // namespace

ExecResult ProcessExecutor::run(const std::vector<std::string>& argv, std::string_view stdinData) {
  ExecResult result;
  if (argv.empty()) {
    result.error = "empty command";
    return result;
  }
  Pipe in, out, err;
  if (!makePipe(in) || !makePipe(out) || !makePipe(err)) {
    result.error = errnoText("pipe", errno);
    return result;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write.get(), STDERR_FILENO);
  // The child starts with no blocked signals and default SIGPIPE, whatever the daemon set.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none, pipeOnly;
  sigemptyset(&none);
  sigemptyset(&pipeOnly);
  sigaddset(&pipeOnly, SIGPIPE);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &pipeOnly);
  // Its own process group (pgid = its pid), so that a timeout can stop it and its children at once.
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  // The control loop's watchdog names the command if it is still running past its bound.
  const WatchedStep step(argv.size() > 1 ? argv[0] + " " + argv[1] : argv[0]);
  const Clock::time_point deadline = Clock::now() + limits_.timeout;
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));  // posix_spawn's C signature
  args.push_back(nullptr);

  pid_t pid = -1;
  const int spawnError = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawnError != 0) {
    result.error = "cannot run " + argv[0] + ": " + std::strerror(spawnError);
    return result;
  }
  // Our copies of the child's ends must go, or we would never see end-of-file.
  in.read.reset();
  out.write.reset();
  err.write.reset();

  bool timedOut = false;
  result.error = pump(in, out, err, stdinData, result, deadline, timedOut);

  int status = 0;
  std::string waitError;
  // The output is closed; the child may still linger (or have handed its pipes on).
  if (!timedOut && !waitUntil(pid, deadline, status, waitError)) timedOut = true;
  if (timedOut) {
    const int signal = stopProcessGroup(pid, limits_.killGrace, status, waitError);
    result.exitCode = -1;
    result.error = argv[0] + " timed out after " + secondsText(limits_.timeout) + " (killed with " +
                   (signal == SIGTERM ? "SIGTERM" : "SIGKILL, as SIGTERM did not stop it within " +
                                                        secondsText(limits_.killGrace)) +
                   ")";
    return result;
  }
  if (!waitError.empty()) {
    result.error = waitError;
    return result;
  }
  if (WIFEXITED(status)) {
    result.exitCode = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.error = argv[0] + " killed by signal " + std::to_string(WTERMSIG(status));
  }
  return result;
}

ExecResult FakeExecutor::run(const std::vector<std::string>& argv, std::string_view stdinData) {
  calls_.push_back(Call{argv, std::string(stdinData)});
  if (results_.empty()) return defaultResult_;
  ExecResult result = std::move(results_.front());
  results_.pop_front();
  return result;
}

std::string ExecResult::failureText(size_t lines) const {
  if (!error.empty()) return error;
  std::istringstream in(err);
  std::string text;
  std::string line;
  while (lines-- > 0 && std::getline(in, line)) text += (text.empty() ? "" : " / ") + line;
  return text;
}

}  // namespace nicproxy

#pragma once
// A network namespace made for one test (its name ends with the test process's pid, so
// two runs never collide) and deleted when the test leaves its scope.
#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drivers/exec.hpp"

namespace nicproxy::testing {

class ScratchNamespace {
 public:
  explicit ScratchNamespace(const std::string& prefix) : name_(prefix + std::to_string(::getpid())) {
    created_ = host_.run({"ip", "netns", "add", name_}).ok();
  }
  ~ScratchNamespace() {
    if (created_) host_.run({"ip", "netns", "del", name_});
  }
  ScratchNamespace(const ScratchNamespace&) = delete;
  ScratchNamespace& operator=(const ScratchNamespace&) = delete;

  bool created() const { return created_; }
  const std::string& name() const { return name_; }

 private:
  ProcessExecutor host_;
  std::string name_;
  bool created_ = false;
};

/// Runs every command inside one network namespace (`ip netns exec`).
class NetnsExecutor : public Executor {
 public:
  explicit NetnsExecutor(std::string ns) : ns_(std::move(ns)) {}
  ExecResult run(const std::vector<std::string>& argv, std::string_view stdinData = {}) override {
    std::vector<std::string> wrapped{"ip", "netns", "exec", ns_};
    wrapped.insert(wrapped.end(), argv.begin(), argv.end());
    return real_.run(wrapped, stdinData);
  }

 private:
  std::string ns_;
  ProcessExecutor real_;
};

}  // namespace nicproxy::testing

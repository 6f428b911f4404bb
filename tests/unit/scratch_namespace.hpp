#pragma once
// A network namespace made for one test (its name ends with the test process's pid, so
// two runs never collide) and deleted when the test leaves its scope.
#include <unistd.h>

#include <string>

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

}  // namespace nicproxy::testing

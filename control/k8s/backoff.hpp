#pragma once
// Exponential backoff with jitter, as client-go's reflector uses it (800 ms doubling
// to 30 s, jitter factor 1.0: each delay is drawn from [d, 2d)). reset() after a
// success starts again from the initial delay.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace nicproxy::k8s {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter = 1.0,
          uint64_t seed = std::random_device{}())
      : initial_(initial), max_(max), jitter_(jitter), current_(initial), random_(seed) {}

  /// The delay to wait now; the next one doubles (up to max).
  std::chrono::milliseconds next() {
    const auto base = current_;
    current_ = std::min(max_, current_ * 2);
    const double factor = 1.0 + jitter_ * std::uniform_real_distribution<double>(0.0, 1.0)(random_);
    return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(base.count()) * factor));
  }
  void reset() { current_ = initial_; }
  /// The un-jittered delay next() starts from.
  std::chrono::milliseconds current() const { return current_; }

 private:
  std::chrono::milliseconds initial_, max_;
  double jitter_;
  std::chrono::milliseconds current_;
  std::mt19937_64 random_;
};

}  // namespace nicproxy::k8s

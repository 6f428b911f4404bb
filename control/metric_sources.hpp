#pragma once
// Everything a /metrics scrape reads: the registry's families (kube-proxy's metrics) and
// collectables that read their values at scrape time (the data path's per-lcore
// counters, the API source's counters, build info). prometheus::Registry holds only the
// families it created, so collectables are added here instead.
// Thread-safe: add, remove (by the Registration's destructor) and Collect() may run on
// any thread; Collect() holds the lock while it calls the collectables, so a
// collectable is never read after its Registration is gone.
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace nicproxy {

class MetricSources : public prometheus::Collectable {
 public:
  /// Removes its collectable from the set when destroyed; hold it no longer than the
  /// collectable and the set live.
  class [[nodiscard]] Registration {
   public:
    Registration() = default;
    Registration(Registration&& other) noexcept
        : sources_(std::exchange(other.sources_, nullptr)), id_(other.id_) {}
    Registration& operator=(Registration&& other) noexcept;
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration();

   private:
    friend class MetricSources;
    Registration(MetricSources* sources, uint64_t id) : sources_(sources), id_(id) {}
    MetricSources* sources_ = nullptr;
    uint64_t id_ = 0;
  };

  /// `collectable` is read by every Collect() until the Registration is destroyed.
  Registration add(const prometheus::Collectable& collectable);
  /// The families of every collectable, in the order they were added.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  void remove(uint64_t id);

  mutable std::mutex mutex_;
  uint64_t nextId_ = 1;
  std::vector<std::pair<uint64_t, const prometheus::Collectable*>> collectables_;
};

}  // namespace nicproxy

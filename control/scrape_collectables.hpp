#pragma once
// Collectables read at scrape time, beside the registry's families (issue 12).
//
// prometheus::Registry holds only the Families it builds: a Collectable of one's own
// (the DPDK data path's counters, the API source's counters), whose values are read
// from the objects they describe when Prometheus scrapes, cannot be added to it. The
// daemon owns one ScrapeCollectables next to the Registry; a mode adds its collectables
// here and removes them before the objects they read go away; the metrics server
// serializes registry->Collect() followed by this->Collect().
//
// Thread safety: add/remove (a mode's thread) and Collect (the HTTP thread) take one
// mutex, and Collect holds it while the collectables run, so that once remove()
// returns no scrape is reading the removed one any more.
#include <algorithm>
#include <mutex>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace nicproxy {

class ScrapeCollectables : public prometheus::Collectable {
 public:
  /// Adds `collectable` (not owned: the caller removes it before destroying it).
  void add(const prometheus::Collectable* collectable) {
    std::lock_guard lock(mutex_);
    items_.push_back(collectable);
  }
  /// Removes it; after the call no scrape reads it.
  void remove(const prometheus::Collectable* collectable) {
    std::lock_guard lock(mutex_);
    items_.erase(std::remove(items_.begin(), items_.end(), collectable), items_.end());
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(mutex_);
    std::vector<prometheus::MetricFamily> families;
    for (const prometheus::Collectable* c : items_) {
      std::vector<prometheus::MetricFamily> more = c->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    return families;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<const prometheus::Collectable*> items_;
};

}  // namespace nicproxy

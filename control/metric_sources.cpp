#include "control/metric_sources.hpp"

#include <algorithm>
#include <iterator>

namespace nicproxy {

MetricSources::Registration& MetricSources::Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    if (sources_ != nullptr) sources_->remove(id_);
    sources_ = std::exchange(other.sources_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

MetricSources::Registration::~Registration() {
  if (sources_ != nullptr) sources_->remove(id_);
}

MetricSources::Registration MetricSources::add(const prometheus::Collectable& collectable) {
  const std::lock_guard lock(mutex_);
  const uint64_t id = nextId_++;
  collectables_.emplace_back(id, &collectable);
  return Registration(this, id);
}

void MetricSources::remove(uint64_t id) {
  const std::lock_guard lock(mutex_);
  std::erase_if(collectables_, [id](const auto& entry) { return entry.first == id; });
}

std::vector<prometheus::MetricFamily> MetricSources::Collect() const {
  const std::lock_guard lock(mutex_);
  std::vector<prometheus::MetricFamily> families;
  for (const auto& [id, collectable] : collectables_) {
    std::vector<prometheus::MetricFamily> more = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  return families;
}

}  // namespace nicproxy

#include "control/sync_runner.hpp"

#include <exception>

#include <spdlog/spdlog.h>

namespace nicproxy {

SyncRunner::SyncRunner(ChangeTracker& tracker, std::vector<Provider*> providers)
    : tracker_(tracker), providers_(std::move(providers)), needsFullSync_(providers_.size(), true) {}

bool SyncRunner::retryPending() const {
  for (bool pending : needsFullSync_) {
    if (pending) return true;
  }
  return false;
}

void SyncRunner::requestFullSync() { needsFullSync_.assign(providers_.size(), true); }

bool SyncRunner::syncIfNeeded() {
  if (!tracker_.hasPendingChanges() && !retryPending()) return true;
  const Snapshot snapshot = tracker_.apply();
  bool ok = true;
  for (size_t i = 0; i < providers_.size(); ++i) {
    const bool full = needsFullSync_[i];
    if (!full && snapshot.changed.empty()) continue;
    try {
      providers_[i]->sync(*snapshot.table, snapshot.changed, full);
      needsFullSync_[i] = false;
      ++syncs_;
    } catch (const std::exception& e) {
      spdlog::error("{} sync of generation {} failed: {}; keeping its previous state, will retry with a full sync",
                    providers_[i]->name(), snapshot.table->generation(), e.what());
      needsFullSync_[i] = true;
      ++failures_;
      ok = false;
    }
  }
  return ok;
}

}  // namespace nicproxy

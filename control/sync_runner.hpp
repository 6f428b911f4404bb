#pragma once
// Hands snapshots from the change tracker to every provider. A provider whose sync
// failed gets a full sync on the next round (its dataplane may hold anything between
// the old and the new state), while the others go on with incremental changes.
// Bounded-frequency timing (minSyncPeriod, syncPeriod) comes with the API server
// source; today the caller decides when to call.
// Not thread-safe: one owner (the control thread).
#include <cstdint>
#include <vector>

#include "control/change_tracker.hpp"
#include "control/provider.hpp"

namespace nicproxy {

class SyncRunner {
 public:
  SyncRunner(ChangeTracker& tracker, std::vector<Provider*> providers);

  /// Syncs if the tracker has changes or a provider is waiting for a retry. Returns
  /// false when some provider failed (it was logged; the last good state stays).
  bool syncIfNeeded();

  bool retryPending() const;
  /// Makes the next syncIfNeeded() a full sync for every provider, changes or not
  /// (the kernel dataplanes' periodic syncPeriod resync, which repairs outside edits).
  void requestFullSync();
  uint64_t syncCount() const { return syncs_; }
  uint64_t failureCount() const { return failures_; }

 private:
  ChangeTracker& tracker_;
  std::vector<Provider*> providers_;
  std::vector<bool> needsFullSync_;  // per provider; true before its first success
  uint64_t syncs_ = 0;
  uint64_t failures_ = 0;
};

}  // namespace nicproxy

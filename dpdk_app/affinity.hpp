#pragma once
// sessionAffinity: ClientIP, per worker.
//
// Design (why no shared table): every worker keeps its own direct-mapped table of
// (client, service port) -> (backend, expiry), single writer, no locks. What makes the
// workers agree is the first choice: a client without a record is sent to
// maglev[hash(client address)] of the service port, a pure function of the published
// table, so every worker picks the same endpoint for the same client without talking
// to the others. The record then keeps the client on that endpoint until
// timeoutSeconds after its last new connection (kube-proxy's "recent --set"), even if
// the endpoint set changes meanwhile and the hash would now say otherwise.
// The one divergence: after an endpoint set change, a worker that has no record for a
// client hashes it on the new table while another worker still holds the old choice
// (for about 1/N of clients, Maglev's remap share). A shared writable table would close
// that window at the price of a lock or a multi-writer hash on the new-connection path.
// A collision in the direct-mapped table overwrites the older record; with the hash
// choice above that only matters in the same window.
#include <cstdint>

#include <rte_byteorder.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

namespace nicproxy {

struct AffinityRecord {
  rte_be32_t client = 0;
  uint32_t serviceId = 0;       // ServiceEntry::affinityId; 0: empty slot
  rte_be32_t backendAddress = 0;
  rte_be16_t backendPort = 0;
  uint16_t padding = 0;
  uint64_t expiresAt = 0;       // TSC
};

class AffinityTable {
 public:
  static constexpr uint32_t kSlots = 1u << 16;  // power of two; 1.5 MiB per worker

  explicit AffinityTable(int socket)
      : slots_(static_cast<AffinityRecord*>(
            rte_zmalloc_socket("affinity", sizeof(AffinityRecord) * kSlots, 64, socket))) {}
  ~AffinityTable() { rte_free(slots_); }
  AffinityTable(const AffinityTable&) = delete;
  AffinityTable& operator=(const AffinityTable&) = delete;
  bool ok() const { return slots_ != nullptr; }

  /// The live record for (client, service), or null.
  const AffinityRecord* find(rte_be32_t client, uint32_t serviceId, uint64_t now) const {
    const AffinityRecord& r = slots_[slot(client, serviceId)];
    if (r.serviceId != serviceId || r.client != client || r.expiresAt <= now) return nullptr;
    return &r;
  }
  void remember(rte_be32_t client, uint32_t serviceId, rte_be32_t address, rte_be16_t port, uint64_t expiresAt) {
    AffinityRecord& r = slots_[slot(client, serviceId)];
    r.client = client;
    r.serviceId = serviceId;
    r.backendAddress = address;
    r.backendPort = port;
    r.expiresAt = expiresAt;
  }

 private:
  static uint32_t slot(rte_be32_t client, uint32_t serviceId) {
    return rte_hash_crc_4byte(client, serviceId) & (kSlots - 1);
  }
  AffinityRecord* slots_;
};

}  // namespace nicproxy

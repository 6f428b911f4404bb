#pragma once
// The kernel's conntrack table over ctnetlink (libnetfilter_conntrack): a dump of the
// IPv4 entries and one NFCT_Q_DESTROY per entry, instead of a `conntrack -D` process
// per deletion. Needs CAP_NET_ADMIN in the network namespace it runs in.
#include <memory>

#include "drivers/conntrack_table.hpp"

struct nfct_handle;

namespace nicproxy {

class NetlinkConntrackTable final : public ConntrackTable {
 public:
  NetlinkConntrackTable();
  ~NetlinkConntrackTable() override;

  std::vector<ConntrackEntry> listUdp() override;
  bool remove(const ConntrackEntry& entry) override;

 private:
  struct HandleCloser {
    void operator()(nfct_handle* handle) const;
  };
  /// Opened on first use, so that building the provider never fails for want of
  /// conntrack; dropped after an error, so that the next call starts afresh.
  nfct_handle* handle();

  std::unique_ptr<nfct_handle, HandleCloser> handle_;
};

}  // namespace nicproxy

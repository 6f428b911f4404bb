#include "drivers/conntrack_netlink.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <system_error>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

namespace nicproxy {
namespace {

struct ConntrackFree {
  void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};

// Called once per entry of the dump, on the dumping thread; keeps the UDP ones.
int collectUdp(enum nf_conntrack_msg_type /*type*/, nf_conntrack* ct, void* data) {
  if (nfct_get_attr_u8(ct, ATTR_L3PROTO) != AF_INET || nfct_get_attr_u8(ct, ATTR_L4PROTO) != IPPROTO_UDP) {
    return NFCT_CB_CONTINUE;
  }
  ConntrackEntry entry;
  entry.origSrc = ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC));
  entry.origDst = ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST));
  entry.origSrcPort = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
  entry.origDstPort = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  entry.replySrc = ntohl(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC));
  if (nfct_attr_is_set(ct, ATTR_ZONE) > 0) entry.zone = nfct_get_attr_u16(ct, ATTR_ZONE);
  static_cast<std::vector<ConntrackEntry>*>(data)->push_back(entry);
  return NFCT_CB_CONTINUE;
}

[[noreturn]] void throwErrno(int error, const char* what) {
  throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

void NetlinkConntrackTable::HandleCloser::operator()(nfct_handle* handle) const { nfct_close(handle); }

NetlinkConntrackTable::NetlinkConntrackTable() = default;
NetlinkConntrackTable::~NetlinkConntrackTable() = default;

nfct_handle* NetlinkConntrackTable::handle() {
  if (!handle_) {
    handle_.reset(nfct_open(CONNTRACK, 0));
    if (!handle_) throwErrno(errno, "opening the conntrack netlink socket");
  }
  return handle_.get();
}

std::vector<ConntrackEntry> NetlinkConntrackTable::listUdp() {
  std::vector<ConntrackEntry> entries;
  nfct_handle* h = handle();
  nfct_callback_register(h, NFCT_T_ALL, collectUdp, &entries);
  // The kernel filters the dump by address family; the protocol is filtered in
  // collectUdp (libnetfilter_conntrack 1.0.9 has no protocol filter for dumps).
  uint32_t family = AF_INET;
  const int rc = nfct_query(h, NFCT_Q_DUMP, &family);
  const int error = errno;
  nfct_callback_unregister(h);
  if (rc < 0) {
    handle_.reset();
    throwErrno(error, "dumping the conntrack table");
  }
  return entries;
}

bool NetlinkConntrackTable::remove(const ConntrackEntry& entry) {
  const std::unique_ptr<nf_conntrack, ConntrackFree> ct(nfct_new());
  if (!ct) throwErrno(ENOMEM, "allocating a conntrack entry");
  nfct_set_attr_u8(ct.get(), ATTR_L3PROTO, AF_INET);
  nfct_set_attr_u8(ct.get(), ATTR_L4PROTO, IPPROTO_UDP);
  nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_SRC, htonl(entry.origSrc));
  nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_DST, htonl(entry.origDst));
  nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_SRC, htons(entry.origSrcPort));
  nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_DST, htons(entry.origDstPort));
  nfct_set_attr_u16(ct.get(), ATTR_ZONE, entry.zone);
  if (nfct_query(handle(), NFCT_Q_DESTROY, ct.get()) == 0) return true;
  const int error = errno;
  if (error == ENOENT) return false;
  handle_.reset();
  throwErrno(error, "deleting a conntrack entry");
}

}  // namespace nicproxy

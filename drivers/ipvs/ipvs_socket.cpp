// NetlinkIpvsTransport: the real generic-netlink socket behind IpvsClient.
#include <stdexcept>
#include <string>

#include <linux/ip_vs.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "drivers/ipvs/ipvs_netlink.hpp"

namespace nicproxy {
namespace {

struct CbDeleter {
  void operator()(nl_cb* cb) const { nl_cb_put(cb); }
};

// libnl frees a received message after the callback; keep a copy of each.
int collect(nl_msg* msg, void* arg) {
  auto* out = static_cast<std::vector<NlMsgPtr>*>(arg);
  NlMsgPtr copy(nlmsg_convert(nlmsg_hdr(msg)));
  if (!copy) return NL_STOP;
  out->push_back(std::move(copy));
  return NL_OK;
}

}  // namespace

std::unique_ptr<NetlinkIpvsTransport> NetlinkIpvsTransport::open() {
  nl_sock* socket = nl_socket_alloc();
  if (socket == nullptr) throw std::runtime_error("IPVS: cannot allocate a netlink socket");
  if (const int rc = genl_connect(socket); rc < 0) {
    nl_socket_free(socket);
    throw std::runtime_error(std::string("IPVS: cannot open a generic netlink socket: ") + nl_geterror(rc));
  }
  const int family = genl_ctrl_resolve(socket, IPVS_GENL_NAME);
  if (family < 0) {
    nl_socket_free(socket);
    throw std::runtime_error(std::string("IPVS: the generic netlink family \"" IPVS_GENL_NAME
                                         "\" is not there (is the ip_vs module loaded?): ") +
                             nl_geterror(family));
  }
  return std::unique_ptr<NetlinkIpvsTransport>(new NetlinkIpvsTransport(socket, family));
}

NetlinkIpvsTransport::~NetlinkIpvsTransport() { nl_socket_free(socket_); }

std::vector<NlMsgPtr> NetlinkIpvsTransport::request(nl_msg* msg) {
  // nl_complete_msg sets our port, the next sequence number, NLM_F_REQUEST and NLM_F_ACK:
  // a non-dump request then ends with the kernel's acknowledgement (or its error), a
  // dump with NLMSG_DONE.
  nl_complete_msg(socket_, msg);
  // A dump is acknowledged by its NLMSG_DONE; an extra ACK would stay queued and break
  // the sequence check of the next request.
  nlmsghdr* header = nlmsg_hdr(msg);
  if ((header->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP) header->nlmsg_flags &= ~NLM_F_ACK;
  if (const int rc = nl_send(socket_, msg); rc < 0) {
    throw std::runtime_error(std::string("cannot send: ") + nl_geterror(rc));
  }
  std::unique_ptr<nl_cb, CbDeleter> cb(nl_cb_alloc(NL_CB_DEFAULT));
  if (!cb) throw std::runtime_error("out of memory for a netlink callback");
  std::vector<NlMsgPtr> replies;
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, collect, &replies);
  if (const int rc = nl_recvmsgs(socket_, cb.get()); rc < 0) {
    throw std::runtime_error(nl_geterror(rc));
  }
  return replies;
}

}  // namespace nicproxy

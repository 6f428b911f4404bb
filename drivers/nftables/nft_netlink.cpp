#include "drivers/nftables/nft_netlink.hpp"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>

#include "control/net.hpp"
#include "drivers/nftables/nft_inventory.hpp"

namespace nicproxy {
namespace {

struct SocketCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};
struct ChainFree {
  void operator()(nftnl_chain* c) const { nftnl_chain_free(c); }
};
struct SetFree {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};

void put32(std::vector<unsigned char>& out, uint32_t networkOrder) {
  unsigned char bytes[4];
  std::memcpy(bytes, &networkOrder, 4);
  out.insert(out.end(), bytes, bytes + 4);
}

}  // namespace

std::vector<unsigned char> nftConcatKey(const std::string& key) {
  std::vector<unsigned char> out;
  bool expectField = true;
  for (const std::string& w : wordsOf(key)) {
    if (!expectField) {
      if (w != ".") throw std::invalid_argument("nft key '" + key + "': expected '.' before '" + w + "'");
      expectField = true;
      continue;
    }
    expectField = false;
    if (w == "tcp" || w == "udp" || w == "sctp") {
      // inet_proto: one byte, zero-padded to the register.
      const uint8_t proto = w == "tcp" ? IPPROTO_TCP : w == "udp" ? IPPROTO_UDP : IPPROTO_SCTP;
      out.insert(out.end(), {proto, 0, 0, 0});
    } else if (const auto ip = parseIpv4(w)) {
      put32(out, htonl(*ip));
    } else {
      // inet_service: two bytes in network order, zero-padded to the register.
      size_t used = 0;
      unsigned long port = 0;
      try {
        port = std::stoul(w, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != w.size() || port > 65535) throw std::invalid_argument("nft key '" + key + "': bad field '" + w + "'");
      const uint16_t be = htons(static_cast<uint16_t>(port));
      unsigned char bytes[2];
      std::memcpy(bytes, &be, 2);
      out.insert(out.end(), {bytes[0], bytes[1], 0, 0});
    }
  }
  if (out.empty() || expectField) throw std::invalid_argument("nft key '" + key + "': incomplete");
  return out;
}

std::optional<std::string> nftDeleteByNetlink(const std::string& deletions) {
  std::vector<std::string> lines;
  {
    std::istringstream in(deletions);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) lines.push_back(line);
    }
  }
  if (lines.empty()) return std::nullopt;

  // Every message here is well under 1 KB (names are at most 255 bytes).
  std::vector<char> buffer((lines.size() + 2) * 1024);
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buffer.data(), buffer.size());
  const uint32_t firstSeq = static_cast<uint32_t>(std::time(nullptr));
  uint32_t seq = firstSeq;
  std::map<uint32_t, std::string> lineOfSeq;
  nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq++);
  mnl_nlmsg_batch_next(batch);
  try {
    for (const std::string& line : lines) {
      // Only the last message asks for an ack: errors come back for any message anyway
      // (before that ack, in order), and 20,000 acks would overflow the receive buffer.
      const uint16_t flags = &line == &lines.back() ? NLM_F_ACK : 0;
      const auto w = wordsOf(line);
      if (w.size() < 5 || w[0] != "delete" || w[2] != "ip") throw std::invalid_argument("not a deletion: " + line);
      const std::string& kind = w[1];
      const std::string& table = w[3];
      const std::string& name = w[4];
      char* at = static_cast<char*>(mnl_nlmsg_batch_current(batch));
      lineOfSeq[seq] = line;
      if (kind == "chain" && w.size() == 5) {
        std::unique_ptr<nftnl_chain, ChainFree> chain(nftnl_chain_alloc());
        nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, table.c_str());
        nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, name.c_str());
        nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_DELCHAIN, NFPROTO_IPV4, flags, seq++);
        nftnl_chain_nlmsg_build_payload(nlh, chain.get());
      } else if (kind == "set" && w.size() == 5) {
        std::unique_ptr<nftnl_set, SetFree> set(nftnl_set_alloc());
        nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, table.c_str());
        nftnl_set_set_str(set.get(), NFTNL_SET_NAME, name.c_str());
        nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_DELSET, NFPROTO_IPV4, flags, seq++);
        nftnl_set_nlmsg_build_payload(nlh, set.get());
      } else if (kind == "element" && w.size() >= 8 && w[5] == "{" && w.back() == "}") {
        std::string key;
        for (size_t i = 6; i + 1 < w.size(); ++i) key += (key.empty() ? "" : " ") + w[i];
        const std::vector<unsigned char> bytes = nftConcatKey(key);
        std::unique_ptr<nftnl_set, SetFree> set(nftnl_set_alloc());
        nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, table.c_str());
        nftnl_set_set_str(set.get(), NFTNL_SET_NAME, name.c_str());
        nftnl_set_elem* elem = nftnl_set_elem_alloc();  // owned by the set once added
        nftnl_set_elem_set(elem, NFTNL_SET_ELEM_KEY, bytes.data(), static_cast<uint32_t>(bytes.size()));
        nftnl_set_elem_add(set.get(), elem);
        nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_DELSETELEM, NFPROTO_IPV4, flags, seq++);
        nftnl_set_elems_nlmsg_build_payload(nlh, set.get());
      } else {
        throw std::invalid_argument("not a deletion this sender knows: " + line);
      }
      mnl_nlmsg_batch_next(batch);
    }
  } catch (...) {
    mnl_nlmsg_batch_stop(batch);
    throw;
  }
  nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch)), seq++);
  mnl_nlmsg_batch_next(batch);
  const size_t size = mnl_nlmsg_batch_size(batch);
  const void* head = mnl_nlmsg_batch_head(batch);

  std::unique_ptr<mnl_socket, SocketCloser> nl(mnl_socket_open(NETLINK_NETFILTER));
  if (!nl) return std::string("netlink socket: ") + std::strerror(errno);
  if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return std::string("netlink bind: ") + std::strerror(errno);
  // Acks and errors carry only the header of the message they answer.
  int one = 1;
  mnl_socket_setsockopt(nl.get(), NETLINK_CAP_ACK, &one, sizeof(one));
  // The batch goes in one sendmsg, which netlink refuses beyond the send buffer.
  int sendRoom = static_cast<int>(size + 65536);
  if (setsockopt(mnl_socket_get_fd(nl.get()), SOL_SOCKET, SO_SNDBUFFORCE, &sendRoom, sizeof(sendRoom)) != 0) {
    setsockopt(mnl_socket_get_fd(nl.get()), SOL_SOCKET, SO_SNDBUF, &sendRoom, sizeof(sendRoom));
  }
  const ssize_t sent = mnl_socket_sendto(nl.get(), head, size);
  mnl_nlmsg_batch_stop(batch);
  if (sent < 0) return std::string("netlink send: ") + std::strerror(errno);

  // The kernel runs the whole batch inside sendmsg, so its answers are queued by now:
  // errors for failed messages, then the ack of the last one.
  const uint32_t portid = mnl_socket_get_portid(nl.get());
  const uint32_t lastSeq = seq - 2;  // the last deletion (seq - 1 is the batch end)
  std::vector<char> reply(MNL_SOCKET_BUFFER_SIZE);
  for (;;) {
    const ssize_t got = recv(mnl_socket_get_fd(nl.get()), reply.data(), reply.size(), MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      return std::string("netlink receive before the last ack: ") + std::strerror(errno);
    }
    int remaining = static_cast<int>(got);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(reply.data()); mnl_nlmsg_ok(nlh, remaining);
         nlh = mnl_nlmsg_next(nlh, &remaining)) {
      if (nlh->nlmsg_pid != portid || nlh->nlmsg_type != NLMSG_ERROR) continue;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error != 0) {
        const auto line = lineOfSeq.find(err->msg.nlmsg_seq);
        return std::string(std::strerror(-err->error)) +
               (line == lineOfSeq.end() ? std::string() : " (" + line->second + ")");
      }
      if (err->msg.nlmsg_seq == lastSeq) return std::nullopt;
    }
  }
}

}  // namespace nicproxy

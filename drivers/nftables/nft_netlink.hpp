#pragma once
// Deletions of nftables objects sent straight to the kernel as one nf_tables netlink
// batch (libnftnl + libmnl), without the nft program.
//
// Why: nft 1.0.6 (Debian 12) loads every chain of the table into its cache before any
// `delete` (and before `add rule` / `add element`); with kube-proxy's layout at 10,000
// services that is ~110,000 chains, and the kernel's chain dump restarts its walk for
// every 32 KB reply, so one command costs 1-2 s (perf: 85 % in nf_tables_dump_chains).
// A deletion needs no cache: it names the table and the object. The additions of a
// partial sync avoid the cache in their own way (see appendNftServicePartial).
//
// Input: the provider's own deletion lines, exactly these three forms:
//   delete element ip TABLE MAP { 10.96.0.10 . tcp . 80 }
//   delete chain ip TABLE CHAIN
//   delete set ip TABLE SET
// Keys are concatenations of IPv4 addresses, `tcp`/`udp`/`sctp` and port numbers, each
// field in its own 32-bit register as nft lays out concatenated keys.
#include <optional>
#include <string>
#include <vector>

namespace nicproxy {

/// The key bytes of an element ("10.96.0.10 . tcp . 80" -> 12 bytes); throws
/// std::invalid_argument for a field it does not know.
std::vector<unsigned char> nftConcatKey(const std::string& key);

/// Sends the deletions as one atomic batch (all or nothing). Returns the kernel's error
/// text with the line of the failing message, or nullopt on success; throws
/// std::invalid_argument naming the line for anything but the three forms above.
std::optional<std::string> nftDeleteByNetlink(const std::string& deletions);

}  // namespace nicproxy

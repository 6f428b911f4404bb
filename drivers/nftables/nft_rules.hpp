#pragma once
// Renders nft transactions in the layout of kube-proxy's nftables mode: one table
// (`ip kube-proxy`), verdict maps from (address . protocol . port) to per-service
// chains so that the lookup is one hash probe at any number of services, `numgen
// random` endpoint choice, timed dynamic sets for ClientIP affinity, reject and drop
// through the no-endpoint maps, masquerade by mark. Pure functions, no kernel.
//
// One departure from kube-proxy: a service without affinity has no chain per endpoint.
// Its policy chain picks and DNATs in one rule, `dnat to numgen random mod N map { i :
// address . port }`, and hairpin traffic is masqueraded in postrouting through one set
// of `address . address` pairs (`endpoint-hairpin`) instead of a rule in each endpoint
// chain. Every rule with a jump, goto or NAT that a transaction adds makes the kernel
// validate the whole table at commit (nft_table_validate), which walks every chain:
// with ten endpoint chains per service, that walk was most of a one-service sync at
// 10,000 services. Services with ClientIP affinity keep kube-proxy's endpoint chains,
// which record the client in the endpoint's timed set.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control/model.hpp"

namespace nicproxy {

struct NftRulesOptions {
  std::string table = "kube-proxy";
  bool masqueradeAll = false;
  uint32_t masqueradeMark = 0x4000;
  std::optional<Ipv4Cidr> clusterCIDR;
  std::optional<std::vector<Ipv4>> nodePortIPs;  // nullopt: every local address
};

/// The set of `endpoint . endpoint` address pairs that postrouting masquerades (hairpin).
inline constexpr const char* kNftHairpinSet = "endpoint-hairpin";
inline constexpr const char* kNftHairpinType = "ipv4_addr . ipv4_addr";

struct NftElement {
  std::string map;      // "service-ips"
  std::string key;      // "10.96.0.10 . tcp . 80"
  std::string verdict;  // "goto service-..."
};

/// What one service port contributes: map elements, its own chains and sets, their rules.
struct NftServiceRules {
  ServicePortPtr port;
  std::vector<NftElement> elements;
  std::vector<std::string> chains;      // own chain names
  std::vector<std::string> sets;        // own affinity set names
  std::vector<std::string> hairpin;     // elements of endpoint-hairpin ("a . a"), one per endpoint address
  std::string setDefinitions;           // "add set ..." lines
  std::string rules;                    // "add rule ..." lines for the own chains
  std::vector<std::pair<std::string, std::string>> chainRules;  // the same rules as (chain, rule text)
};

/// kube-proxy's nftables chain-name base: first 8 of base32(sha256(name + protocol)),
/// then "-namespace/service/protocol/port".
std::string nftServiceBase(const ServicePortName& name);
std::string nftEndpointBase(const ServicePortName& name, const std::string& endpoint);

NftServiceRules renderNftService(const ServicePortPtr& port, const NftRulesOptions& options);

/// The key type of one of the base layout's verdict maps ("ipv4_addr . inet_proto . inet_service").
const char* nftMapKeyType(const std::string& map);

/// The base layout's chains (name, base-chain spec or empty), maps and sets: with the
/// services' own chains and sets, everything a full sync keeps in the table.
/// The filter chains run after DNAT (priority -10 is after dstnat -100), like the
/// iptables filter table: a packet that found a service was rewritten already.
inline constexpr std::pair<const char*, const char*> kNftBaseChains[] = {
    {"nat-prerouting", "type nat hook prerouting priority dstnat ; policy accept"},
    {"nat-output", "type nat hook output priority -100 ; policy accept"},
    {"nat-postrouting", "type nat hook postrouting priority srcnat ; policy accept"},
    {"filter-input", "type filter hook input priority -10 ; policy accept"},
    {"filter-forward", "type filter hook forward priority -10 ; policy accept"},
    {"filter-output", "type filter hook output priority -10 ; policy accept"},
    {"services", ""},
    {"masquerading", ""},
    {"mark-for-masquerade", ""},
    {"reject-chain", ""},
    {"service-endpoints-check", ""},
};
inline constexpr const char* kNftBaseMaps[] = {"service-ips", "service-nodeports", "no-endpoint-services",
                                               "no-endpoint-nodeports"};

/// The base layout (hooks, masquerading, maps, check chains), the start of a full sync.
/// It never deletes the table: every base object is added and emptied in the same
/// transaction, so that the services' affinity sets, which a full sync only adds, keep
/// their elements across restarts and full syncs.
std::string nftBaseLayout(const NftRulesOptions& options);

/// Lines that add (or empty and refill) a service's chains, add its sets, rules and
/// elements.
void appendNftServiceAdd(std::string& out, const NftServiceRules& rules, const NftRulesOptions& options);

}  // namespace nicproxy

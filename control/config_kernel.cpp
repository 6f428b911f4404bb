#include "control/config_kernel.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "control/config_kube.hpp"

namespace nicproxy {
namespace {

using json::ObjectReader;
constexpr auto kStrict = ObjectReader::Nulls::Error;


void readMasqueradeBit(ObjectReader& reader, uint8_t& out) {
  if (const auto bit = reader.integer("masqueradeBit", "an integer 0..31")) {
    if (*bit < 0 || *bit > 31) {
      reader.error("masqueradeBit", std::to_string(*bit) + " is out of range 0..31");
    } else {
      out = static_cast<uint8_t>(*bit);
    }
  }
}

// The prefix becomes part of every chain name; iptables allows 28 characters and the
// longest name is "<prefix>-PROXY-FIREWALL" / "<prefix>-SVC-" + 16, so 1..7 of [A-Z0-9].
bool isChainPrefix(std::string_view text) {
  return !text.empty() && text.size() <= 7 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

// nft identifiers: a letter, then letters, digits, '-' and '_'.
bool isNftName(std::string_view text) {
  if (text.empty() || text.size() > 63 || std::isalpha(static_cast<unsigned char>(text[0])) == 0) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
  });
}

// kube-proxy's fields of a section: null is "the default" (masqueradeBit null: 14).
void allowKubeProxyNulls(ObjectReader& reader) {
  reader.allowNull({"masqueradeAll", "masqueradeBit", "minSyncPeriod", "syncPeriod"});
}

void readIptables(ObjectReader& top, json::Errors& errors, IgnoredFields& ignored, IptablesConfig& config) {
  top.allowNull({"iptables"});
  const auto* object = top.object("iptables");
  if (object == nullptr) return;
  ObjectReader reader(*object, "iptables", errors, kStrict);
  allowKubeProxyNulls(reader);
  if (const auto all = reader.boolean("masqueradeAll")) config.masqueradeAll = *all;
  readMasqueradeBit(reader, config.masqueradeBit);
  readPeriodField(reader, "minSyncPeriod", config.minSyncPeriod);
  readPeriodField(reader, "syncPeriod", config.syncPeriod);
  skipIgnoredKubeProxyFields(reader, "iptables", errors, ignored);  // localhostNodePorts
  if (auto prefix = reader.string("chainPrefix")) {
    if (!isChainPrefix(*prefix)) {
      reader.error("chainPrefix", json::quote(*prefix) + " must be 1 to 7 characters of A-Z and 0-9");
    } else {
      config.chainPrefix = std::move(*prefix);
    }
  }
  reader.rejectUnknownKeys();
}

void readNftables(ObjectReader& top, json::Errors& errors, NftablesConfig& config) {
  top.allowNull({"nftables"});
  const auto* object = top.object("nftables");
  if (object == nullptr) return;
  ObjectReader reader(*object, "nftables", errors, kStrict);
  allowKubeProxyNulls(reader);
  if (const auto all = reader.boolean("masqueradeAll")) config.masqueradeAll = *all;
  readMasqueradeBit(reader, config.masqueradeBit);
  readPeriodField(reader, "minSyncPeriod", config.minSyncPeriod);
  readPeriodField(reader, "syncPeriod", config.syncPeriod);
  if (auto name = reader.string("tableName")) {
    if (!isNftName(*name)) {
      reader.error("tableName", json::quote(*name) + " is not an nft name (a letter, then letters, digits, - and _)");
    } else {
      config.tableName = std::move(*name);
    }
  }
  reader.rejectUnknownKeys();
}

void readIpvs(ObjectReader& top, json::Errors& errors, IgnoredFields& ignored, IpvsConfig& config) {
  top.allowNull({"ipvs"});
  const auto* object = top.object("ipvs");
  if (object == nullptr) return;
  ObjectReader reader(*object, "ipvs", errors, kStrict);
  reader.allowNull({"scheduler", "minSyncPeriod", "syncPeriod", "tcpTimeout", "tcpFinTimeout", "udpTimeout"});
  if (auto scheduler = reader.string("scheduler"); scheduler && !scheduler->empty()) {  // "": rr
    static constexpr std::string_view kSchedulers[] = {"rr", "wrr", "lc", "wlc", "sh", "dh", "sed", "nq", "mh"};
    if (std::find(std::begin(kSchedulers), std::end(kSchedulers), *scheduler) == std::end(kSchedulers)) {
      reader.error("scheduler", json::quote(*scheduler) + " is not one of rr, wrr, lc, wlc, sh, dh, sed, nq, mh");
    } else {
      config.scheduler = std::move(*scheduler);
    }
  }
  readPeriodField(reader, "minSyncPeriod", config.minSyncPeriod);
  readPeriodField(reader, "syncPeriod", config.syncPeriod);
  readDurationField(reader, "tcpTimeout", config.tcpTimeout);
  readDurationField(reader, "tcpFinTimeout", config.tcpFinTimeout);
  readDurationField(reader, "udpTimeout", config.udpTimeout);
  skipIgnoredKubeProxyFields(reader, "ipvs", errors, ignored);  // excludeCIDRs, strictARP
  reader.rejectUnknownKeys();
}

}  // namespace


const char* kernelFallbackName(KernelFallback fallback) {
  switch (fallback) {
    case KernelFallback::None: return "none";
    case KernelFallback::Iptables: return "iptables";
    case KernelFallback::Ipvs: return "ipvs";
    case KernelFallback::Nftables: return "nftables";
  }
  return "?";
}

void readKernelSections(ObjectReader& top, json::Errors& errors, IgnoredFields& ignored, Config& config) {
  readIptables(top, errors, ignored, config.iptables);
  readNftables(top, errors, config.nftables);
  readIpvs(top, errors, ignored, config.ipvs);
}

void readPeriodField(ObjectReader& reader, std::string_view key, std::chrono::milliseconds& out) {
  std::chrono::milliseconds value = out;
  readDurationField(reader, key, value);
  if (value.count() != 0) out = value;
}

void readKernelFallback(ObjectReader& dpdk, DpdkConfig& config) {
  const auto text = dpdk.string("kernelFallback");
  if (!text) return;
  if (*text == "none") config.kernelFallback = KernelFallback::None;
  else if (*text == "iptables") config.kernelFallback = KernelFallback::Iptables;
  else if (*text == "nftables") config.kernelFallback = KernelFallback::Nftables;
  else if (*text == "ipvs") config.kernelFallback = KernelFallback::Ipvs;
  else dpdk.error("kernelFallback", json::quote(*text) + " is not one of iptables, ipvs, nftables, none");
}

}  // namespace nicproxy

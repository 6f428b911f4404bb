#pragma once
// IPv4 addresses and prefixes as the control plane sees them: host byte order,
// parsed strictly (no leading zeros, no shorthand), so that bad input is an error
// rather than a surprise. Kubernetes objects are the exception: they are read with the
// Sloppy variants, as kube-proxy reads them (docs/services-input.md).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nicproxy {

/// An IPv4 address in host byte order. 0.0.0.0 is a valid value; absence is std::optional.
using Ipv4 = uint32_t;

/// Parses dotted-quad text ("10.0.0.1"); nullopt for anything else (IPv6 included).
std::optional<Ipv4> parseIpv4(std::string_view text);
/// Parses an address as kube-proxy's ParseIPSloppy does (Go's net.ParseIP before 1.17):
/// like parseIpv4, but an octet may have leading zeros and is still decimal, so
/// "010.001.002.003" is 10.1.2.3. Kubernetes objects accept such addresses (they were
/// valid before Go changed), so Service and EndpointSlice addresses are read with it.
std::optional<Ipv4> parseIpv4Sloppy(std::string_view text);
/// True when text looks like an IPv6 address (contains ':'); such addresses are skipped, not errors.
bool looksLikeIpv6(std::string_view text);
std::string formatIpv4(Ipv4 address);

/// An IPv4 prefix; `address` keeps the host bits as written ("10.50.0.1/24" keeps .1).
struct Ipv4Cidr {
  Ipv4 address = 0;
  uint8_t prefixLength = 32;

  Ipv4 mask() const { return prefixLength == 0 ? 0 : ~Ipv4{0} << (32 - prefixLength); }
  Ipv4 network() const { return address & mask(); }
  bool contains(Ipv4 ip) const { return (ip & mask()) == network(); }
  bool operator==(const Ipv4Cidr&) const = default;
};

/// Parses "a.b.c.d/n" with 0 <= n <= 32; nullopt otherwise.
std::optional<Ipv4Cidr> parseIpv4Cidr(std::string_view text);
/// ParseCIDRSloppy: leading zeros allowed in the octets and in the prefix length.
std::optional<Ipv4Cidr> parseIpv4CidrSloppy(std::string_view text);
std::string formatIpv4Cidr(const Ipv4Cidr& cidr);

/// An Ethernet address, first octet first.
using MacAddress = std::array<uint8_t, 6>;

/// Parses "02:00:5e:10:00:01" (six pairs of hex digits, ':' between); nullopt otherwise.
std::optional<MacAddress> parseMac(std::string_view text);
std::string formatMac(const MacAddress& mac);

}  // namespace nicproxy

#include "control/net.hpp"

#include <charconv>

namespace nicproxy {
namespace {

// One decimal octet, 0..255, without leading zeros: "010" is rejected because
// inet_aton reads it as octal and an operator rarely means that.
std::optional<uint32_t> parseOctet(std::string_view text) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > 255) return std::nullopt;
  return value;
}

}  // namespace

std::optional<Ipv4> parseIpv4(std::string_view text) {
  Ipv4 address = 0;
  for (int i = 0; i < 4; ++i) {
    const size_t dot = text.find('.');
    const bool last = i == 3;
    if (last != (dot == std::string_view::npos)) return std::nullopt;
    const auto octet = parseOctet(text.substr(0, dot));
    if (!octet) return std::nullopt;
    address = (address << 8) | *octet;
    text = last ? std::string_view{} : text.substr(dot + 1);
  }
  return address;
}

bool looksLikeIpv6(std::string_view text) { return text.find(':') != std::string_view::npos; }

std::string formatIpv4(Ipv4 address) {
  return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 0xff) + "." +
         std::to_string((address >> 8) & 0xff) + "." + std::to_string(address & 0xff);
}

std::optional<Ipv4Cidr> parseIpv4Cidr(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto address = parseIpv4(text.substr(0, slash));
  const std::string_view prefix = text.substr(slash + 1);
  if (!address || prefix.empty() || prefix.size() > 2) return std::nullopt;
  if (prefix.size() > 1 && prefix.front() == '0') return std::nullopt;
  unsigned length = 0;
  const auto [end, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), length);
  if (ec != std::errc{} || end != prefix.data() + prefix.size() || length > 32) return std::nullopt;
  return Ipv4Cidr{*address, static_cast<uint8_t>(length)};
}

std::string formatIpv4Cidr(const Ipv4Cidr& cidr) {
  return formatIpv4(cidr.address) + "/" + std::to_string(cidr.prefixLength);
}

namespace {
int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<MacAddress> parseMac(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddress mac{};
  for (size_t i = 0; i < mac.size(); ++i) {
    const int high = hexDigit(text[i * 3]);
    const int low = hexDigit(text[i * 3 + 1]);
    if (high < 0 || low < 0 || (i + 1 < mac.size() && text[i * 3 + 2] != ':')) return std::nullopt;
    mac[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return mac;
}

std::string formatMac(const MacAddress& mac) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (size_t i = 0; i < mac.size(); ++i) {
    if (i != 0) text += ':';
    text += kDigits[mac[i] >> 4];
    text += kDigits[mac[i] & 0xf];
  }
  return text;
}

}  // namespace nicproxy

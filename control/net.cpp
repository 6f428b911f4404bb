#include "control/net.hpp"

#include <charconv>

namespace nicproxy {
namespace {

enum class Zeros : bool { Rejected, Decimal };

// A decimal number of digits only, at most `max`. Strictly, no leading zeros: "010"
// is rejected because inet_aton reads it as octal and an operator rarely means that.
// Sloppily (Go's old parser, which Kubernetes keeps for compatibility) any number of
// leading zeros is allowed and the number is still decimal.
std::optional<uint32_t> parseDecimal(std::string_view text, uint32_t max, Zeros zeros) {
  if (text.empty()) return std::nullopt;
  if (zeros == Zeros::Decimal) {
    const size_t first = text.find_first_not_of('0');
    text = first == std::string_view::npos ? text.substr(text.size() - 1) : text.substr(first);
  }
  if (text.size() > 3 || (text.size() > 1 && text.front() == '0')) return std::nullopt;
  uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

std::optional<Ipv4> parseAddress(std::string_view text, Zeros zeros) {
  Ipv4 address = 0;
  for (int i = 0; i < 4; ++i) {
    const size_t dot = text.find('.');
    const bool last = i == 3;
    if (last != (dot == std::string_view::npos)) return std::nullopt;
    const auto octet = parseDecimal(text.substr(0, dot), 255, zeros);
    if (!octet) return std::nullopt;
    address = (address << 8) | *octet;
    text = last ? std::string_view{} : text.substr(dot + 1);
  }
  return address;
}

std::optional<Ipv4Cidr> parseCidr(std::string_view text, Zeros zeros) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto address = parseAddress(text.substr(0, slash), zeros);
  const auto length = parseDecimal(text.substr(slash + 1), 32, zeros);
  if (!address || !length) return std::nullopt;
  return Ipv4Cidr{*address, static_cast<uint8_t>(*length)};
}

}  // namespace

std::optional<Ipv4> parseIpv4(std::string_view text) { return parseAddress(text, Zeros::Rejected); }
std::optional<Ipv4> parseIpv4Sloppy(std::string_view text) { return parseAddress(text, Zeros::Decimal); }
std::optional<Ipv4Cidr> parseIpv4Cidr(std::string_view text) { return parseCidr(text, Zeros::Rejected); }
std::optional<Ipv4Cidr> parseIpv4CidrSloppy(std::string_view text) { return parseCidr(text, Zeros::Decimal); }

bool looksLikeIpv6(std::string_view text) { return text.find(':') != std::string_view::npos; }

std::string formatIpv4(Ipv4 address) {
  return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 0xff) + "." +
         std::to_string((address >> 8) & 0xff) + "." + std::to_string(address & 0xff);
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

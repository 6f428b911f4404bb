#include "drivers/names.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace nicproxy {

std::string sha256Base32(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("sha256 failed (OpenSSL EVP_Digest)");
  }
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint64_t buffer = 0;
  int bits = 0;
  for (unsigned int i = 0; i < length; ++i) {
    buffer = (buffer << 8) | digest[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kAlphabet[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  while (out.size() % 8 != 0) out += '=';
  return out;
}

const char* protocolLower(Protocol protocol) {
  switch (protocol) {
    case Protocol::Tcp: return "tcp";
    case Protocol::Udp: return "udp";
    case Protocol::Sctp: return "sctp";
  }
  return "tcp";
}

std::string portProtoHash(const ServicePortName& name) {
  return sha256Base32(name.toString() + protocolLower(name.protocol)).substr(0, 16);
}

std::string portProtoEndpointHash(const ServicePortName& name, std::string_view endpoint) {
  return sha256Base32(name.toString() + protocolLower(name.protocol) + std::string(endpoint)).substr(0, 16);
}

bool isSafeServicePortName(const ServicePortName& name) {
  const auto dnsChars = [](std::string_view text, bool dots) {
    return std::all_of(text.begin(), text.end(), [dots](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || (dots && c == '.');
    });
  };
  return !name.namespaceName.empty() && name.namespaceName.size() <= 253 && !name.serviceName.empty() &&
         name.serviceName.size() <= 253 && name.portName.size() <= 63 && dnsChars(name.namespaceName, true) &&
         dnsChars(name.serviceName, true) && dnsChars(name.portName, false);
}

}  // namespace nicproxy

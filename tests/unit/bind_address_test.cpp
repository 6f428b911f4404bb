// metricsBindAddress / healthzBindAddress parsing (control/bind_address.hpp).
// Test addresses: 127.0.0.1, 0.0.0.0, ::, ::1 (documentation-free: only bind addresses).
#include <gtest/gtest.h>

#include "control/bind_address.hpp"

namespace nicproxy {
namespace {

TEST(BindAddress, ReadsIpAndPort) {
  std::string why;
  EXPECT_EQ(parseBindAddress("127.0.0.1:10249", 1, why), (BindAddress{"127.0.0.1", 10249}));
  EXPECT_EQ(parseBindAddress("[::]:10256", 1, why), (BindAddress{"::", 10256}));
  EXPECT_EQ(parseBindAddress("[::1]:65535", 1, why), (BindAddress{"::1", 65535}));
}

TEST(BindAddress, BareAddressTakesTheDefaultPortAsKubeProxy) {
  std::string why;
  EXPECT_EQ(parseBindAddress("0.0.0.0", 10249, why), (BindAddress{"0.0.0.0", 10249}));
  EXPECT_EQ(parseBindAddress("::", 10256, why), (BindAddress{"::", 10256}));
  EXPECT_EQ(parseBindAddress("[::1]", 10256, why), (BindAddress{"::1", 10256}));
}

TEST(BindAddress, RejectsWithTheReason) {
  const struct {
    const char* text;
    const char* reason;
  } cases[] = {
      {"localhost:10249", "\"localhost\" in \"localhost:10249\" is not an IP address"},
      {"127.0.0.1:", "port \"\" in \"127.0.0.1:\" is not a number from 1 to 65535"},
      {"127.0.0.1:0", "port \"0\" in \"127.0.0.1:0\" is not a number from 1 to 65535"},
      {"127.0.0.1:65536", "port \"65536\" in \"127.0.0.1:65536\" is not a number from 1 to 65535"},
      {"127.0.0.1:80x", "port \"80x\" in \"127.0.0.1:80x\" is not a number from 1 to 65535"},
      {"::1:10249", "is not IP:port (an IPv6 address goes in brackets"},
      {"[::1:10249", "has no ']'"},
      {"[10.0.0.1]:80", "\"10.0.0.1\" in \"[10.0.0.1]:80\" is not an IPv6 address"},
      {"", "\"\" is not IP:port"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(parseBindAddress(c.text, 10249, why)) << c.text;
    EXPECT_NE(why.find(c.reason), std::string::npos) << c.text << ": " << why;
  }
}

TEST(BindAddress, FormatReadsBack) {
  std::string why;
  for (const char* text : {"127.0.0.1:10249", "[::]:10256"}) {
    EXPECT_EQ(formatBindAddress(*parseBindAddress(text, 1, why)), text);
  }
}

}  // namespace
}  // namespace nicproxy

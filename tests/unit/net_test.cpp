// Tests: control/net (parseIpv4, formatIpv4, looksLikeIpv6, parseIpv4Cidr, formatIpv4Cidr,
// Ipv4Cidr::mask/network/contains, parseMac, formatMac).
//   Ipv4Parse.AcceptsDottedQuads          good addresses and their values
//   Ipv4Parse.RejectsEverythingElse       leading zeros, >255, missing/extra parts, junk, IPv6
//   Ipv4ParseSloppy.LeadingZerosAreDecimal ParseIPSloppy: "010.001.002.003" is 10.1.2.3, not octal
//   Ipv4ParseSloppy.RejectsTheRest        what is not an address with zeros added stays rejected
//   Ipv4Format.RoundTrips                 format(parse(x)) == x
//   Ipv4CidrParse.AcceptsPrefixes         /0../32, host bits kept
//   Ipv4CidrParse.RejectsBadPrefixes      /33, missing, leading zero, junk
//   Ipv4Cidr.ContainsUsesTheMask          subnet membership, /0 and /32 edges
//   MacParse.AcceptsSixHexPairs           either case, round trip through formatMac
//   MacParse.RejectsEverythingElse        short, long, other separators, junk
#include <gtest/gtest.h>

#include "control/net.hpp"

namespace nicproxy {
namespace {

TEST(Ipv4Parse, AcceptsDottedQuads) {
  const struct {
    const char* text;
    Ipv4 value;
  } cases[] = {
      {"0.0.0.0", 0},
      {"10.0.0.1", 0x0a000001},
      {"255.255.255.255", 0xffffffff},
      {"192.168.100.7", 0xc0a86407},
      {"1.2.3.4", 0x01020304},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto ip = parseIpv4(c.text);
    ASSERT_TRUE(ip.has_value());
    EXPECT_EQ(*ip, c.value);
  }
}

TEST(Ipv4Parse, RejectsEverythingElse) {
  for (const char* text : {"", "010.1.1.1", "10.01.1.1", "256.1.1.1", "10.0.0.300", "10.0.0", "10.0.0.1.2",
                           "10..0.1", "10.0.0.1 ", " 10.0.0.1", "10.0.0.1x", "10.0.0.-1", "10.0.0.+1",
                           "1000.0.0.1", "a.b.c.d", "::1", "fd00::1", "10.0.0.1/32", "10.0.0."}) {
    EXPECT_FALSE(parseIpv4(text).has_value()) << '"' << text << '"';
  }
}

TEST(Ipv4ParseSloppy, LeadingZerosAreDecimal) {
  const struct {
    const char* text;
    const char* means;
  } cases[] = {
      {"010.001.002.003", "10.1.2.3"},   // decimal: inet_aton would read 010 as 8
      {"10.01.1.1", "10.1.1.1"},
      {"000.000.000.000", "0.0.0.0"},
      {"0000255.1.1.1", "255.1.1.1"},    // Go's old parser took any number of zeros
      {"192.168.100.7", "192.168.100.7"},
      {"008.009.0.1", "8.9.0.1"},        // digits that octal would not even allow
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto ip = parseIpv4Sloppy(c.text);
    ASSERT_TRUE(ip.has_value());
    EXPECT_EQ(formatIpv4(*ip), c.means);
  }
  EXPECT_EQ(formatIpv4Cidr(parseIpv4CidrSloppy("010.000.000.000/008").value()), "10.0.0.0/8");
  EXPECT_FALSE(parseIpv4("010.001.002.003").has_value());  // the configuration stays strict
}

TEST(Ipv4ParseSloppy, RejectsTheRest) {
  for (const char* text : {"", "256.1.1.1", "0256.1.1.1", "10.0.0.300", "10.0.0", "10.0.0.1.2", "10..0.1",
                           " 10.0.0.1", "10.0.0.1 ", "10.0.0.-1", "10.0.0.+1", "1000.0.0.1", "0x0a.0.0.1", "::1",
                           "10.0.0.1/32", "10.0.0."}) {
    EXPECT_FALSE(parseIpv4Sloppy(text).has_value()) << '"' << text << '"';
  }
  for (const char* text : {"10.0.0.0/33", "10.0.0.0/0033", "10.0.0.0/", "10.0.0.0", "10.0.0.0/8x"}) {
    EXPECT_FALSE(parseIpv4CidrSloppy(text).has_value()) << '"' << text << '"';
  }
}

TEST(Ipv4Format, RoundTrips) {
  for (const char* text : {"0.0.0.0", "10.96.0.10", "255.255.255.255", "172.16.254.1"}) {
    EXPECT_EQ(formatIpv4(parseIpv4(text).value()), text);
  }
  EXPECT_TRUE(looksLikeIpv6("fd00::10"));
  EXPECT_FALSE(looksLikeIpv6("10.0.0.1"));
}

TEST(Ipv4CidrParse, AcceptsPrefixes) {
  const auto cidr = parseIpv4Cidr("10.50.0.1/24");
  ASSERT_TRUE(cidr.has_value());
  EXPECT_EQ(cidr->address, 0x0a320001u);  // host bits kept: the port's own address
  EXPECT_EQ(cidr->prefixLength, 24);
  EXPECT_EQ(cidr->network(), 0x0a320000u);
  EXPECT_EQ(formatIpv4Cidr(*cidr), "10.50.0.1/24");
  EXPECT_EQ(parseIpv4Cidr("0.0.0.0/0")->mask(), 0u);
  EXPECT_EQ(parseIpv4Cidr("10.0.0.1/32")->mask(), 0xffffffffu);
}

TEST(Ipv4CidrParse, RejectsBadPrefixes) {
  for (const char* text : {"10.0.0.0/33", "10.0.0.0", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/8x", "10.0.0.0/-1",
                           "10.0.0/8", "fd00::/64", "10.0.0.0/8/8", "/8", "10.0.0.0/100"}) {
    EXPECT_FALSE(parseIpv4Cidr(text).has_value()) << '"' << text << '"';
  }
}

TEST(Ipv4Cidr, ContainsUsesTheMask) {
  const auto subnet = parseIpv4Cidr("10.50.0.1/24").value();
  EXPECT_TRUE(subnet.contains(parseIpv4("10.50.0.254").value()));
  EXPECT_TRUE(subnet.contains(parseIpv4("10.50.0.0").value()));
  EXPECT_FALSE(subnet.contains(parseIpv4("10.50.1.1").value()));
  EXPECT_TRUE(parseIpv4Cidr("0.0.0.0/0")->contains(parseIpv4("8.8.8.8").value()));
  const auto host = parseIpv4Cidr("10.0.0.1/32").value();
  EXPECT_TRUE(host.contains(parseIpv4("10.0.0.1").value()));
  EXPECT_FALSE(host.contains(parseIpv4("10.0.0.2").value()));
}

TEST(MacParse, AcceptsSixHexPairs) {
  EXPECT_EQ(parseMac("02:00:5e:10:00:01"), (MacAddress{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}));
  EXPECT_EQ(parseMac("AA:bb:CC:dd:EE:ff"), (MacAddress{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}));
  EXPECT_EQ(formatMac(MacAddress{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}), "02:00:5e:10:00:01");
}

TEST(MacParse, RejectsEverythingElse) {
  for (const char* text : {"", "02:00:5e:10:00", "02:00:5e:10:00:01:02", "02-00-5e-10-00-01", "02:00:5e:10:00:0g",
                           "2:00:5e:10:00:01:", "0200.5e10.0001"}) {
    EXPECT_FALSE(parseMac(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace nicproxy

// parseTraceRequest: the syntax of `nicproxy trace SRC[:PORT] DST:PORT/PROTO`.
// Test addresses: clients 10.1.0.0/24, a service VIP 10.96.0.10.
#include <gtest/gtest.h>

#include "control/trace_request.hpp"

namespace nicproxy {
namespace {

TEST(TraceRequest, ParsesSourceWithAndWithoutPort) {
  const auto withPort = parseTraceRequest("10.1.0.2:40000 10.96.0.10:80/tcp");
  ASSERT_TRUE(std::holds_alternative<TraceRequest>(withPort)) << std::get<std::string>(withPort);
  const TraceRequest& r = std::get<TraceRequest>(withPort);
  EXPECT_EQ(r.source, *parseIpv4("10.1.0.2"));
  EXPECT_EQ(r.sourcePort, 40000);
  EXPECT_EQ(r.destination, *parseIpv4("10.96.0.10"));
  EXPECT_EQ(r.port, 80);
  EXPECT_EQ(r.protocol, Protocol::Tcp);
  EXPECT_EQ(formatTraceRequest(r), "10.1.0.2:40000 10.96.0.10:80/tcp");

  const auto without = parseTraceRequest("10.1.0.2   10.96.0.10:53/UDP");
  ASSERT_TRUE(std::holds_alternative<TraceRequest>(without)) << std::get<std::string>(without);
  EXPECT_EQ(std::get<TraceRequest>(without).sourcePort, 0);
  EXPECT_EQ(std::get<TraceRequest>(without).protocol, Protocol::Udp);
  EXPECT_EQ(formatTraceRequest(std::get<TraceRequest>(without)), "10.1.0.2 10.96.0.10:53/udp");
}

TEST(TraceRequest, ErrorsNameTheBadPart) {
  const struct {
    const char* text;
    const char* error;
  } cases[] = {
      {"10.96.0.10:80/tcp", "want 'SRC[:PORT] DST:PORT/PROTO'"},
      {"10.1.0 10.96.0.10:80/tcp", "SRC: '10.1.0' is not an IPv4 address"},
      {"10.1.0.2:0 10.96.0.10:80/tcp", "SRC: '0' is not a port"},
      {"10.1.0.2 10.96.0.10/tcp", "DST: want ADDRESS:PORT/PROTO"},
      {"10.1.0.2 10.96.0.10:80", "DST: want ADDRESS:PORT/PROTO"},
      {"10.1.0.2 10.96.0.x:80/tcp", "DST: '10.96.0.x' is not an IPv4 address"},
      {"10.1.0.2 10.96.0.10:70000/tcp", "DST: '70000' is not a port"},
      {"10.1.0.2 10.96.0.10:80/icmp", "DST: protocol 'icmp' is not tcp, udp or sctp"},
  };
  for (const auto& c : cases) {
    const auto result = parseTraceRequest(c.text);
    ASSERT_TRUE(std::holds_alternative<std::string>(result)) << c.text;
    EXPECT_NE(std::get<std::string>(result).find(c.error), std::string::npos)
        << c.text << ": " << std::get<std::string>(result);
  }
}

}  // namespace
}  // namespace nicproxy

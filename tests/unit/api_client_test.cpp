// Tests: control/k8s/api_client (ApiClient) against a silent peer and the fake API
// server: a dead connection ends with an error instead of blocking forever; TLS is
// verified; the stop flag ends a quiet watch.
//   ApiClient.SilentServerFailsTheRequest        TCP accepted, nothing ever sent back
//   ApiClient.StalledWatchEndsAtItsBound          a watch with no events and a 2 s bound
//   ApiClient.UnknownCaIsRefusedUnlessInsecure    TLS verification, insecure-skip-tls-verify
//   ApiClient.StopFlagEndsAQuietWatch
// Addresses: 127.0.0.1 only (a listening socket and the fake API server, any free port).
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "control/k8s/api_client.hpp"
#include "tests/k8s_fake/fake_apiserver.hpp"

namespace nicproxy::k8s {
namespace {

class ApiClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/nicproxy-clienttest.XXXXXX";
    dir_ = mkdtemp(pattern);
    nicproxy::testing::makeTestCertificates(dir_);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  Connection connectionTo(int port) const {
    Connection c;
    c.server = "https://127.0.0.1:" + std::to_string(port);
    c.caFile = dir_ + "/ca.crt";
    c.token = "t";
    return c;
  }
  static std::string dir_;
};
std::string ApiClientTest::dir_;

TEST_F(ApiClientTest, SilentServerFailsTheRequest) {
  // Accepts connections (the kernel does, from the backlog) and never answers: the TLS
  // handshake stalls, as with a hung API server.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  std::atomic<bool> stop{false};
  ClientTimeouts timeouts;
  timeouts.connect = std::chrono::seconds(1);
  timeouts.lowSpeedTime = std::chrono::seconds(1);
  ApiClient client(connectionTo(ntohs(address.sin_port)), stop, timeouts);
  const HttpResult result = client.get("/api/v1/services?limit=500");
  close(fd);
  EXPECT_EQ(result.status, 0);
  EXPECT_FALSE(result.error.empty());
}

TEST_F(ApiClientTest, StalledWatchEndsAtItsBound) {
  nicproxy::testing::FakeApiServer server({dir_ + "/server.crt", dir_ + "/server.key", "t"});
  server.start();
  std::atomic<bool> stop{false};
  ApiClient client(connectionTo(server.port()), stop);
  size_t bytes = 0;
  const HttpResult result = client.stream(
      "/api/v1/services?watch=true&resourceVersion=0&timeoutSeconds=600",
      [&](std::string_view data) {
        bytes += data.size();
        return true;
      },
      std::chrono::seconds(2));
  EXPECT_EQ(result.status, 200);
  EXPECT_NE(result.error.find("timed out"), std::string::npos) << result.error;
  EXPECT_EQ(bytes, 0u);
}

TEST_F(ApiClientTest, UnknownCaIsRefusedUnlessInsecure) {
  nicproxy::testing::FakeApiServer server({dir_ + "/server.crt", dir_ + "/server.key", "t"});
  server.start();
  std::atomic<bool> stop{false};
  // Another test CA, which did not issue the server's certificate.
  const std::string otherDir = dir_ + "/other";
  std::filesystem::create_directory(otherDir);
  nicproxy::testing::makeTestCertificates(otherDir);
  Connection noCa = connectionTo(server.port());
  noCa.caFile = otherDir + "/ca.crt";
  const HttpResult refused = ApiClient(noCa, stop).get("/api/v1/services");
  EXPECT_EQ(refused.status, 0);
  EXPECT_NE(refused.error.find("certificate"), std::string::npos) << refused.error;

  noCa.insecureSkipTlsVerify = true;
  const HttpResult insecure = ApiClient(noCa, stop).get("/api/v1/services");
  EXPECT_EQ(insecure.status, 200) << insecure.error;

  Connection inlineCa = connectionTo(server.port());
  inlineCa.caFile.clear();
  std::ifstream in(dir_ + "/ca.crt");
  inlineCa.caData.assign(std::istreambuf_iterator<char>(in), {});
  const HttpResult verified = ApiClient(inlineCa, stop).get("/api/v1/services");
  EXPECT_EQ(verified.status, 200) << verified.error;
}

TEST_F(ApiClientTest, StopFlagEndsAQuietWatch) {
  nicproxy::testing::FakeApiServer server({dir_ + "/server.crt", dir_ + "/server.key", "t"});
  server.start();
  std::atomic<bool> stop{false};
  ApiClient client(connectionTo(server.port()), stop);
  std::thread stopper([&] {
    while (server.openWatches("services") == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    stop.store(true);
  });
  const HttpResult result = client.stream("/api/v1/services?watch=true&resourceVersion=0&timeoutSeconds=600",
                                          [](std::string_view) { return true; }, std::chrono::seconds(600));
  stopper.join();
  EXPECT_TRUE(result.aborted);
}

}  // namespace
}  // namespace nicproxy::k8s

// Tests: control/k8s/api_client (ApiClient) against a silent peer and the fake API
// server: a dead connection ends with an error instead of blocking forever; TLS is
// verified; the stop flag ends a quiet watch.
//   ApiClient.SilentServerFailsTheRequest        TCP accepted, nothing ever sent back
//   ApiClient.StalledWatchEndsAtItsBound          a watch with no events and a 2 s bound
//   ApiClient.UnknownCaIsRefusedUnlessInsecure    TLS verification, insecure-skip-tls-verify
//   ApiClient.StopFlagEndsAQuietWatch
//   ApiClient.GzipListOverTheCapIsRefused          4 MiB of JSON, gzip'd on the wire, against a 1 MiB cap
//   ApiClient.WatchEventOverTheCapEndsTheWatch     events under the cap pass (3 MiB in all), one over it ends the watch
//   ApiClient.TokenNotSentOverPlainHttpUnlessAllowed  nothing connects without Connection::allowTokenOverHttp
// Addresses: 127.0.0.1 only (a listening socket and the fake API server, any free port).
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>

#include "control/k8s/api_client.hpp"
#include "drivers/exec.hpp"
#include "tests/k8s_fake/fake_apiserver.hpp"
#include "tests/k8s_fake/objects.hpp"

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

constexpr uint64_t kMiB = uint64_t{1} << 20;

// A listening TCP socket on 127.0.0.1, any free port.
int listenOnLoopback(int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(fd, 4) != 0) return -1;
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

// `count` Services, each with an annotation of `padding` bytes of one letter: large
// once decompressed, small gzip'd.
void applyPaddedServices(nicproxy::testing::FakeApiServer& server, int count, size_t padding) {
  for (int i = 0; i < count; ++i) {
    auto service = nicproxy::testing::serviceJson("default", "svc" + std::to_string(i),
                                                  "10.96.1." + std::to_string(i + 1), 80, 8080);
    service.as_object()["metadata"].as_object()["annotations"] =
        boost::json::object{{"example.com/padding", std::string(padding, 'a')}};
    server.apply("services", std::move(service));
  }
}

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

TEST_F(ApiClientTest, GzipListOverTheCapIsRefused) {
  nicproxy::testing::FakeApiServer server({dir_ + "/server.crt", dir_ + "/server.key", "t"});
  server.start();
  applyPaddedServices(server, 40, 100 << 10);  // about 4 MiB of JSON
  const std::string path = "/api/v1/services?limit=500";
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + path;

  // The premise: on the wire the list is gzip'd (as ApiClient asks), and far smaller than the cap.
  ProcessExecutor curl;
  const ExecResult wire = curl.run({"curl", "-sS", "-H", "Accept-Encoding: gzip", "--cacert", dir_ + "/ca.crt", "-H",
                                    "Authorization: Bearer t", "-D", "-", "-o", "/dev/null", "-w", "%{size_download}",
                                    url});
  ASSERT_TRUE(wire.ok()) << wire.failureText();
  std::string headers = wire.out;
  std::transform(headers.begin(), headers.end(), headers.begin(), [](unsigned char c) { return std::tolower(c); });
  EXPECT_NE(headers.find("content-encoding: gzip"), std::string::npos) << wire.out;
  EXPECT_LT(std::stoull(wire.out.substr(wire.out.rfind('\n') + 1)), kMiB) << wire.out;

  std::atomic<bool> stop{false};
  ClientTimeouts limits;
  limits.maxResponseBytes = kMiB;
  const HttpResult capped = ApiClient(connectionTo(server.port()), stop, limits).get(path);
  EXPECT_EQ(capped.status, 200);
  EXPECT_EQ(capped.error, "the response from " + url +
                              " is larger than 1048576 bytes (1 MiB) (clientConnection.maxResponseBytes) after "
                              "decompression; it was not read further");
  EXPECT_TRUE(capped.body.empty());

  limits.maxResponseBytes = 8 * kMiB;
  const HttpResult whole = ApiClient(connectionTo(server.port()), stop, limits).get(path);
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.error, "");
  EXPECT_GT(whole.body.size(), 4 * kMiB - 100000);
}

TEST_F(ApiClientTest, WatchEventOverTheCapEndsTheWatch) {
  nicproxy::testing::FakeApiServer server({dir_ + "/server.crt", dir_ + "/server.key", "t"});
  server.start();
  const auto padded = [](const std::string& name, size_t padding) {
    auto service = nicproxy::testing::serviceJson("default", name, "10.96.2.1", 80, 8080);
    service.as_object()["metadata"].as_object()["annotations"] =
        boost::json::object{{"example.com/padding", std::string(padding, 'b')}};
    return nicproxy::testing::FakeApiServer::eventLine("ADDED", service);
  };
  const std::string big = padded("big", kMiB + 1000);
  std::thread feeder([&] {
    while (server.openWatches("services") == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // Three 900 KiB events (2.7 MiB in all: a watch is bounded per event, not as a whole),
    // then one just over 1 MiB, in 64 KiB chunks.
    std::vector<std::string> chunks;
    for (int i = 0; i < 3; ++i) chunks.push_back(padded("small" + std::to_string(i), 900 << 10));
    for (size_t at = 0; at < big.size(); at += 64 << 10) chunks.push_back(big.substr(at, 64 << 10));
    server.sendRaw("services", chunks);
  });
  std::atomic<bool> stop{false};
  ClientTimeouts limits;
  limits.maxResponseBytes = kMiB;
  ApiClient client(connectionTo(server.port()), stop, limits);
  const std::string path = "/api/v1/services?watch=true&resourceVersion=0&timeoutSeconds=600";
  size_t lines = 0;
  const HttpResult result = client.stream(
      path,
      [&](std::string_view data) {
        lines += static_cast<size_t>(std::count(data.begin(), data.end(), '\n'));
        return true;
      },
      std::chrono::seconds(30));
  feeder.join();
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(lines, 3u) << "the events under the cap were handed over";
  EXPECT_EQ(result.error, "a watch event from https://127.0.0.1:" + std::to_string(server.port()) + path +
                              " is larger than 1048576 bytes (1 MiB) (clientConnection.maxResponseBytes) after "
                              "decompression; the watch was cut there");
}

TEST_F(ApiClientTest, TokenNotSentOverPlainHttpUnlessAllowed) {
  int port = 0;
  const int listener = listenOnLoopback(port);
  ASSERT_GE(listener, 0);
  Connection c;
  c.server = "http://127.0.0.1:" + std::to_string(port);
  c.token = "secret-token";
  c.origin = "kubeconfig /k/config (context dev)";
  std::atomic<bool> stop{false};
  const HttpResult refused = ApiClient(c, stop).get("/api/v1/services");
  EXPECT_EQ(refused.status, 0);
  EXPECT_EQ(refused.error, "refusing to send the bearer token of kubeconfig /k/config (context dev) over plain http to " +
                               c.server + " (nicproxy.io/allow-token-over-http is not set)");
  pollfd pending{listener, POLLIN, 0};
  EXPECT_EQ(poll(&pending, 1, 100), 0) << "nothing connected";

  // With the opt-in, a one-shot HTTP server sees the token.
  std::string request;
  std::thread peer([&] {
    const int fd = accept(listener, nullptr, nullptr);
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    (void)!write(fd, answer.data(), answer.size());
    close(fd);
  });
  c.allowTokenOverHttp = true;
  const HttpResult allowed = ApiClient(c, stop).get("/api/v1/services");
  peer.join();
  close(listener);
  EXPECT_EQ(allowed.status, 200) << allowed.error;
  EXPECT_NE(request.find("Authorization: Bearer secret-token"), std::string::npos) << request;
}

}  // namespace
}  // namespace nicproxy::k8s

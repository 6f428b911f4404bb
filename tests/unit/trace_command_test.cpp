// `nicproxy trace` as a client of DPDK's telemetry socket (daemon/trace_command.hpp),
// against a stand-in for the socket: a SEQPACKET server in a thread that greets as DPDK
// does, records the command and sends a canned reply.
// Test addresses: client 10.1.0.2, VIP 10.96.0.10, endpoints 10.50.0.11-12.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "daemon/trace_command.hpp"

namespace nicproxy {
namespace {

class FakeTelemetry {
 public:
  explicit FakeTelemetry(std::string reply) : reply_(std::move(reply)) {
    path_ = (std::filesystem::temp_directory_path() / ("np-trace-" + std::to_string(::getpid()) + ".sock")).string();
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    thread_ = std::thread([this] {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      const std::string greeting = R"({"version": "DPDK 22.11", "pid": 1, "max_output_len": 16384})";
      ::send(client, greeting.data(), greeting.size(), 0);
      char buffer[1024];
      const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n > 0) command_.assign(buffer, static_cast<size_t>(n));
      ::send(client, reply_.data(), reply_.size(), 0);
      ::close(client);
    });
  }
  ~FakeTelemetry() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  const std::string& command() const { return command_; }

 private:
  std::string reply_;
  std::string path_;
  std::string command_;
  int fd_ = -1;
  std::thread thread_;
};

TEST(TraceCommand, SendsTheRequestAndPrintsTheAnswer) {
  FakeTelemetry server(R"json({"/nicproxy/trace": {"packet": "10.1.0.2:40000 10.96.0.10:80/tcp",
      "frontend": "10.96.0.10:80/TCP of demo/web:http (cluster IP entry)", "verdict": "new connection",
      "backend": "10.50.0.12:8080 (Maglev)", "candidates": ["10.50.0.11:8080", "10.50.0.12:8080"], "flow": "none"}})json");
  std::ostringstream out, err;
  EXPECT_EQ(runTrace("10.1.0.2:40000", "10.96.0.10:80/TCP", server.path(), out, err), 0) << err.str();
  EXPECT_EQ(out.str(),
            "packet: 10.1.0.2:40000 10.96.0.10:80/tcp\n"
            "frontend: 10.96.0.10:80/TCP of demo/web:http (cluster IP entry)\n"
            "verdict: new connection\n"
            "backend: 10.50.0.12:8080 (Maglev)\n"
            "flow: none\n"
            "candidates:\n  10.50.0.11:8080\n  10.50.0.12:8080\n");
  EXPECT_EQ(server.command(), "/nicproxy/trace,10.1.0.2:40000 10.96.0.10:80/tcp");
}

TEST(TraceCommand, AnErrorAnswerIsReportedWithExitCode1) {
  FakeTelemetry server(R"({"/nicproxy/trace": {"error": "worker 0 (lcore 1) did not answer within 2000 ms"}})");
  std::ostringstream out, err;
  EXPECT_EQ(runTrace("10.1.0.2", "10.96.0.10:80/tcp", server.path(), out, err), 1);
  EXPECT_EQ(err.str(), "nicproxy trace: worker 0 (lcore 1) did not answer within 2000 ms\n");
}

TEST(TraceCommand, NoSocketOrBadInput) {
  std::ostringstream out, err;
  EXPECT_EQ(runTrace("10.1.0.2", "10.96.0.10:80/tcp", "/nonexistent/dpdk_telemetry.v2", out, err), 1);
  EXPECT_NE(err.str().find("/nonexistent/dpdk_telemetry.v2: cannot connect"), std::string::npos) << err.str();
  std::ostringstream out2, err2;
  EXPECT_EQ(runTrace("10.1.0.2", "10.96.0.10:80", "/nonexistent/dpdk_telemetry.v2", out2, err2), 2);
  EXPECT_NE(err2.str().find("DST: want ADDRESS:PORT/PROTO"), std::string::npos) << err2.str();
  EXPECT_EQ(telemetrySocketPath("nicproxy").ends_with("/dpdk/nicproxy/dpdk_telemetry.v2"), true);
}

}  // namespace
}  // namespace nicproxy

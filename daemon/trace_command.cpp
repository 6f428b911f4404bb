#include "daemon/trace_command.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <variant>

#include <boost/json.hpp>

#include "control/trace_request.hpp"

namespace nicproxy {

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string receive(int fd, const std::string& path) {
  // DPDK's telemetry replies are at most 16 KiB (one SEQPACKET message).
  std::string buffer(64 * 1024, '\0');
  const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
  if (n <= 0) throw std::runtime_error(path + ": no answer (" + (n == 0 ? "closed" : std::strerror(errno)) + ")");
  buffer.resize(static_cast<size_t>(n));
  return buffer;
}

}  // namespace

std::string telemetrySocketPath(const std::string& filePrefix) {
  std::string base = "/var/run";
  if (::geteuid() != 0) {
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    base = runtime != nullptr ? runtime : "/tmp";
  }
  return base + "/dpdk/" + filePrefix + "/dpdk_telemetry.v2";
}

std::string askTelemetry(const std::string& path, const std::string& command) {
  Fd sock{::socket(AF_UNIX, SOCK_SEQPACKET, 0)};
  if (sock.fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) throw std::runtime_error(path + ": path too long for a Unix socket");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (::connect(sock.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error(path + ": cannot connect (" + std::strerror(errno) +
                             "): is nicproxy running in DPDK mode with this --file-prefix?");
  }
  receive(sock.fd, path);  // the greeting: version, pid, max_output_len
  if (::send(sock.fd, command.data(), command.size(), 0) < 0) {
    throw std::runtime_error(path + ": cannot send (" + std::strerror(errno) + ")");
  }
  return receive(sock.fd, path);
}

int runTrace(const std::string& source, const std::string& destination, const std::string& socketPath,
             std::ostream& out, std::ostream& err) {
  const auto parsed = parseTraceRequest(source + " " + destination);
  if (const auto* problem = std::get_if<std::string>(&parsed)) {
    err << "nicproxy trace: " << *problem << "\n";
    return 2;
  }
  const std::string command = "/nicproxy/trace," + formatTraceRequest(std::get<TraceRequest>(parsed));
  boost::json::value reply;
  try {
    reply = boost::json::parse(askTelemetry(socketPath, command));
  } catch (const std::exception& e) {
    err << "nicproxy trace: " << e.what() << "\n";
    return 1;
  }
  const boost::json::object* root = reply.if_object();
  const boost::json::value* body = root != nullptr ? root->if_contains("/nicproxy/trace") : nullptr;
  if (body == nullptr || !body->is_object()) {
    err << "nicproxy trace: " << socketPath << " does not know /nicproxy/trace (not nicproxy?): "
        << boost::json::serialize(reply) << "\n";
    return 1;
  }
  const boost::json::object& answer = body->as_object();
  if (const auto* problem = answer.if_contains("error")) {
    err << "nicproxy trace: " << boost::json::value_to<std::string>(*problem) << "\n";
    return 1;
  }
  for (const char* field : {"packet", "frontend", "verdict", "backend", "flow"}) {
    if (const auto* value = answer.if_contains(field); value != nullptr && value->is_string()) {
      out << field << ": " << std::string(value->as_string()) << "\n";
    }
  }
  for (const char* list : {"candidates", "flow_list"}) {
    const auto* value = answer.if_contains(list);
    if (value == nullptr || !value->is_array() || value->as_array().empty()) continue;
    out << list << ":\n";
    for (const auto& item : value->as_array()) {
      if (item.is_string()) out << "  " << std::string(item.as_string()) << "\n";
    }
  }
  return 0;
}

}  // namespace nicproxy

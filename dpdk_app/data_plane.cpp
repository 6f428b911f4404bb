#include "dpdk_app/data_plane.hpp"

namespace nicproxy {

Timeouts Timeouts::fromTscHz(uint64_t hz) {
  Timeouts t;
  t.hz = hz;
  t.applyConntrack(ConntrackConfig{});
  t.arpRetry = hz / 5;
  t.arpRefresh = 60 * hz;
  t.arpFail = 5 * hz;
  t.arpExpire = 300 * hz;
  t.probeInterval = hz / 2;
  return t;
}

void Timeouts::applyConntrack(const ConntrackConfig& c) {
  auto cycles = [this](std::chrono::seconds s) { return static_cast<uint64_t>(s.count()) * hz; };
  tcpSynSent = cycles(c.tcpSynSentTimeout);
  tcpSynRecv = cycles(c.tcpSynRecvTimeout);
  tcpEstablished = cycles(c.tcpEstablishedTimeout);
  tcpFinWait = cycles(c.tcpFinWaitTimeout);
  tcpCloseWait = cycles(c.tcpCloseWaitTimeout);
  tcpLastAck = cycles(c.tcpLastAckTimeout);
  tcpTimeWait = cycles(c.tcpTimeWaitTimeout);
  tcpClose = cycles(c.tcpCloseTimeout);
  udp = cycles(c.udpTimeout);
  udpStream = cycles(c.udpStreamTimeout);
}

}  // namespace nicproxy

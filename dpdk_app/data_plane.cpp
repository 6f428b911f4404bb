#include "dpdk_app/data_plane.hpp"

namespace nicproxy {

Timeouts Timeouts::fromTscHz(uint64_t hz) {
  Timeouts t;
  t.hz = hz;
  t.tcpSynSent = 30 * hz;
  t.tcpEstablished = 900 * hz;
  t.tcpClosing = 10 * hz;
  t.tcpTimeWait = 120 * hz;
  t.tcpClosed = 10 * hz;
  t.udp = 30 * hz;
  t.udpStream = 30 * hz;
  t.arpRetry = hz / 5;
  t.arpRefresh = 60 * hz;
  t.arpFail = 5 * hz;
  t.arpExpire = 300 * hz;
  t.probeInterval = hz / 2;
  return t;
}

void Timeouts::applyConntrack(uint64_t establishedSeconds, uint64_t closeWaitSeconds, uint64_t udpSeconds,
                              uint64_t udpStreamSeconds) {
  tcpEstablished = establishedSeconds * hz;
  tcpClosing = closeWaitSeconds * hz;
  udp = udpSeconds * hz;
  udpStream = udpStreamSeconds * hz;
}

}  // namespace nicproxy

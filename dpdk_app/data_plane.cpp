#include "dpdk_app/data_plane.hpp"

namespace nicproxy {

Timeouts Timeouts::fromTscHz(uint64_t hz) {
  Timeouts t;
  t.tcpSynSent = 30 * hz;
  t.tcpEstablished = 900 * hz;
  t.tcpClosing = 10 * hz;
  t.udp = 30 * hz;
  t.arpRetry = hz / 5;
  t.arpRefresh = 60 * hz;
  t.probeInterval = hz / 2;
  return t;
}

}  // namespace nicproxy

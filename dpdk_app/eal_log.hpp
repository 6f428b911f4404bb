#pragma once
// DPDK's own log lines (EAL, the PMDs, telemetry) through spdlog, so that they share
// nicproxy's format (--logging-format=json: one JSON object per line, which a raw EAL
// line on stdout would break) and its level filter (-v, --log-level). The levels that
// reach the log at all are still set by EAL's own --log-level in dpdk.eal.
namespace nicproxy {

/// Before rte_eal_init, so that its lines go the same way. Idempotent.
void routeDpdkLogsToSpdlog();

}  // namespace nicproxy

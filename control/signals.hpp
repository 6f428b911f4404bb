#pragma once
// The daemon's signals: SIGINT and SIGTERM stop, SIGHUP reloads. The handler only
// records the signal; the control loop picks it up (nothing else is safe in a handler).
namespace nicproxy {

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP.
void installSignalHandlers();
/// The last signal received since the previous call, or 0.
int takePendingSignal();

}  // namespace nicproxy

#pragma once
// The daemon's signals: SIGINT and SIGTERM stop, SIGHUP reloads. The handler only
// records the signal; the control loop picks it up (nothing else is safe in a handler).
// Stop and reload are separate pending flags, so a SIGHUP arriving right after a
// SIGTERM cannot overwrite the stop, and a stop always wins over a pending reload.
namespace nicproxy {

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP.
void installSignalHandlers();
/// What the control loop should do next: SIGTERM or SIGINT (whichever came last) when a
/// stop is pending, whether or not a reload is too; else SIGHUP when a reload is
/// pending; else 0. Clears only the flag it returns.
int takePendingSignal();

}  // namespace nicproxy

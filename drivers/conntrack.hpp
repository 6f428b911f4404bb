#pragma once
// Deletes the conntrack entries of UDP endpoints that went away, as kube-proxy does
// after each sync: without it, a client that keeps sending to a service (DNS) keeps
// hitting the dead endpoint's entry. Runs `conntrack -D` through the Executor.
#include "control/model.hpp"
#include "drivers/exec.hpp"

namespace nicproxy {

/// `before` is the port as last programmed, `after` the port now (nullptr: removed).
/// Failures are logged, never thrown: the rules are already right.
void clearRemovedUdpEndpoints(Executor& executor, const ServicePort& before, const ServicePort* after);

}  // namespace nicproxy

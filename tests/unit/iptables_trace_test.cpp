// Tests: drivers/iptables rendered through IptablesProvider (FakeExecutor) and followed
// by tests/kernel_fake/iptables_tracer: what happens to each packet of
// kernel_trace_cases.hpp (its comment names the addresses). Also masqueradeAll and
// the tracer's own refusal of rules it does not understand.
#include <gtest/gtest.h>

#include "drivers/iptables/iptables_provider.hpp"
#include "kernel_trace_cases.hpp"

namespace nicproxy {
namespace {

using namespace fixtures;

std::string renderAll(const std::vector<ServicePort>& ports, bool masqueradeAll = false) {
  FakeExecutor exec;
  IptablesProviderOptions o;
  o.rules.clusterCIDR = cidr("10.0.0.0/8");
  o.rules.masqueradeAll = masqueradeAll;
  IptablesProvider provider(exec, o);
  provider.sync(tableOf(ports), {}, true);
  return provider.lastRestoreInput();
}

std::string describe(const testing::TraceResult& r) {
  return r.verdict + " [" + r.endpoints + "]" + (r.masquerade ? " masquerade" : "") + (r.affinity ? " affinity" : "");
}

TEST(IptablesTrace, EveryCase) {
  const testing::IptablesTracer tracer(renderAll(traceServices()), {ip("192.168.0.2")});
  for (const TraceCase& c : traceCases()) {
    EXPECT_EQ(describe(tracer.trace(c.packet)), describe(c.expected)) << c.name;
  }
}

TEST(IptablesTrace, MasqueradeAllMasqueradesPods) {
  const testing::IptablesTracer tracer(renderAll(traceServices(), true), {ip("192.168.0.2")});
  EXPECT_EQ(describe(tracer.trace(packet("10.0.0.5", "172.30.0.41", 80))), describe(reach(kBoth, true)));
}

TEST(IptablesTrace, TracerRefusesWhatItDoesNotKnow) {
  const testing::IptablesTracer tracer("*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m foo --bar 1 -j ACCEPT\nCOMMIT\n",
                                       {});
  EXPECT_THROW(tracer.trace(packet("10.0.0.5", "172.30.0.41", 80)), std::runtime_error);
}

}  // namespace
}  // namespace nicproxy

// libFuzzer target: the kubeconfig (parseKubeconfig: YAML through yaml-cpp, then the
// current context, cluster and user). The result is a connection or an error, never a
// crash. Relative paths resolve against a folder that does not exist, so that an input
// cannot make the fuzzer read a real file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "control/k8s/kubeconfig.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const nicproxy::k8s::ConnectionResult result =
      nicproxy::k8s::parseKubeconfig(text, "/nonexistent/nicproxy-fuzz", "kubeconfig (fuzz input)");
  if (!result.connection.has_value() && result.error.empty()) std::abort();  // refused without a reason
  return 0;
}

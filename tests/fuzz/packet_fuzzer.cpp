// libFuzzer target: the worker's packet path, processBurst() on arbitrary frames arriving
// on either port, with the standard services and established flows (packet_world.hpp
// describes the input format and the reset between inputs). A crash, a sanitizer report
// or an mbuf that an input leaks ends the run.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>

#include "tests/fuzz/packet_world.hpp"

namespace {
std::unique_ptr<nicproxy::fuzzing::PacketWorld> world;
}

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  try {
    nicproxy::fuzzing::startEal((*argc > 0) ? (*argv)[0] : "packet_fuzzer");
    world = std::make_unique<nicproxy::fuzzing::PacketWorld>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "packet_fuzzer: %s\n", e.what());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // reset() and settle() throw only when the data path is broken (a leak, a flow that no
  // longer opens): that is a finding, so let it terminate the run with its message.
  world->reset();
  world->feed(data, size);
  world->settle();  // here rather than at the next reset, so that a leak names this input
  return 0;
}

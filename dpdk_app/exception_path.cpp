// The exception thread and the kernel interfaces (exception_path.hpp). SKELETON: part B fills it.
#include "dpdk_app/exception_path.hpp"

#include <stdexcept>

namespace nicproxy {

struct ExceptionPath::State {};

ExceptionPath::ExceptionPath(DataPlane& plane, std::vector<PortSetup> setups, const ExceptionLimitsConfig& limits,
                             rte_mempool* pool, int socket) {
  (void)plane;
  (void)setups;
  (void)limits;
  (void)pool;
  (void)socket;
  throw std::runtime_error("the exception path is not built yet");
}

ExceptionPath::~ExceptionPath() = default;
void ExceptionPath::start() {}
void ExceptionPath::stop() {}
std::vector<ExceptionPath::PortView> ExceptionPath::ports() const { return {}; }

}  // namespace nicproxy

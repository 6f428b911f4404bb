#pragma once
// The daemon: EAL start-up from the configuration, ports, workers, the services
// source and the provider, in order; teardown in reverse order.
#include <memory>

#include "control/config.hpp"

namespace nicproxy {

class App {
 public:
  explicit App(Config config);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  /// Starts everything, serves until SIGINT or SIGTERM (SIGHUP reloads the services
  /// file), stops and prints the counters. Returns the process exit code. Start-up
  /// failures throw std::runtime_error with context.
  int run();

 private:
  /// API source: drains updates until the first lists are in; false on SIGINT/SIGTERM.
  bool waitForFirstLists();

  struct State;
  Config config_;
  std::unique_ptr<State> state_;
};

}  // namespace nicproxy

// fake_apiserver: the tests' fake Kubernetes API server as a program, for the
// end-to-end scripts. Serves HTTPS on --listen:--port with --cert/--key, requires
// --token, and takes its script over HTTPS under /fake/ (see fake_apiserver.hpp).
// Prints "listening on HOST:PORT" once it serves; stops on SIGTERM or SIGINT.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "tests/k8s_fake/fake_apiserver.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"fake Kubernetes API server for nicproxy's tests"};
  nicproxy::testing::FakeApiServerOptions options;
  options.controlEndpoints = true;
  cli.add_option("--cert", options.certFile, "server certificate (PEM)")->required();
  cli.add_option("--key", options.keyFile, "server key (PEM)")->required();
  cli.add_option("--token", options.token, "bearer token clients must send")->required();
  cli.add_option("--listen", options.host, "address to listen on");
  cli.add_option("--port", options.port, "port (0: any)");
  CLI11_PARSE(cli, argc, argv);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts: only sigwait sees them

  nicproxy::testing::FakeApiServer server(options);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  std::cout << "listening on " << options.host << ":" << server.port() << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  server.stop();
  return 0;
}

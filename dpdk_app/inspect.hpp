#pragma once
// Looking into the running data path from outside the process (issue 12):
//  - rte_pdump, so that Debian's dpdk-dumpcap (a secondary process with the same
//    --file-prefix) captures a port's traffic. It needs the EAL's shared configuration
//    and hugepages: see docs/inspecting.md.
//  - rte_telemetry commands, for dpdk-telemetry.py and `nicproxy trace`:
//      /nicproxy/stats               counters and flow-table occupancy per worker
//      /nicproxy/services[,FILTER]   the control view beside the workers' index, disagreements flagged
//      /nicproxy/flows[,vip=IP|backend=IP|client=IP]  flow counts and the matching flows
//      /nicproxy/trace,SRC[:PORT] DST:PORT/PROTO      frontend, verdict, backend, existing flows
//
// Who reads what: telemetry callbacks run on DPDK's telemetry threads. They never touch
// the workers' or the control thread's state themselves:
//  - the control-thread state (the control view, the writer's index and records) is read
//    by a job the callback hands to the control thread, which runs it in the serve loop's
//    next round (serveControlJobs(), at least every 100 ms) and signals completion;
//  - a worker's flow table and counters are read by the worker itself, answering a query
//    in its mailbox (inspect_mailbox.hpp).
// Either wait is bounded (kAnswerTimeout); a callback that times out answers with an
// error naming the part that did not answer.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "control/change_tracker.hpp"
#include "dpdk_app/dpdk_provider.hpp"
#include "dpdk_app/inspect_mailbox.hpp"
#include "dpdk_app/worker.hpp"

struct rte_tel_data;

namespace nicproxy {

/// Runs jobs handed over by other threads on the control thread.
class ControlJobs {
 public:
  /// Any thread: runs `job` in the control thread's next serve() and waits for it, at
  /// most `timeout` for it to start. False when it did not start in time (it never will).
  bool run(const std::function<void()>& job, std::chrono::milliseconds timeout);
  /// The control thread: runs the job waiting, if any.
  void serve();

 private:
  std::mutex callers_;  // one job at a time
  std::mutex mutex_;
  std::condition_variable changed_;
  const std::function<void()>* job_ = nullptr;  // waiting or running
  bool running_ = false;
  bool done_ = false;
};

class DataPathInspector {
 public:
  static constexpr std::chrono::milliseconds kAnswerTimeout{2000};

  struct Sources {
    std::vector<WorkerContext*> workers;  // the inspector sets their `inspect` mailbox
    std::vector<unsigned> workerLcores;
    const DpdkProvider* provider = nullptr;
    const ChangeTracker* tracker = nullptr;
    bool sharedConfig = true;   // false: --no-shconf or --in-memory, dpdk-dumpcap cannot attach
    bool hugepages = true;      // false: --no-huge, dpdk-dumpcap cannot attach either
  };

  /// Call after EAL init and before the workers start. Registers the telemetry commands
  /// (once per process; they answer "not running" while no inspector exists) and sets up
  /// pdump.
  explicit DataPathInspector(Sources sources);
  /// Call after the workers stopped.
  ~DataPathInspector();
  DataPathInspector(const DataPathInspector&) = delete;
  DataPathInspector& operator=(const DataPathInspector&) = delete;

  /// The control thread, every serve-loop round.
  void serveControlJobs() { jobs_.serve(); }

  // The telemetry commands (telemetry threads).
  int stats(rte_tel_data* d);
  int services(const std::string& filter, rte_tel_data* d);
  int flows(const std::string& params, rte_tel_data* d);
  int trace(const std::string& params, rte_tel_data* d);

 private:
  /// Asks every worker `query`; fills one answer per worker, or returns an error.
  std::string askWorkers(const InspectQuery& query, std::vector<InspectAnswer>& answers);

  Sources sources_;
  std::vector<std::unique_ptr<InspectMailbox>> mailboxes_;
  std::mutex workersMutex_;  // one worker query at a time
  ControlJobs jobs_;
  bool pdumpReady_ = false;
};

}  // namespace nicproxy

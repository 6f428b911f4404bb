#include "dpdk_app/inspect.hpp"

#include <netinet/in.h>

#include <sstream>
#include <thread>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_pdump.h>
#include <rte_telemetry.h>
#include <spdlog/spdlog.h>

#include "control/trace_request.hpp"
#include "dpdk_app/inspect_views.hpp"

namespace nicproxy {

// ---- ControlJobs ------------------------------------------------------------------------

bool ControlJobs::run(const std::function<void()>& job, std::chrono::milliseconds timeout) {
  std::lock_guard one(callers_);
  std::unique_lock lock(mutex_);
  job_ = &job;
  done_ = false;
  if (changed_.wait_for(lock, timeout, [&] { return done_ || running_; })) {
    // Started: it is bounded work on the control thread; `job` must outlive it.
    changed_.wait(lock, [&] { return done_; });
    return true;
  }
  job_ = nullptr;  // withdrawn before the control thread took it
  return false;
}

void ControlJobs::serve() {
  std::unique_lock lock(mutex_);
  if (job_ == nullptr || running_) return;
  const std::function<void()>* job = job_;
  running_ = true;
  changed_.notify_all();
  lock.unlock();
  try {
    (*job)();
  } catch (const std::exception& e) {
    spdlog::warn("telemetry: a request failed on the control thread: {}", e.what());
  }
  lock.lock();
  running_ = false;
  done_ = true;
  job_ = nullptr;
  changed_.notify_all();
}

// ---- telemetry glue -------------------------------------------------------------------

namespace {

// rte_telemetry callbacks take no context pointer: the one inspector of the process is
// found here. The mutex also keeps the inspector alive while a callback uses it.
std::mutex gInspectorMutex;
DataPathInspector* gInspector = nullptr;
std::once_flag gRegistered;

template <typename Fn>
int withInspector(rte_tel_data* d, Fn&& fn) {
  std::lock_guard lock(gInspectorMutex);
  if (gInspector == nullptr) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "error", "nicproxy's data path is not running");
    return 0;
  }
  return fn(*gInspector);
}

std::string paramsOf(const char* params) { return params == nullptr ? std::string() : std::string(params); }

/// Telemetry strings are at most RTE_TEL_MAX_STRING_LEN - 1 characters.
std::string fit(std::string text) {
  if (text.size() >= RTE_TEL_MAX_STRING_LEN) text = text.substr(0, RTE_TEL_MAX_STRING_LEN - 4) + "...";
  return text;
}

void addString(rte_tel_data* d, const char* name, const std::string& value) {
  rte_tel_data_add_dict_string(d, name, fit(value).c_str());
}

/// A string array added to `d` under `name`, at most `limit` lines (telemetry's reply is
/// at most 16 KiB).
void addLines(rte_tel_data* d, const char* name, const std::vector<std::string>& lines, size_t limit = 100) {
  rte_tel_data* array = rte_tel_data_alloc();
  if (array == nullptr) return;
  rte_tel_data_start_array(array, RTE_TEL_STRING_VAL);
  for (size_t i = 0; i < lines.size() && i < limit; ++i) rte_tel_data_add_array_string(array, fit(lines[i]).c_str());
  rte_tel_data_add_dict_container(d, name, array, 0);
}

void addU64s(rte_tel_data* d, const char* name, const std::vector<uint64_t>& values) {
  rte_tel_data* array = rte_tel_data_alloc();
  if (array == nullptr) return;
  rte_tel_data_start_array(array, RTE_TEL_U64_VAL);
  for (const uint64_t v : values) rte_tel_data_add_array_u64(array, v);
  rte_tel_data_add_dict_container(d, name, array, 0);
}

int error(rte_tel_data* d, const std::string& message) {
  rte_tel_data_start_dict(d);
  addString(d, "error", message);
  return 0;
}

const char* tcpStateName(TcpState state) {
  switch (state) {
    case TcpState::None: return "none";
    case TcpState::SynSent: return "syn_sent";
    case TcpState::SynRecv: return "syn_recv";
    case TcpState::Established: return "established";
    case TcpState::FinWait: return "fin_wait";
    case TcpState::CloseWait: return "close_wait";
    case TcpState::LastAck: return "last_ack";
    case TcpState::TimeWait: return "time_wait";
    case TcpState::Close: return "close";
  }
  return "?";
}

std::string endpoint(rte_be32_t address, rte_be16_t port) {
  return formatIpv4(rte_be_to_cpu_32(address)) + ":" + std::to_string(rte_be_to_cpu_16(port));
}

/// "w0 TCP 10.50.0.100:40000 -> 10.96.0.10:80 => 10.50.0.11:8080 via 10.50.0.1:1025 established"
std::string formatFlow(size_t worker, const FlowRow& row) {
  const uint8_t protocol = row.forward.protocol;
  const std::string state = protocol == IPPROTO_TCP ? tcpStateName(row.tcpState) : row.sawReply ? "replied" : "unreplied";
  return "w" + std::to_string(worker) + " " + (protocol == IPPROTO_TCP ? "TCP" : protocol == IPPROTO_UDP ? "UDP" : "SCTP") +
         " " + endpoint(row.forward.sourceAddress, row.forward.sourcePort) + " -> " +
         endpoint(row.forward.destinationAddress, row.forward.destinationPort) + " => " +
         endpoint(row.reverse.sourceAddress, row.reverse.sourcePort) + " via " +
         endpoint(row.reverse.destinationAddress, row.reverse.destinationPort) + " " + state;
}

int onStats(const char*, const char*, rte_tel_data* d) {
  return withInspector(d, [&](DataPathInspector& i) { return i.stats(d); });
}
int onServices(const char*, const char* params, rte_tel_data* d) {
  return withInspector(d, [&](DataPathInspector& i) { return i.services(paramsOf(params), d); });
}
int onFlows(const char*, const char* params, rte_tel_data* d) {
  return withInspector(d, [&](DataPathInspector& i) { return i.flows(paramsOf(params), d); });
}
int onTrace(const char*, const char* params, rte_tel_data* d) {
  return withInspector(d, [&](DataPathInspector& i) { return i.trace(paramsOf(params), d); });
}

void registerCommands() {
  const struct {
    const char* name;
    telemetry_cb fn;
    const char* help;
  } commands[] = {
      {"/nicproxy/stats", onStats, "nicproxy: packets, NAT, flows and drops per worker. No parameters"},
      {"/nicproxy/services", onServices,
       "nicproxy: service ports, control view beside the workers' index, disagreements. Parameter: a name filter"},
      {"/nicproxy/flows", onFlows,
       "nicproxy: flow counts and flows. Parameters: vip=IP, backend=IP, client=IP (comma separated)"},
      {"/nicproxy/trace", onTrace,
       "nicproxy: what the data path does with a packet. Parameters: SRC[:PORT] DST:PORT/PROTO"},
  };
  for (const auto& c : commands) {
    if (rte_telemetry_register_cmd(c.name, c.fn, c.help) != 0) {
      spdlog::warn("telemetry: cannot register {}", c.name);
    }
  }
}

}  // namespace

// ---- DataPathInspector ----------------------------------------------------------------

DataPathInspector::DataPathInspector(Sources sources) : sources_(std::move(sources)) {
  for (WorkerContext* worker : sources_.workers) {
    mailboxes_.push_back(std::make_unique<InspectMailbox>());
    worker->inspect = mailboxes_.back().get();
  }
  std::call_once(gRegistered, registerCommands);
  {
    std::lock_guard lock(gInspectorMutex);
    gInspector = this;
  }
  if (!sources_.sharedConfig) {
    spdlog::info("dpdk-dumpcap cannot attach: dpdk.eal has --no-shconf or --in-memory (docs/inspecting.md)");
  } else if (rte_pdump_init() != 0) {
    spdlog::warn("rte_pdump_init failed: dpdk-dumpcap cannot capture ({})", rte_strerror(rte_errno));
  } else {
    pdumpReady_ = true;
    if (!sources_.hugepages) {
      spdlog::info("pdump is set up, but dpdk-dumpcap cannot attach to an EAL with --no-huge (docs/inspecting.md)");
    }
  }
}

DataPathInspector::~DataPathInspector() {
  {
    std::lock_guard lock(gInspectorMutex);  // waits for a callback in progress (bounded)
    gInspector = nullptr;
  }
  if (pdumpReady_) rte_pdump_uninit();
  for (WorkerContext* worker : sources_.workers) worker->inspect = nullptr;
}

std::string DataPathInspector::askWorkers(const InspectQuery& query, std::vector<InspectAnswer>& answers) {
  std::lock_guard one(workersMutex_);
  const auto deadline = std::chrono::steady_clock::now() + kAnswerTimeout;
  auto waitFor = [&](size_t i, uint64_t value) {
    while (mailboxes_[i]->answered.load(std::memory_order_acquire) != value) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
  };
  auto silent = [&](size_t i, const char* what) {
    return "worker " + std::to_string(i) + " (lcore " + std::to_string(sources_.workerLcores[i]) + ") " + what +
           " within " + std::to_string(kAnswerTimeout.count()) + " ms: is its loop running?";
  };
  for (size_t i = 0; i < mailboxes_.size(); ++i) {
    InspectMailbox& box = *mailboxes_[i];
    // A query that timed out earlier is still answered: the mailbox is free after that.
    const uint64_t last = box.asked.load(std::memory_order_relaxed);
    if (!waitFor(i, last)) return silent(i, "is still busy with an earlier query");
    box.query = query;
    box.asked.store(last + 1, std::memory_order_release);  // the query is complete before this
  }
  answers.assign(mailboxes_.size(), InspectAnswer{});
  for (size_t i = 0; i < mailboxes_.size(); ++i) {
    if (!waitFor(i, mailboxes_[i]->asked.load(std::memory_order_relaxed))) return silent(i, "did not answer");
    answers[i] = mailboxes_[i]->answer;  // acquire above: the answer is complete
  }
  return {};
}

int DataPathInspector::stats(rte_tel_data* d) {
  std::vector<InspectAnswer> answers;
  if (std::string problem = askWorkers(InspectQuery{}, answers); !problem.empty()) return error(d, problem);
  size_t servicePorts = 0, frontends = 0, backends = 0;
  uint64_t generation = 0;
  const std::function<void()> job = [&] {
    if (const auto table = sources_.tracker->current()) servicePorts = table->size();
    if (const FastServiceTable* fast = sources_.provider->current()) {
      frontends = fast->frontendCount();
      backends = fast->backendCount();
      generation = fast->generation();
    }
  };
  if (!jobs_.run(job, kAnswerTimeout)) return error(d, "the control thread did not answer: is the serve loop running?");
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "workers", answers.size());
  rte_tel_data_add_dict_u64(d, "service_ports", servicePorts);
  rte_tel_data_add_dict_u64(d, "frontends", frontends);
  rte_tel_data_add_dict_u64(d, "backends", backends);
  rte_tel_data_add_dict_u64(d, "table_generation", generation);
  const struct {
    const char* name;
    uint64_t InspectAnswer::*field;
  } totals[] = {{"rx_packets", &InspectAnswer::rxPackets},     {"tx_packets", &InspectAnswer::txPackets},
                {"nat_forward", &InspectAnswer::natForward},   {"nat_reverse", &InspectAnswer::natReverse},
                {"flows_created", &InspectAnswer::flowsCreated}, {"flows_expired", &InspectAnswer::flowsExpired},
                {"drops", &InspectAnswer::drops}};
  for (const auto& t : totals) {
    uint64_t sum = 0;
    for (const InspectAnswer& a : answers) sum += a.*t.field;
    rte_tel_data_add_dict_u64(d, t.name, sum);
  }
  uint64_t flows = 0, capacity = 0;
  std::vector<uint64_t> perWorkerFlows, perWorkerRx, lcores;
  for (size_t i = 0; i < answers.size(); ++i) {
    flows += answers[i].flows;
    capacity += answers[i].flowCapacity;
    perWorkerFlows.push_back(answers[i].flows);
    perWorkerRx.push_back(answers[i].rxPackets);
    lcores.push_back(sources_.workerLcores[i]);
  }
  rte_tel_data_add_dict_u64(d, "flows", flows);
  rte_tel_data_add_dict_u64(d, "flow_capacity", capacity);
  addU64s(d, "worker_lcores", lcores);
  addU64s(d, "worker_flows", perWorkerFlows);
  addU64s(d, "worker_rx_packets", perWorkerRx);
  return 0;
}

int DataPathInspector::services(const std::string& filter, rte_tel_data* d) {
  ServicesView view;
  const std::function<void()> job = [&] {
    const auto table = sources_.tracker->current();
    view = compareServices(table.get(), sources_.provider->writer(), filter);
  };
  if (!jobs_.run(job, kAnswerTimeout)) return error(d, "the control thread did not answer: is the serve loop running?");
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "service_ports", view.servicePorts);
  rte_tel_data_add_dict_u64(d, "shown", view.shown);
  rte_tel_data_add_dict_u64(d, "frontends", view.frontends);
  rte_tel_data_add_dict_u64(d, "disagreements", view.disagreements.size());
  addLines(d, "services", view.lines, 60);
  addLines(d, "disagreement_list", view.disagreements, 20);
  if (!filter.empty()) addLines(d, "endpoints", view.details, 20);
  return 0;
}

int DataPathInspector::flows(const std::string& params, rte_tel_data* d) {
  InspectQuery query;
  query.listFlows = true;
  std::stringstream in(params);
  std::string item;
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const auto address = eq == std::string::npos ? std::nullopt : parseIpv4(item.substr(eq + 1));
    if (!address || (key != "vip" && key != "backend" && key != "client")) {
      return error(d, "flows: '" + item + "': want vip=IP, backend=IP or client=IP");
    }
    (key == "vip" ? query.filter.frontend : key == "backend" ? query.filter.backend : query.filter.source) =
        rte_cpu_to_be_32(*address);
  }
  std::vector<InspectAnswer> answers;
  if (std::string problem = askWorkers(query, answers); !problem.empty()) return error(d, problem);
  uint64_t flows = 0, capacity = 0, matched = 0;
  std::vector<std::string> lines;
  for (size_t i = 0; i < answers.size(); ++i) {
    flows += answers[i].flows;
    capacity += answers[i].flowCapacity;
    matched += answers[i].matched;
    for (uint32_t r = 0; r < answers[i].rowCount; ++r) lines.push_back(formatFlow(i, answers[i].rows[r]));
  }
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "flows", flows);
  rte_tel_data_add_dict_u64(d, "flow_capacity", capacity);
  rte_tel_data_add_dict_u64(d, "matched", matched);
  rte_tel_data_add_dict_u64(d, "listed", lines.size());
  addLines(d, "flow_list", lines);
  return 0;
}

int DataPathInspector::trace(const std::string& params, rte_tel_data* d) {
  const auto parsed = parseTraceRequest(params);
  if (const auto* problem = std::get_if<std::string>(&parsed)) return error(d, "trace: " + *problem);
  const TraceRequest& request = std::get<TraceRequest>(parsed);
  TraceView view;
  const std::function<void()> job = [&] { view = traceFrontend(request, sources_.provider->writer()); };
  if (!jobs_.run(job, kAnswerTimeout)) return error(d, "the control thread did not answer: is the serve loop running?");
  InspectQuery query;
  query.listFlows = true;
  query.filter.source = rte_cpu_to_be_32(request.source);
  query.filter.sourcePort = rte_cpu_to_be_16(request.sourcePort);
  query.filter.frontend = rte_cpu_to_be_32(request.destination);
  query.filter.frontendPort = rte_cpu_to_be_16(request.port);
  query.filter.protocol = ipProtocolOf(request.protocol);
  std::vector<InspectAnswer> answers;
  const std::string problem = askWorkers(query, answers);
  std::vector<std::string> flows;
  uint64_t matched = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    matched += answers[i].matched;
    for (uint32_t r = 0; r < answers[i].rowCount; ++r) flows.push_back(formatFlow(i, answers[i].rows[r]));
  }
  rte_tel_data_start_dict(d);
  addString(d, "packet", formatTraceRequest(request));
  addString(d, "frontend", view.frontend);
  addString(d, "verdict", view.verdict);
  addString(d, "backend", view.backend.empty() ? "none" : view.backend);
  addLines(d, "candidates", view.candidates, 40);
  if (!problem.empty()) {
    addString(d, "flow", "unknown: " + problem);
  } else {
    addString(d, "flow", matched == 0 ? std::string("none") : flows.front());
    rte_tel_data_add_dict_u64(d, "flows_matched", matched);
    addLines(d, "flow_list", flows, 20);
  }
  return 0;
}

}  // namespace nicproxy

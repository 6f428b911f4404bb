#include "tests/k8s_fake/fake_apiserver.hpp"

// Debian's cpp-httplib is a compiled library; its pkg-config flags define
// CPPHTTPLIB_OPENSSL_SUPPORT, which SSLServer needs.
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace nicproxy::testing {
namespace {

std::string stringAt(const boost::json::value& v, std::initializer_list<const char*> path) {
  const boost::json::value* cur = &v;
  for (const char* key : path) {
    const auto* o = cur->if_object();
    cur = o != nullptr ? o->if_contains(key) : nullptr;
    if (cur == nullptr) return {};
  }
  return cur->is_string() ? std::string(cur->as_string().c_str()) : std::string();
}

std::string keyOf(const boost::json::value& object) {
  return stringAt(object, {"metadata", "namespace"}) + "/" + stringAt(object, {"metadata", "name"});
}

std::string status(int code, const std::string& reason, const std::string& message) {
  boost::json::object s{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                        {"message", message}, {"reason", reason}, {"code", code}};
  return boost::json::serialize(s);
}

std::string resourceOfPath(const std::string& path) {
  if (path == "/api/v1/services") return "services";
  if (path == "/apis/discovery.k8s.io/v1/endpointslices") return "endpointslices";
  if (path == "/api/v1/nodes") return "nodes";
  return {};
}

std::string listKind(const std::string& resource) {
  if (resource == "services") return "ServiceList";
  if (resource == "endpointslices") return "EndpointSliceList";
  return "NodeList";
}

// Label selectors as kube-proxy sends them: comma-separated "!key", "key", "key=value",
// "key!=value".
bool matchesLabels(const boost::json::value& object, const std::string& selector) {
  const auto* meta = object.as_object().if_contains("metadata");
  const boost::json::object* labels = nullptr;
  if (meta != nullptr && meta->is_object()) {
    const auto* l = meta->as_object().if_contains("labels");
    if (l != nullptr && l->is_object()) labels = &l->as_object();
  }
  const auto label = [&](const std::string& key) -> const boost::json::value* {
    return labels != nullptr ? labels->if_contains(key) : nullptr;
  };
  size_t start = 0;
  while (start <= selector.size() && !selector.empty()) {
    const size_t comma = selector.find(',', start);
    const std::string term = selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? selector.size() + 1 : comma + 1;
    if (term.empty()) continue;
    if (term[0] == '!') {
      if (label(term.substr(1)) != nullptr) return false;
    } else if (const size_t ne = term.find("!="); ne != std::string::npos) {
      const auto* v = label(term.substr(0, ne));
      if (v != nullptr && v->is_string() && v->as_string() == term.substr(ne + 2)) return false;
    } else if (const size_t eq = term.find('='); eq != std::string::npos) {
      const auto* v = label(term.substr(0, eq));
      if (v == nullptr || !v->is_string() || v->as_string() != term.substr(eq + 1)) return false;
    } else if (label(term) == nullptr) {
      return false;
    }
  }
  return true;
}

bool matchesFields(const boost::json::value& object, const std::string& selector) {
  if (selector.empty()) return true;
  const std::string prefix = "metadata.name=";
  if (selector.rfind(prefix, 0) != 0) return true;
  return stringAt(object, {"metadata", "name"}) == selector.substr(prefix.size());
}

}  // namespace

std::string FakeApiServer::eventLine(const std::string& type, const boost::json::value& object) {
  boost::json::object event{{"type", type}, {"object", object}};
  return boost::json::serialize(event) + "\n";
}

FakeApiServer::FakeApiServer(FakeApiServerOptions options) : options_(std::move(options)), port_(options_.port) {}

FakeApiServer::~FakeApiServer() { stop(); }

void FakeApiServer::start() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  auto server = std::make_unique<httplib::SSLServer>(options_.certFile.c_str(), options_.keyFile.c_str());
  if (!server->is_valid()) throw std::runtime_error("fake API server: cannot load " + options_.certFile);
  // Every open watch holds a worker thread for its whole life (and an idle keep-alive
  // connection one for a few seconds): more than the default 8.
  server->new_task_queue = [] { return new httplib::ThreadPool(32); };
  // The real API server (Go) sets TCP_NODELAY on every connection; without it Nagle
  // holds a watch event written just after another until the client's delayed ACK
  // (about 40 ms here), which is not what nicproxy would see from a cluster.
  server->set_tcp_nodelay(true);
  install(*server);
  if (port_ == 0) {
    port_ = server->bind_to_any_port(options_.host);
    if (port_ <= 0) throw std::runtime_error("fake API server: cannot bind " + options_.host);
  } else if (!server->bind_to_port(options_.host, port_)) {
    throw std::runtime_error("fake API server: cannot bind " + options_.host + ":" + std::to_string(port_));
  }
  server_ = std::move(server);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void FakeApiServer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& w : watches_) w->closed = true;
  }
  changed_.notify_all();
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

uint64_t FakeApiServer::apply(const std::string& resource, boost::json::value object) {
  std::string line;
  uint64_t rv = 0;
  {
    std::lock_guard lock(mutex_);
    rv = ++rv_;
    auto& meta = object.as_object()["metadata"];
    if (!meta.is_object()) meta = boost::json::object();
    meta.as_object()["resourceVersion"] = std::to_string(rv);
    auto& store = objects_[resource];
    const std::string key = keyOf(object);
    const std::string type = store.count(key) != 0 ? "MODIFIED" : "ADDED";
    store[key] = object;
    history_.push_back(Event{rv, resource, type, object});
    line = eventLine(type, object);
  }
  pushToWatches(resource, line);
  return rv;
}

uint64_t FakeApiServer::remove(const std::string& resource, const std::string& namespaceName, const std::string& name) {
  std::string line;
  uint64_t rv = 0;
  {
    std::lock_guard lock(mutex_);
    auto& store = objects_[resource];
    const auto it = store.find(namespaceName + "/" + name);
    if (it == store.end()) return rv_;
    rv = ++rv_;
    boost::json::value object = it->second;
    object.as_object()["metadata"].as_object()["resourceVersion"] = std::to_string(rv);
    store.erase(it);
    history_.push_back(Event{rv, resource, "DELETED", object});
    line = eventLine("DELETED", object);
  }
  pushToWatches(resource, line);
  return rv;
}

uint64_t FakeApiServer::resourceVersion() const {
  std::lock_guard lock(mutex_);
  return rv_;
}

void FakeApiServer::setToken(std::string token) {
  std::lock_guard lock(mutex_);
  options_.token = std::move(token);
}

void FakeApiServer::compact() {
  {
    std::lock_guard lock(mutex_);
    compactedRv_ = rv_;
    history_.clear();
    const std::string line = eventLine("ERROR", boost::json::parse(status(410, "Expired", "too old resource version")));
    for (auto& w : watches_) {
      w->chunks.push_back(line);
      w->closed = true;
    }
  }
  changed_.notify_all();
}

void FakeApiServer::failNextWatchWith410() {
  std::lock_guard lock(mutex_);
  failNextWatch_ = true;
}

void FakeApiServer::setFailing(const std::string& resource, int code) {
  std::lock_guard lock(mutex_);
  failing_[resource] = code;
}

void FakeApiServer::expireNextContinue() {
  std::lock_guard lock(mutex_);
  expireNextContinue_ = true;
}

void FakeApiServer::sendBookmark(const std::string& resource) {
  std::string line;
  {
    std::lock_guard lock(mutex_);
    boost::json::object object{{"kind", resource == "services" ? "Service" : "EndpointSlice"},
                               {"metadata", {{"resourceVersion", std::to_string(rv_)}}}};
    line = eventLine("BOOKMARK", object);
  }
  pushToWatches(resource, line);
}

void FakeApiServer::sendRaw(const std::string& resource, const std::vector<std::string>& chunks) {
  {
    std::lock_guard lock(mutex_);
    for (auto& w : watches_) {
      if (w->resource == resource && !w->closed) w->chunks.insert(w->chunks.end(), chunks.begin(), chunks.end());
    }
  }
  changed_.notify_all();
}

void FakeApiServer::closeWatches() {
  {
    std::lock_guard lock(mutex_);
    for (auto& w : watches_) w->closed = true;
  }
  changed_.notify_all();
}

void FakeApiServer::pushToWatches(const std::string& resource, const std::string& chunk) {
  sendRaw(resource, {chunk});
}

size_t FakeApiServer::openWatches(const std::string& resource) const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& w : watches_) n += w->resource == resource && !w->closed ? 1 : 0;
  return n;
}

std::vector<boost::json::value> FakeApiServer::objects(const std::string& resource) const {
  std::lock_guard lock(mutex_);
  std::vector<boost::json::value> out;
  if (const auto it = objects_.find(resource); it != objects_.end()) {
    for (const auto& [key, object] : it->second) out.push_back(object);
  }
  return out;
}

uint64_t FakeApiServer::listRequests(const std::string& resource) const {
  std::lock_guard lock(mutex_);
  const auto it = lists_.find(resource);
  return it == lists_.end() ? 0 : it->second;
}

uint64_t FakeApiServer::watchRequests(const std::string& resource) const {
  std::lock_guard lock(mutex_);
  const auto it = watchCount_.find(resource);
  return it == watchCount_.end() ? 0 : it->second;
}

uint64_t FakeApiServer::unauthorizedRequests() const {
  std::lock_guard lock(mutex_);
  return unauthorized_;
}

std::vector<std::string> FakeApiServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<ApiRequestRecord> FakeApiServer::apiRequests() const {
  std::lock_guard lock(mutex_);
  return apiRequests_;
}

void FakeApiServer::install(httplib::Server& server) {
  // Every request: log it, check the token.
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    std::string query;
    for (const auto& [k, v] : req.params) query += (query.empty() ? "?" : "&") + k + "=" + v;
    requests_.push_back(req.method + " " + req.path + query);
    if (req.path.rfind("/fake/", 0) != 0) {
      apiRequests_.push_back(describeApiRequest(req.method, req.path, req.get_param_value("watch"),
                                                req.get_param_value("fieldSelector")));
    }
    if (req.get_header_value("Authorization") != "Bearer " + options_.token) {
      ++unauthorized_;
      res.status = 401;
      res.set_content(status(401, "Unauthorized", "Unauthorized"), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  server.Get(R"(/api/v1/(services|nodes)|/apis/discovery\.k8s\.io/v1/endpointslices)",
             [this](const httplib::Request& req, httplib::Response& res) {
    const std::string resource = resourceOfPath(req.path);
    const std::string labels = req.get_param_value("labelSelector");
    const std::string fields = req.get_param_value("fieldSelector");
    std::unique_lock lock(mutex_);
    if (const int code = failing_[resource]; code != 0) {
      res.status = code;
      res.set_content(status(code, "InternalError", "injected failure"), "application/json");
      return;
    }
    if (req.get_param_value("watch") != "true") {
      ++lists_[resource];
      const std::string cont = req.get_param_value("continue");
      if (!cont.empty() && expireNextContinue_) {
        expireNextContinue_ = false;
        res.status = 410;
        res.set_content(status(410, "Expired", "The provided continue parameter is too old"), "application/json");
        return;
      }
      size_t offset = cont.empty() ? 0 : std::stoul(cont.substr(cont.find(':') + 1));
      const size_t limit = req.has_param("limit") ? std::stoul(req.get_param_value("limit")) : 0;
      std::vector<const boost::json::value*> matching;
      for (const auto& [key, object] : objects_[resource]) {
        if (matchesLabels(object, labels) && matchesFields(object, fields)) matching.push_back(&object);
      }
      boost::json::array items;
      size_t i = offset;
      for (; i < matching.size() && (limit == 0 || items.size() < limit); ++i) items.push_back(*matching[i]);
      boost::json::object metadata{{"resourceVersion", std::to_string(rv_)}};
      if (i < matching.size()) metadata["continue"] = std::to_string(rv_) + ":" + std::to_string(i);
      boost::json::object list{{"kind", listKind(resource)}, {"apiVersion", "v1"}, {"metadata", metadata},
                               {"items", items}};
      res.set_content(boost::json::serialize(list), "application/json");
      return;
    }

    ++watchCount_[resource];
    const uint64_t from = std::stoull(req.has_param("resourceVersion") ? req.get_param_value("resourceVersion") : "0");
    if (failNextWatch_ || from < compactedRv_) {
      failNextWatch_ = false;
      res.status = 410;
      res.set_content(status(410, "Expired", "too old resource version: " + std::to_string(from)),
                      "application/json");
      return;
    }
    auto watch = std::make_shared<Watch>();
    watch->resource = resource;
    for (const Event& e : history_) {
      if (e.rv > from && e.resource == resource && matchesLabels(e.object, labels) && matchesFields(e.object, fields)) {
        watch->chunks.push_back(eventLine(e.type, e.object));
      }
    }
    watches_.push_back(watch);
    const int timeout = req.has_param("timeoutSeconds") ? std::stoi(req.get_param_value("timeoutSeconds")) : 300;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    lock.unlock();
    res.set_chunked_content_provider("application/json", [this, watch, deadline](size_t, httplib::DataSink& sink) {
      std::unique_lock l(mutex_);
      changed_.wait_until(l, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(100)),
                          [&] { return !watch->chunks.empty() || watch->closed; });
      std::vector<std::string> chunks;
      chunks.swap(watch->chunks);
      const bool end = watch->closed || std::chrono::steady_clock::now() >= deadline;
      l.unlock();
      for (const std::string& chunk : chunks) {
        if (!sink.write(chunk.data(), chunk.size())) return false;
      }
      if (end) {
        sink.done();
        std::lock_guard g(mutex_);
        watch->closed = true;
        std::erase(watches_, watch);
      }
      return true;
    }, [this, watch](bool) {
      std::lock_guard g(mutex_);
      std::erase(watches_, watch);
    });
  });

  // One Node by name, as nicproxy reads its InternalIP at start-up (a Node is applied
  // with resource "nodes", no namespace: /fake/apply?resource=nodes from a script).
  server.Get(R"(/api/v1/nodes/([^/?]+))", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    if (const int code = failing_["nodes"]; code != 0) {
      res.status = code;
      res.set_content(status(code, "InternalError", "injected failure"), "application/json");
      return;
    }
    const auto& nodes = objects_["nodes"];
    const auto it = nodes.find("/" + req.matches[1].str());
    if (it == nodes.end()) {
      res.status = 404;
      res.set_content(status(404, "NotFound", "nodes \"" + req.matches[1].str() + "\" not found"), "application/json");
      return;
    }
    res.set_content(boost::json::serialize(it->second), "application/json");
  });

  if (options_.controlEndpoints) installControl(server);
}

void makeTestCertificates(const std::string& dir) {
  const std::string cmd =
      "set -e; cd '" + dir + "'; "
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=nicproxy-test-ca -keyout ca.key -out ca.crt 2>/dev/null; "
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 "
      "-keyout server.key -out server.csr 2>/dev/null; "
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext; "
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile server.ext -out server.crt 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl could not make test certificates in " + dir);
}

}  // namespace nicproxy::testing

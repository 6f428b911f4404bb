#include "control/k8s/reflector.hpp"

#include <boost/json/parse.hpp>
#include <spdlog/spdlog.h>

namespace nicproxy::k8s {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
// A watch that ends this soon without a single event is treated as a failure, so a
// server that closes every watch at once is not hammered in a tight loop.
constexpr auto kShortWatch = std::chrono::seconds(1);

const boost::json::object* metadataOf(const boost::json::value& object) {
  const auto* o = object.if_object();
  const auto* meta = o != nullptr ? o->if_contains("metadata") : nullptr;
  return meta != nullptr ? meta->if_object() : nullptr;
}

std::string stringAt(const boost::json::object* object, const char* key) {
  const auto* value = object != nullptr ? object->if_contains(key) : nullptr;
  return value != nullptr && value->is_string() ? std::string(value->as_string().c_str()) : std::string();
}

int64_t statusCode(const boost::json::value& status) {
  const auto* o = status.if_object();
  const auto* code = o != nullptr ? o->if_contains("code") : nullptr;
  return code != nullptr && code->is_int64() ? code->as_int64() : 0;
}

}  // namespace

std::string resourceVersionOf(const boost::json::value& object) {
  return stringAt(metadataOf(object), "resourceVersion");
}

std::string statusMessage(const std::string& body) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(body, ec);
  if (!ec && value.is_object()) {
    const std::string message = stringAt(&value.as_object(), "message");
    if (!message.empty()) return message;
  }
  return body.substr(0, 200);
}

Reflector::Reflector(Connection connection, ReflectorOptions options, ReflectorHandler& handler,
                     ReflectorCounters& counters)
    : options_(std::move(options)),
      handler_(handler),
      counters_(counters),
      client_(std::move(connection), stop_, options_.timeouts),
      backoff_(options_.backoffInitial, options_.backoffMax) {}

Reflector::~Reflector() { stop(); }

void Reflector::start() { thread_ = std::thread([this] { run(); }); }

void Reflector::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true, kRelaxed);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Reflector::lastResourceVersion() const {
  std::lock_guard lock(mutex_);
  return resourceVersion_;
}

void Reflector::setResourceVersion(std::string rv) {
  std::lock_guard lock(mutex_);
  resourceVersion_ = std::move(rv);
}

void Reflector::sleepFor(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, delay, [this] { return stop_.load(kRelaxed); });
}

std::string Reflector::selectors() const {
  std::string query;
  if (!options_.labelSelector.empty()) query += "&labelSelector=" + urlEncode(options_.labelSelector);
  if (!options_.fieldSelector.empty()) query += "&fieldSelector=" + urlEncode(options_.fieldSelector);
  return query;
}

// Failures are logged once per streak at warning level (an error for 401/403, naming
// the server and the kind of credentials, never the token), then at debug level until
// a success, so an unreachable API server does not flood the log.
void Reflector::reportFailure(const char* what, const HttpResult& result) {
  const std::string& server = client_.connection().server;
  if (result.status == 401 || result.status == 403) {
    counters_.authFailures.fetch_add(1, kRelaxed);
    if (!authReported_) {
      spdlog::error("{} {}: the API server {} answered {} {} using {} from {}: {}; retrying with backoff",
                    what, options_.resource, server, result.status, result.status == 401 ? "Unauthorized" : "Forbidden",
                    client_.connection().describeCredentials(), client_.connection().origin,
                    statusMessage(result.body));
      authReported_ = true;
      return;
    }
  }
  // The client's own error first: a transfer can fail after a 200 (a cut watch, a body too large).
  const std::string reason = !result.error.empty() || result.status == 0
                                 ? result.error
                                 : "HTTP " + std::to_string(result.status) + ": " + statusMessage(result.body);
  if (!failureReported_ && !authReported_) {
    spdlog::warn("{} {} from {} failed: {}; keeping the last state, retrying with backoff", what, options_.resource,
                 server, reason);
    failureReported_ = true;
  } else {
    spdlog::debug("{} {} failed again: {}", what, options_.resource, reason);
  }
}

bool Reflector::listAll() {
  std::vector<boost::json::value> items;
  std::string continueToken;
  std::string listVersion;
  while (!stop_.load(kRelaxed)) {
    std::string query = options_.path + "?limit=" + std::to_string(options_.pageSize) + selectors();
    if (!continueToken.empty()) query += "&continue=" + urlEncode(continueToken);
    const HttpResult result = client_.get(query);
    counters_.listPages.fetch_add(1, kRelaxed);
    if (result.status == 410 && !continueToken.empty()) {
      // The snapshot behind the continue token was compacted away: start over.
      spdlog::info("list {}: continue token expired ({}); listing again from the start", options_.resource,
                   statusMessage(result.body));
      counters_.relists.fetch_add(1, kRelaxed);
      items.clear();
      continueToken.clear();
      continue;
    }
    if (result.status != 200 || !result.error.empty()) {
      if (!stop_.load(kRelaxed)) reportFailure("list", result);
      counters_.listFailures.fetch_add(1, kRelaxed);
      return false;
    }
    boost::system::error_code ec;
    boost::json::value page = boost::json::parse(result.body, ec);
    auto* object = page.if_object();
    auto* pageItems = object != nullptr ? object->if_contains("items") : nullptr;
    if (ec || pageItems == nullptr || !(pageItems->is_array() || pageItems->is_null())) {
      spdlog::warn("list {}: the answer is not a list ({}); retrying", options_.resource,
                   ec ? ec.message() : "no items array");
      counters_.decodeErrors.fetch_add(1, kRelaxed);
      counters_.listFailures.fetch_add(1, kRelaxed);
      return false;
    }
    if (pageItems->is_array()) {
      for (auto& item : pageItems->as_array()) items.push_back(std::move(item));
    }
    const auto* meta = metadataOf(page);
    listVersion = stringAt(meta, "resourceVersion");
    continueToken = stringAt(meta, "continue");
    if (continueToken.empty()) break;
  }
  if (stop_.load(kRelaxed)) return false;
  spdlog::info("listed {}: {} objects at resourceVersion {}", options_.resource, items.size(), listVersion);
  // Counted before the handler queues the list: whoever sees the list sees the count.
  setResourceVersion(listVersion);
  counters_.lists.fetch_add(1, kRelaxed);
  handler_.onList(std::move(items));
  return true;
}

Reflector::WatchOutcome Reflector::watchOnce() {
  const std::string query = options_.path + "?watch=true&allowWatchBookmarks=true&resourceVersion=" +
                            urlEncode(lastResourceVersion()) +
                            "&timeoutSeconds=" + std::to_string(options_.watchTimeout.count()) + selectors();
  counters_.watches.fetch_add(1, kRelaxed);
  WatchStreamParser parser;
  bool gone = false;
  bool errorEvent = false;
  uint64_t handled = 0;

  const auto onEvent = [&](WatchEvent&& event) {
    switch (event.type) {
      case WatchEventType::Error: {
        const int64_t code = statusCode(event.object);
        gone = code == 410;
        errorEvent = !gone;
        const std::string message = stringAt(event.object.if_object(), "message");
        if (gone) {
          spdlog::info("watch {}: {} (410 Gone); listing again", options_.resource, message);
        } else {
          spdlog::warn("watch {}: ERROR event, code {}: {}; watching again", options_.resource, code, message);
        }
        return false;
      }
      case WatchEventType::Bookmark: {
        counters_.bookmarks.fetch_add(1, kRelaxed);
        const std::string rv = resourceVersionOf(event.object);
        if (!rv.empty()) setResourceVersion(rv);
        return true;
      }
      default: {
        std::string rv = resourceVersionOf(event.object);
        ++handled;
        counters_.events.fetch_add(1, kRelaxed);
        handler_.onEvent(event.type, std::move(event.object));
        if (!rv.empty()) setResourceVersion(std::move(rv));
        return true;
      }
    }
  };
  const auto onBadLine = [&](const std::string& why) {
    counters_.decodeErrors.fetch_add(1, kRelaxed);
    spdlog::warn("watch {}: skipping a malformed event line: {}", options_.resource, why);
  };
  const auto started = std::chrono::steady_clock::now();
  // The transfer may outlive timeoutSeconds a little (the server's clock, the last
  // event); past this bound the connection is taken for dead.
  const auto maxDuration = options_.watchTimeout + std::chrono::seconds(30);
  const HttpResult result =
      client_.stream(query, [&](std::string_view bytes) { return parser.feed(bytes, onEvent, onBadLine); },
                     maxDuration);
  if (gone || result.status == 410) {
    if (result.status == 410) {
      spdlog::info("watch {} from resourceVersion {}: 410 Gone ({}); listing again", options_.resource,
                   lastResourceVersion(), statusMessage(result.body));
    }
    return WatchOutcome::Relist;
  }
  if (stop_.load(kRelaxed)) return WatchOutcome::Ended;
  if (result.tooLarge) {
    // A watch from the same resourceVersion would replay the same event: list instead,
    // which fails (bounded too) until the object shrinks or the limit is raised.
    reportFailure("watch", result);
    counters_.watchFailures.fetch_add(1, kRelaxed);
    return WatchOutcome::Relist;
  }
  if (errorEvent) {
    counters_.watchFailures.fetch_add(1, kRelaxed);
    return WatchOutcome::Failed;
  }
  if (result.status != 200 || !result.error.empty()) {
    reportFailure("watch", result);
    counters_.watchFailures.fetch_add(1, kRelaxed);
    return WatchOutcome::Failed;
  }
  if (handled == 0 && std::chrono::steady_clock::now() - started < kShortWatch) return WatchOutcome::EndedEarly;
  return WatchOutcome::Ended;
}

void Reflector::run() {
  bool needList = true;
  while (!stop_.load(kRelaxed)) {
    if (needList) {
      if (!listAll()) {
        sleepFor(backoff_.next());
        continue;
      }
      needList = false;
      backoff_.reset();
      authReported_ = failureReported_ = false;
    }
    switch (watchOnce()) {
      case WatchOutcome::Relist:
        counters_.relists.fetch_add(1, kRelaxed);
        needList = true;
        break;
      case WatchOutcome::Failed:
      case WatchOutcome::EndedEarly:
        sleepFor(backoff_.next());
        break;
      case WatchOutcome::Ended:
        backoff_.reset();
        authReported_ = failureReported_ = false;
        break;
    }
  }
}

}  // namespace nicproxy::k8s

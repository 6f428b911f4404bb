#include "control/k8s/api_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <curl/curl.h>

#include "control/watchdog.hpp"

namespace nicproxy::k8s {
namespace {

struct Transfer {
  const std::function<bool(std::string_view)>* onData = nullptr;
  std::string body;
  long status = 0;
  CURL* curl = nullptr;
  bool callbackStopped = false;
  const std::atomic<bool>* stop = nullptr;
  uint64_t maxBytes = 0;
  uint64_t lineBytes = 0;   // a watch: bytes of the event line in progress
  bool overLimit = false;   // maxBytes was reached: the transfer was aborted
};

// True when the lines of a watch chunk stay within `t.maxBytes` each; keeps count of
// the unfinished last line for the next chunk.
bool watchLinesWithinLimit(Transfer& t, std::string_view chunk) {
  while (true) {
    const size_t newline = chunk.find('\n');
    const size_t part = newline == std::string_view::npos ? chunk.size() : newline;
    if (t.lineBytes + part > t.maxBytes) return false;
    if (newline == std::string_view::npos) {
      t.lineBytes += part;
      return true;
    }
    t.lineBytes = 0;
    chunk.remove_prefix(newline + 1);
  }
}

std::string bytesText(uint64_t bytes) {
  constexpr uint64_t kMiB = uint64_t{1} << 20;
  const std::string exact = std::to_string(bytes) + " bytes";
  return bytes % kMiB == 0 ? exact + " (" + std::to_string(bytes / kMiB) + " MiB)" : exact;
}

size_t onWrite(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (t.status == 0) curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
  // Only a 200 watch streams; any other answer (410, 401...) is a Status to read whole.
  // libcurl hands over decompressed bytes, so the bounds hold against a gzip bomb too;
  // returning 0 aborts the transfer (CURLE_WRITE_ERROR).
  if (t.onData != nullptr && t.status == 200) {
    if (!watchLinesWithinLimit(t, std::string_view(data, bytes))) {
      t.overLimit = true;
      return 0;
    }
    if (!(*t.onData)(std::string_view(data, bytes))) {
      t.callbackStopped = true;
      return 0;  // ends the transfer (CURLE_WRITE_ERROR)
    }
    return bytes;
  }
  if (t.body.size() + bytes > t.maxBytes) {
    t.overLimit = true;
    t.body.clear();
    t.body.shrink_to_fit();
    return 0;
  }
  t.body.append(data, bytes);
  return bytes;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  // Called about once a second even on an idle stream, so a stop request ends a quiet
  // watch promptly. relaxed: only this flag is read, no data depends on it.
  const auto& t = *static_cast<Transfer*>(user);
  return t.stop->load(std::memory_order_relaxed) ? 1 : 0;
}

struct KeepaliveSettings {
  int idle, interval;
};

// Watches are idle for long stretches; TCP keepalive notices a peer that vanished
// (node rebooted, cable pulled) where a low-speed limit would cut healthy idle watches.
int onSocket(void* user, curl_socket_t fd, curlsocktype purpose) {
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKOPT_OK;
  const auto& k = *static_cast<const KeepaliveSettings*>(user);
  const int on = 1, count = 3;
  const int userTimeoutMs = (k.idle + k.interval * count) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &k.idle, sizeof k.idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &k.interval, sizeof k.interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  // Unacknowledged data (a request sent into a black hole) also ends the connection.
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &userTimeoutMs, sizeof userTimeoutMs);
  return CURL_SOCKOPT_OK;
}

void setBlob(CURL* curl, CURLoption option, const std::string& pem) {
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  curl_easy_setopt(curl, option, &blob);
}

}  // namespace

void ApiClient::CurlDeleter::operator()(void* handle) const { curl_easy_cleanup(static_cast<CURL*>(handle)); }

ApiClient::ApiClient(Connection connection, const std::atomic<bool>& stop, ClientTimeouts timeouts)
    : connection_(std::move(connection)), stop_(stop), timeouts_(timeouts) {
  static const bool globalInit = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!globalInit) throw std::runtime_error("curl_global_init failed");
  curl_.reset(curl_easy_init());
  if (!curl_) throw std::runtime_error("curl_easy_init failed");
}

ApiClient::~ApiClient() = default;

HttpResult ApiClient::get(const std::string& pathAndQuery) {
  // Named to the watchdog, if the calling thread has one (a watch is left out: it
  // legitimately waits for minutes).
  const WatchedStep step("GET " + pathAndQuery);
  return perform(pathAndQuery, nullptr, std::chrono::seconds(0));
}

HttpResult ApiClient::stream(const std::string& pathAndQuery, const std::function<bool(std::string_view)>& onData,
                             std::chrono::seconds maxDuration) {
  return perform(pathAndQuery, &onData, maxDuration);
}

HttpResult ApiClient::perform(const std::string& pathAndQuery, const std::function<bool(std::string_view)>* onData,
                              std::chrono::seconds maxDuration) {
  CURL* curl = static_cast<CURL*>(curl_.get());
  curl_easy_reset(curl);  // keeps the connection cache: the next request reuses the TLS session
  HttpResult result;
  std::string token;
  try {
    token = currentToken(connection_);
  } catch (const std::exception& e) {
    result.error = std::string("cannot read the token: ") + e.what();
    return result;
  }

  const std::string url = connection_.server + pathAndQuery;
  // The kubeconfig check refuses this first (kubeconfig.hpp); this one covers every
  // other way a Connection is made.
  if (!token.empty() && isPlainHttp(connection_.server) && !connection_.allowTokenOverHttp) {
    result.error = "refusing to send the bearer token of " + connection_.origin + " over plain http to " +
                   connection_.server + " (" + std::string(kAllowTokenOverHttpExtension) + " is not set)";
    return result;
  }

  Transfer transfer;
  transfer.onData = onData;
  transfer.curl = curl;
  transfer.stop = &stop_;
  transfer.maxBytes = timeouts_.maxResponseBytes;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onWrite);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, onProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(timeouts_.connect.count()));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "nicproxy/0.1");

  KeepaliveSettings keepalive{static_cast<int>(timeouts_.keepaliveIdle.count()),
                              static_cast<int>(timeouts_.keepaliveInterval.count())};
  if (onData != nullptr) {
    curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION, onSocket);
    curl_easy_setopt(curl, CURLOPT_SOCKOPTDATA, &keepalive);
    // A new connection for every watch, so the keepalive options above apply to it.
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    if (maxDuration.count() > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(maxDuration.count()));
  } else {
    // Lists may be large: gzip if the server offers it. Not on watches, where a
    // compressor could hold an event back until it has a block's worth of data.
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip");  // what the API server offers
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(timeouts_.lowSpeedTime.count()));
  }

  if (connection_.insecureSkipTlsVerify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!connection_.caData.empty()) {
    setBlob(curl, CURLOPT_CAINFO_BLOB, connection_.caData);
  } else if (!connection_.caFile.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, connection_.caFile.c_str());
  }
  if (!connection_.clientCertData.empty()) {
    setBlob(curl, CURLOPT_SSLCERT_BLOB, connection_.clientCertData);
  } else if (!connection_.clientCertFile.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, connection_.clientCertFile.c_str());
  }
  if (!connection_.clientKeyData.empty()) {
    setBlob(curl, CURLOPT_SSLKEY_BLOB, connection_.clientKeyData);
  } else if (!connection_.clientKeyFile.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLKEY, connection_.clientKeyFile.c_str());
  }

  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  std::string authorization;
  if (!token.empty()) {
    authorization = "Authorization: Bearer " + token;
    headers = curl_slist_append(headers, authorization.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  char errorBuffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errorBuffer);
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);

  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  result.body = std::move(transfer.body);
  result.aborted = transfer.callbackStopped || code == CURLE_ABORTED_BY_CALLBACK;
  result.tooLarge = transfer.overLimit;
  if (transfer.overLimit) {
    const std::string limit = bytesText(timeouts_.maxResponseBytes) + " (clientConnection.maxResponseBytes)";
    result.error = onData != nullptr && result.status == 200
                       ? "a watch event from " + url + " is larger than " + limit + " after decompression; the " +
                             "watch was cut there"
                       : "the response from " + url + " is larger than " + limit + " after decompression; it was " +
                             "not read further";
  } else if (code != CURLE_OK && !transfer.callbackStopped) {
    result.error = errorBuffer[0] != '\0' ? errorBuffer : curl_easy_strerror(code);
  }
  return result;
}

std::string urlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace nicproxy::k8s

#include "control/k8s/kubeconfig.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/beast/core/detail/base64.hpp>
#include <yaml-cpp/yaml.h>

namespace nicproxy::k8s {
namespace {

std::string readText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot be read");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string trim(std::string text) {
  const auto notSpace = [](unsigned char c) { return std::isspace(c) == 0; };
  text.erase(text.begin(), std::find_if(text.begin(), text.end(), notSpace));
  text.erase(std::find_if(text.rbegin(), text.rend(), notSpace).base(), text.end());
  return text;
}

std::string decodeBase64(const std::string& text, const std::string& field) {
  std::string clean;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) == 0) clean += c;
  }
  // Padded base64, as Go's StdEncoding (which writes kubeconfigs) requires. Without this
  // check a length of 4n+2 or 4n+3 made decode() write past decoded_size()'s n*3 bytes
  // (found by tests/fuzz/kubeconfig_fuzzer.cpp).
  if (clean.size() % 4 != 0) throw std::runtime_error(field + ": not valid base64");
  namespace b64 = boost::beast::detail::base64;
  std::string out(b64::decoded_size(clean.size()), '\0');
  const auto [written, read] = b64::decode(out.data(), clean.data(), clean.size());
  // decode() stops at the first '=' or bad character: everything before padding must be read.
  const size_t unpadded = clean.find_last_not_of('=') + 1;
  if (read < unpadded || clean.size() - unpadded > 2) throw std::runtime_error(field + ": not valid base64");
  out.resize(written);
  return out;
}

// Finds the entry of a named list (clusters, contexts, users) whose name matches.
YAML::Node findNamed(const YAML::Node& root, const std::string& list, const std::string& name,
                     const std::string& inner) {
  const YAML::Node entries = root[list];
  if (!entries || !entries.IsSequence()) throw std::runtime_error(list + ": missing or not a list");
  for (const auto& entry : entries) {
    if (entry["name"] && entry["name"].as<std::string>() == name) {
      const YAML::Node body = entry[inner];
      if (!body || !body.IsMap()) throw std::runtime_error(list + "[" + name + "]." + inner + ": missing");
      return body;
    }
  }
  throw std::runtime_error(list + ": no entry named \"" + name + "\"");
}

std::string stringOf(const YAML::Node& map, const std::string& key) {
  const YAML::Node value = map[key];
  return value && value.IsScalar() ? value.as<std::string>() : std::string();
}

std::filesystem::path resolve(const std::string& path, const std::filesystem::path& baseDir) {
  if (path.empty()) return {};
  const std::filesystem::path p(path);
  return p.is_absolute() ? p : (baseDir / p).lexically_normal();
}

// The cluster's extensions list names kAllowTokenOverHttpExtension (its value is not read:
// naming it is the opt-in).
bool allowsTokenOverHttp(const YAML::Node& cluster) {
  const YAML::Node extensions = cluster["extensions"];
  if (!extensions || !extensions.IsSequence()) return false;
  for (const auto& entry : extensions) {
    if (entry.IsMap() && stringOf(entry, "name") == kAllowTokenOverHttpExtension) return true;
  }
  return false;
}

}  // namespace

bool isPlainHttp(std::string_view server) {
  constexpr std::string_view kScheme = "http://";
  if (server.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(server[i])) != kScheme[i]) return false;
  }
  return true;
}

std::string Connection::describeCredentials() const {
  std::string text;
  if (!tokenFile.empty()) {
    text = "a bearer token from tokenFile " + tokenFile.string();
  } else if (!token.empty()) {
    text = "a bearer token (inline)";
  }
  if (!clientCertFile.empty() || !clientCertData.empty()) {
    text += std::string(text.empty() ? "" : " and ") + "a client certificate" +
            (clientCertFile.empty() ? " (inline)" : " " + clientCertFile.string());
  }
  if (!text.empty() && isPlainHttp(server) && (!token.empty() || !tokenFile.empty())) {
    text += " sent over plain http (allowed by " + std::string(kAllowTokenOverHttpExtension) + ")";
  }
  return text.empty() ? "no credentials" : text;
}

ConnectionResult parseKubeconfig(const std::string& yamlText, const std::filesystem::path& baseDir,
                                 const std::string& origin) {
  ConnectionResult result;
  try {
    const YAML::Node root = YAML::Load(yamlText);
    if (!root.IsMap()) throw std::runtime_error("expected a kubeconfig (a YAML mapping)");
    const std::string contextName = stringOf(root, "current-context");
    if (contextName.empty()) throw std::runtime_error("current-context: missing or empty");
    const YAML::Node context = findNamed(root, "contexts", contextName, "context");
    const std::string clusterName = stringOf(context, "cluster");
    const std::string userName = stringOf(context, "user");
    if (clusterName.empty()) throw std::runtime_error("contexts[" + contextName + "].context.cluster: missing");
    const YAML::Node cluster = findNamed(root, "clusters", clusterName, "cluster");

    Connection c;
    c.origin = origin + " (context " + contextName + ")";
    c.server = stringOf(cluster, "server");
    while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
    if (c.server.rfind("https://", 0) != 0 && c.server.rfind("http://", 0) != 0) {
      throw std::runtime_error("clusters[" + clusterName + "].cluster.server: \"" + c.server +
                               "\" is not an http(s) URL");
    }
    c.caFile = resolve(stringOf(cluster, "certificate-authority"), baseDir);
    if (const auto data = stringOf(cluster, "certificate-authority-data"); !data.empty()) {
      c.caData = decodeBase64(data, "clusters[" + clusterName + "].cluster.certificate-authority-data");
    }
    if (const YAML::Node skip = cluster["insecure-skip-tls-verify"]) c.insecureSkipTlsVerify = skip.as<bool>();
    c.allowTokenOverHttp = allowsTokenOverHttp(cluster);

    if (!userName.empty()) {
      const YAML::Node user = findNamed(root, "users", userName, "user");
      const std::string where = "users[" + userName + "].user.";
      c.token = stringOf(user, "token");
      c.tokenFile = resolve(stringOf(user, "tokenFile"), baseDir);
      c.clientCertFile = resolve(stringOf(user, "client-certificate"), baseDir);
      c.clientKeyFile = resolve(stringOf(user, "client-key"), baseDir);
      if (const auto d = stringOf(user, "client-certificate-data"); !d.empty()) {
        c.clientCertData = decodeBase64(d, where + "client-certificate-data");
      }
      if (const auto d = stringOf(user, "client-key-data"); !d.empty()) {
        c.clientKeyData = decodeBase64(d, where + "client-key-data");
      }
      const bool hasCert = !c.clientCertFile.empty() || !c.clientCertData.empty();
      const bool hasKey = !c.clientKeyFile.empty() || !c.clientKeyData.empty();
      if (hasCert != hasKey) throw std::runtime_error(where + "client-certificate and client-key: give both or neither");
      if (user["exec"] || user["auth-provider"]) {
        throw std::runtime_error(where + "exec and auth-provider credentials are not supported; use a token or a "
                                 "client certificate");
      }
      // A token over plain http can be read by anyone on the path, and reused against the
      // whole cluster: only with an explicit opt-in on the cluster.
      const bool hasToken = !c.token.empty() || !c.tokenFile.empty();
      if (hasToken && isPlainHttp(c.server) && !c.allowTokenOverHttp) {
        throw std::runtime_error("context " + contextName + ": clusters[" + clusterName + "].cluster.server \"" +
                                 c.server + "\" is plain http and " + where +
                                 (c.token.empty() ? "tokenFile" : "token") +
                                 " is a bearer token, which would be sent unencrypted; use https, or allow it "
                                 "explicitly with the cluster extension " + kAllowTokenOverHttpExtension);
      }
    }
    result.connection = std::move(c);
  } catch (const YAML::Exception& e) {
    result.error = origin + ": " + e.what();
  } catch (const std::exception& e) {
    result.error = origin + ": " + e.what();
  }
  return result;
}

ConnectionResult loadKubeconfig(const std::filesystem::path& path) {
  std::string text;
  try {
    text = readText(path);
  } catch (const std::exception& e) {
    return ConnectionResult{std::nullopt, std::string("kubeconfig ") + e.what()};
  }
  return parseKubeconfig(text, path.parent_path(), "kubeconfig " + path.string());
}

ConnectionResult inClusterConnection(const std::function<std::optional<std::string>(const char*)>& getenv,
                                     const std::filesystem::path& accountDir) {
  const auto host = getenv("KUBERNETES_SERVICE_HOST");
  const auto port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return ConnectionResult{std::nullopt,
                            "no kubeconfig given and not in a cluster (KUBERNETES_SERVICE_HOST and "
                            "KUBERNETES_SERVICE_PORT are not set); give clientConnection.kubeconfig, --kubeconfig "
                            "or servicesFile"};
  }
  Connection c;
  c.origin = "in-cluster";
  // An IPv6 host needs brackets in a URL.
  const bool ipv6 = host->find(':') != std::string::npos;
  c.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  c.tokenFile = accountDir / "token";
  c.caFile = accountDir / "ca.crt";
  std::error_code ec;
  if (!std::filesystem::exists(c.tokenFile, ec)) {
    return ConnectionResult{std::nullopt, "in-cluster: " + c.tokenFile.string() + " does not exist"};
  }
  return ConnectionResult{std::move(c), {}};
}

ConnectionResult resolveConnection(const std::filesystem::path& kubeconfig) {
  if (!kubeconfig.empty()) return loadKubeconfig(kubeconfig);
  return inClusterConnection([](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
  });
}

std::string currentToken(const Connection& connection) {
  if (connection.tokenFile.empty()) return connection.token;
  return trim(readText(connection.tokenFile));
}

}  // namespace nicproxy::k8s

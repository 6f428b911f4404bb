#pragma once
// Where the API server is and how to authenticate to it: from a kubeconfig file
// (YAML, read with yaml-cpp) or from the in-cluster settings a pod gets. Field names
// follow client-go's clientcmd; only the current context is used.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace nicproxy::k8s {

struct Connection {
  std::string server;                     // "https://10.0.0.1:6443", no trailing slash
  // TLS trust: a CA file or inline PEM; neither means the system store.
  std::filesystem::path caFile;
  std::string caData;                     // PEM (base64-decoded certificate-authority-data)
  bool insecureSkipTlsVerify = false;
  // Authentication: a bearer token, inline or from a file re-read on every request
  // (service-account tokens rotate); and/or a client certificate.
  std::string token;
  std::filesystem::path tokenFile;
  std::filesystem::path clientCertFile, clientKeyFile;
  std::string clientCertData, clientKeyData;  // PEM
  std::string origin;                     // "kubeconfig /path (context x)" or "in-cluster", for messages
  /// A bearer token may go to a plain http:// server: only when the kubeconfig's cluster
  /// says so with the extension kAllowTokenOverHttpExtension.
  bool allowTokenOverHttp = false;

  /// What authentication is configured, never the secret itself: "a bearer token from
  /// tokenFile /path", "a client certificate", "no credentials".
  std::string describeCredentials() const;
};

/// The cluster extension that lets a bearer token go over plain http (a test cluster on
/// loopback, a local proxy); without it such a kubeconfig is refused:
///   clusters: [{name: c, cluster: {server: "http://127.0.0.1:8080",
///               extensions: [{name: nicproxy.io/allow-token-over-http, extension: {}}]}}]
inline constexpr const char* kAllowTokenOverHttpExtension = "nicproxy.io/allow-token-over-http";

/// True for an "http://" server URL (any case), where a token would travel unencrypted.
bool isPlainHttp(std::string_view server);

struct ConnectionResult {
  std::optional<Connection> connection;
  std::string error;  // names the file and the field at fault
};

/// Reads a kubeconfig: current-context -> context -> cluster and user. Relative file
/// paths inside it resolve against the kubeconfig's folder, as kubectl does.
ConnectionResult loadKubeconfig(const std::filesystem::path& path);
ConnectionResult parseKubeconfig(const std::string& yamlText, const std::filesystem::path& baseDir,
                                 const std::string& origin);

/// In-cluster settings: KUBERNETES_SERVICE_HOST / _PORT from `getenv`, token and
/// ca.crt under `accountDir` (/var/run/secrets/kubernetes.io/serviceaccount).
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
ConnectionResult inClusterConnection(const std::function<std::optional<std::string>(const char*)>& getenv,
                                     const std::filesystem::path& accountDir = kServiceAccountDir);

/// kube-proxy's choice: the kubeconfig when one is given, else the in-cluster settings
/// from the process environment.
ConnectionResult resolveConnection(const std::filesystem::path& kubeconfig);

/// The bearer token to send now: `token`, or tokenFile's current content (trimmed).
/// Empty when there is none; throws std::runtime_error when tokenFile cannot be read.
std::string currentToken(const Connection& connection);

}  // namespace nicproxy::k8s

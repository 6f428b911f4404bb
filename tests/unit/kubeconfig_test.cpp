// Tests: control/k8s/kubeconfig (parseKubeconfig, loadKubeconfig, inClusterConnection,
// currentToken) and the --kubeconfig / servicesFile rules of control/config.
//   Kubeconfig.CurrentContextPicksClusterAndUser   inline CA data, token, relative paths
//   Kubeconfig.ClientCertificateDataAndInsecure
//   Kubeconfig.Errors                              missing context, no such cluster, bad base64, cert w/o key
//   Kubeconfig.TokenFileReReadWhenItRotates
//   Kubeconfig.InCluster                           env + service-account folder; outside a pod
//   Kubeconfig.CredentialsDescribedNeverShown
//   Kubeconfig.TokenOverPlainHttpNeedsTheExtension  http server + token/tokenFile -> error naming the kubeconfig,
//                                                   the context and the extension; with it -> accepted
//   KubeconfigFiles.InClusterIsAlwaysHttps          whatever KUBERNETES_SERVICE_* say
//   Kubeconfig.FlagConflictsWithServicesFile
//   Kubeconfig.GoDurations
//   Kubeconfig.GoDurationsNeverOverflow            huge numbers and long fractions of large units
// Addresses: API servers 10.0.0.1:6443 and 10.96.0.1:443 (never contacted).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "control/config.hpp"
#include "control/duration.hpp"
#include "control/k8s/kubeconfig.hpp"

namespace nicproxy::k8s {
namespace {

// base64 of "-----BEGIN CERTIFICATE-----\nCA\n" and of "CERT" / "KEY".
constexpr const char* kCaB64 = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg==";

std::string kubeconfig(const std::string& userBody, const std::string& clusterExtra = "") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
         "clusters:\n"
         "- name: other\n  cluster:\n    server: https://10.9.9.9:6443\n"
         "- name: main\n  cluster:\n    server: https://10.0.0.1:6443/\n" + clusterExtra +
         "contexts:\n"
         "- name: dev\n  context:\n    cluster: other\n    user: nobody\n"
         "- name: prod\n  context:\n    cluster: main\n    user: admin\n"
         "users:\n"
         "- name: admin\n  user:\n" + userBody;
}

TEST(Kubeconfig, CurrentContextPicksClusterAndUser) {
  const auto r = parseKubeconfig(kubeconfig("    tokenFile: secrets/token\n",
                                            std::string("    certificate-authority-data: ") + kCaB64 + "\n"),
                                 "/etc/kube", "kubeconfig /etc/kube/config");
  ASSERT_TRUE(r.connection) << r.error;
  EXPECT_EQ(r.connection->server, "https://10.0.0.1:6443");
  EXPECT_EQ(r.connection->caData, "-----BEGIN CERTIFICATE-----\nCA\n");
  EXPECT_EQ(r.connection->tokenFile, "/etc/kube/secrets/token");
  EXPECT_FALSE(r.connection->insecureSkipTlsVerify);
  EXPECT_EQ(r.connection->origin, "kubeconfig /etc/kube/config (context prod)");

  const auto file = parseKubeconfig(kubeconfig("    token: abc\n", "    certificate-authority: ca.crt\n"), "/k", "k");
  ASSERT_TRUE(file.connection) << file.error;
  EXPECT_EQ(file.connection->caFile, "/k/ca.crt");
  EXPECT_EQ(file.connection->token, "abc");
}

TEST(Kubeconfig, ClientCertificateDataAndInsecure) {
  const auto r = parseKubeconfig(kubeconfig("    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n",
                                            "    insecure-skip-tls-verify: true\n"),
                                 "/k", "k");
  ASSERT_TRUE(r.connection) << r.error;
  EXPECT_EQ(r.connection->clientCertData, "CERT");
  EXPECT_EQ(r.connection->clientKeyData, "KEY");
  EXPECT_TRUE(r.connection->insecureSkipTlsVerify);
  const auto files = parseKubeconfig(kubeconfig("    client-certificate: /c.pem\n    client-key: k.pem\n"), "/k", "k");
  ASSERT_TRUE(files.connection) << files.error;
  EXPECT_EQ(files.connection->clientCertFile, "/c.pem");
  EXPECT_EQ(files.connection->clientKeyFile, "/k/k.pem");
}

TEST(Kubeconfig, Errors) {
  struct Case {
    std::string yaml, error;
  };
  const std::vector<Case> cases{
      {"clusters: []\n", "k: current-context: missing or empty"},
      {"current-context: nope\ncontexts: []\n", "k: contexts: no entry named \"nope\""},
      {kubeconfig("    token: x\n", "    certificate-authority-data: '!!!'\n"),
       "k: clusters[main].cluster.certificate-authority-data: not valid base64"},
      // Unpadded: decoded into a buffer sized for whole quads, it overflowed (fuzzer).
      {kubeconfig("    client-certificate-data: Q0VSVA\n    client-key-data: S0VZ\n"),
       "k: users[admin].user.client-certificate-data: not valid base64"},
      {kubeconfig("    client-certificate: /c.pem\n"),
       "k: users[admin].user.client-certificate and client-key: give both or neither"},
      {kubeconfig("    exec:\n      command: aws\n"),
       "k: users[admin].user.exec and auth-provider credentials are not supported; use a token or a client certificate"},
      {"current-context: a\ncontexts:\n- name: a\n  context:\n    cluster: c\nclusters:\n- name: c\n  cluster:\n"
       "    server: 10.0.0.1\n",
       "k: clusters[c].cluster.server: \"10.0.0.1\" is not an http(s) URL"},
      {"key: [unclosed\n", ""},
  };
  for (const auto& c : cases) {
    const auto r = parseKubeconfig(c.yaml, "/k", "k");
    EXPECT_FALSE(r.connection) << c.yaml;
    if (c.error.empty()) {
      EXPECT_EQ(r.error.rfind("k: ", 0), 0u) << r.error;
    } else {
      EXPECT_EQ(r.error, c.error);
    }
  }
  const auto missing = loadKubeconfig("/nonexistent/kubeconfig");
  EXPECT_EQ(missing.error, "kubeconfig /nonexistent/kubeconfig: cannot be read");
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/nicproxy-kubeconfig.XXXXXX";
    dir_ = mkdtemp(pattern);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::filesystem::path dir_;
};

using KubeconfigFiles = TempDir;

TEST_F(KubeconfigFiles, TokenFileReReadWhenItRotates) {
  write("token", "first-token\n");
  write("config", kubeconfig("    tokenFile: token\n"));
  const auto r = loadKubeconfig(dir_ / "config");
  ASSERT_TRUE(r.connection) << r.error;
  EXPECT_EQ(currentToken(*r.connection), "first-token");
  write("token", "second-token");
  EXPECT_EQ(currentToken(*r.connection), "second-token");
  std::filesystem::remove(dir_ / "token");
  EXPECT_THROW(currentToken(*r.connection), std::runtime_error);
}

TEST_F(KubeconfigFiles, InCluster) {
  write("token", "sa-token");
  write("ca.crt", "PEM");
  const auto env = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "KUBERNETES_SERVICE_HOST") return "10.96.0.1";
    if (std::string(name) == "KUBERNETES_SERVICE_PORT") return "443";
    return std::nullopt;
  };
  const auto r = inClusterConnection(env, dir_);
  ASSERT_TRUE(r.connection) << r.error;
  EXPECT_EQ(r.connection->server, "https://10.96.0.1:443");
  EXPECT_EQ(r.connection->caFile, dir_ / "ca.crt");
  EXPECT_EQ(currentToken(*r.connection), "sa-token");

  EXPECT_FALSE(r.connection->allowTokenOverHttp);

  const auto outside = inClusterConnection([](const char*) { return std::optional<std::string>(); }, dir_);
  EXPECT_FALSE(outside.connection);
  EXPECT_NE(outside.error.find("KUBERNETES_SERVICE_HOST"), std::string::npos) << outside.error;
}

// The kubeconfig above with the main cluster's server replaced.
std::string withServer(std::string yaml, const std::string& server) {
  const std::string from = "server: https://10.0.0.1:6443/";
  yaml.replace(yaml.find(from), from.size(), "server: " + server);
  return yaml;
}

TEST(Kubeconfig, TokenOverPlainHttpNeedsTheExtension) {
  const std::string extension = "    extensions:\n    - name: nicproxy.io/allow-token-over-http\n      extension: {}\n";
  const auto refused = parseKubeconfig(withServer(kubeconfig("    token: abc\n"), "http://10.0.0.1:8080"), "/k",
                                       "kubeconfig /k/config");
  EXPECT_FALSE(refused.connection);
  EXPECT_EQ(refused.error,
            "kubeconfig /k/config: context prod: clusters[main].cluster.server \"http://10.0.0.1:8080\" is plain http "
            "and users[admin].user.token is a bearer token, which would be sent unencrypted; use https, or allow it "
            "explicitly with the cluster extension nicproxy.io/allow-token-over-http");
  // A token file is a token too.
  const auto file = parseKubeconfig(withServer(kubeconfig("    tokenFile: t\n"), "http://10.0.0.1:8080"), "/k", "k");
  EXPECT_FALSE(file.connection);
  EXPECT_NE(file.error.find("users[admin].user.tokenFile is a bearer token"), std::string::npos) << file.error;

  const auto allowed =
      parseKubeconfig(withServer(kubeconfig("    token: abc\n", extension), "http://10.0.0.1:8080"), "/k", "k");
  ASSERT_TRUE(allowed.connection) << allowed.error;
  EXPECT_TRUE(allowed.connection->allowTokenOverHttp);
  EXPECT_EQ(allowed.connection->describeCredentials(),
            "a bearer token (inline) sent over plain http (allowed by nicproxy.io/allow-token-over-http)");

  // Another extension is no opt-in; no token over http, or a token over https, needs none.
  const auto otherExtension = parseKubeconfig(
      withServer(kubeconfig("    token: abc\n", "    extensions:\n    - name: example.com/x\n      extension: {}\n"),
                 "http://10.0.0.1:8080"),
      "/k", "k");
  EXPECT_FALSE(otherExtension.connection);
  const auto noToken = parseKubeconfig(withServer(kubeconfig("    username: a\n"), "http://10.0.0.1:8080"), "/k", "k");
  ASSERT_TRUE(noToken.connection) << noToken.error;
  EXPECT_FALSE(noToken.connection->allowTokenOverHttp);
  const auto https = parseKubeconfig(kubeconfig("    token: abc\n"), "/k", "k");
  ASSERT_TRUE(https.connection) << https.error;
  EXPECT_FALSE(https.connection->allowTokenOverHttp);
}

TEST_F(KubeconfigFiles, InClusterIsAlwaysHttps) {
  // The service-account token goes only to https://, whatever the environment holds.
  write("token", "sa-token");
  const auto env = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "KUBERNETES_SERVICE_HOST") return "fd00::1";
    if (std::string(name) == "KUBERNETES_SERVICE_PORT") return "6443";
    return std::nullopt;
  };
  const auto r = inClusterConnection(env, dir_);
  ASSERT_TRUE(r.connection) << r.error;
  EXPECT_EQ(r.connection->server, "https://[fd00::1]:6443");
  EXPECT_FALSE(isPlainHttp(r.connection->server));
  EXPECT_FALSE(r.connection->allowTokenOverHttp);
}

TEST(Kubeconfig, CredentialsDescribedNeverShown) {
  Connection c;
  c.token = "very-secret";
  EXPECT_EQ(c.describeCredentials(), "a bearer token (inline)");
  c.tokenFile = "/t";
  c.clientCertFile = "/c.pem";
  EXPECT_EQ(c.describeCredentials(), "a bearer token from tokenFile /t and a client certificate /c.pem");
  EXPECT_EQ(Connection{}.describeCredentials(), "no credentials");
}

TEST(Kubeconfig, FlagConflictsWithServicesFile) {
  const std::string base = R"("nodeName": "n", "dpdk": {"ports": [{"device": "net_null0", "address": "10.0.0.1/24"}]})";
  auto withFile = parseConfig("{" + base + R"(, "servicesFile": "s.json"})", "/etc");
  ASSERT_TRUE(withFile.ok());
  applyKubeconfigFlag(withFile, "/root/.kube/config");
  EXPECT_FALSE(withFile.ok());
  ASSERT_EQ(withFile.errors.size(), 1u);
  EXPECT_EQ(withFile.errors[0],
            "servicesFile: cannot be used together with an API server (--kubeconfig /root/.kube/config); choose one source");

  auto apiOnly = parseConfig("{" + base + R"(, "clientConnection": {"kubeconfig": "kube.yaml", "qps": 5},
                                  "syncPeriod": "1m30s", "minSyncPeriod": "250ms"})",
                             "/etc/nicproxy");
  ASSERT_TRUE(apiOnly.ok()) << (apiOnly.errors.empty() ? "" : apiOnly.errors[0]);
  EXPECT_TRUE(apiOnly.config->usesApiServer());
  EXPECT_EQ(apiOnly.config->clientConnection.kubeconfig, "/etc/nicproxy/kube.yaml");
  EXPECT_EQ(apiOnly.config->syncPeriod, std::chrono::seconds(90));
  EXPECT_EQ(apiOnly.config->minSyncPeriod, std::chrono::milliseconds(250));
}

TEST(Kubeconfig, GoDurations) {
  EXPECT_EQ(parseGoDuration("1s"), std::chrono::milliseconds(1000));
  EXPECT_EQ(parseGoDuration("30s"), std::chrono::milliseconds(30000));
  EXPECT_EQ(parseGoDuration("1h2m3s"), std::chrono::milliseconds(3723000));
  EXPECT_EQ(parseGoDuration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(parseGoDuration("0"), std::chrono::milliseconds(0));
  EXPECT_EQ(parseGoDuration("500ms"), std::chrono::milliseconds(500));
  for (const char* bad : {"", "30", "s", "-1s", "1d", "1s2"}) EXPECT_FALSE(parseGoDuration(bad)) << bad;
}

// Found by the config fuzzer (tests/fuzz, docs/fuzzing.md): the digits and the fraction
// overflowed int64 before the bound was checked, so a huge value came out as another one.
TEST(Kubeconfig, GoDurationsNeverOverflow) {
  for (const char* huge : {"99999999999999999999s", "9223372036854775807ns", "2562047h", "1h99999999999999999999ns"}) {
    EXPECT_FALSE(parseGoDuration(huge)) << huge;
  }
  // As Go's time.ParseDuration: 1h + 0.999999999 x 3600 s, and 123.456789 ns truncated.
  EXPECT_EQ(parseGoDuration("1.999999999h"), std::chrono::nanoseconds(7'199'999'996'400));
  EXPECT_EQ(parseGoDuration("0.123456789us"), std::chrono::nanoseconds(123));
  EXPECT_EQ(parseGoDuration("1.5h"), std::chrono::minutes(90));
}

}  // namespace
}  // namespace nicproxy::k8s

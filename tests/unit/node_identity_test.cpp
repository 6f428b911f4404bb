// Tests: control/node_identity (resolveNodeName): which source names the node, how the
// name is normalised (kube-proxy's GetHostname), and the errors.
//   NodeIdentity.Order                  flag, then file, then NODE_NAME, then hostname; later ones not asked
//   NodeIdentity.NormalisedAsKubeProxy  trimmed and lowercased, whatever the source
//   NodeIdentity.BlankSourceIsAnError   a source that is set but blank names itself
//   NodeIdentity.EmptyEnvFallsThrough   NODE_NAME="" counts as unset (a DaemonSet's unset fieldRef)
//   NodeIdentity.NoNameAtAll            no source, hostname unreadable or empty
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "control/node_identity.hpp"

namespace nicproxy {
namespace {

// Sources whose functions count their calls, so a test sees what was asked.
struct CountingSources {
  std::optional<std::string> env;
  std::optional<std::string> host = "host-1";
  int envCalls = 0;
  int hostCalls = 0;

  NodeNameSources with(std::string flag, std::string file) {
    NodeNameSources s;
    s.hostnameOverride = std::move(flag);
    s.fileNodeName = std::move(file);
    s.nodeNameEnv = [this] { ++envCalls; return env; };
    s.hostname = [this] { ++hostCalls; return host; };
    return s;
  }
};

TEST(NodeIdentity, Order) {
  const struct {
    const char* description;
    const char* flag;
    const char* file;
    std::optional<std::string> env;
    const char* name;
    const char* origin;
  } cases[] = {
      {"flag over everything", "node-flag", "node-file", "node-env", "node-flag", "--hostname-override"},
      {"file over NODE_NAME", "", "node-file", "node-env", "node-file", "nodeName in the config file"},
      {"NODE_NAME over the hostname", "", "", "node-env", "node-env", "NODE_NAME"},
      {"the hostname last", "", "", std::nullopt, "host-1", "the hostname"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    CountingSources sources;
    sources.env = c.env;
    const NodeName node = resolveNodeName(sources.with(c.flag, c.file));
    ASSERT_TRUE(node.ok()) << node.error;
    EXPECT_EQ(node.name, c.name);
    EXPECT_EQ(node.origin, c.origin);
    // Nothing after the deciding source is read.
    const bool byEnvOrLater = std::string(c.flag).empty() && std::string(c.file).empty();
    EXPECT_EQ(sources.envCalls, byEnvOrLater ? 1 : 0);
    EXPECT_EQ(sources.hostCalls, node.origin == std::string("the hostname") ? 1 : 0);
  }
}

TEST(NodeIdentity, NormalisedAsKubeProxy) {
  CountingSources sources;
  EXPECT_EQ(resolveNodeName(sources.with("  Node-A.Example.COM\n", "")).name, "node-a.example.com");
  EXPECT_EQ(resolveNodeName(sources.with("", "\tEDGE-1 ")).name, "edge-1");
  sources.env = " Worker-7 ";
  EXPECT_EQ(resolveNodeName(sources.with("", "")).name, "worker-7");
  sources.env.reset();
  sources.host = "BUILD-Host\n";
  EXPECT_EQ(resolveNodeName(sources.with("", "")).name, "build-host");
  EXPECT_EQ(normalizeNodeName(" \t\r\n"), "");
}

TEST(NodeIdentity, BlankSourceIsAnError) {
  CountingSources sources;
  sources.env = "node-env";
  NodeName node = resolveNodeName(sources.with("   ", "node-file"));
  EXPECT_FALSE(node.ok());
  EXPECT_EQ(node.error, "--hostname-override is blank: the node name would be empty");
  EXPECT_TRUE(node.name.empty());

  node = resolveNodeName(sources.with("", " \t"));
  EXPECT_EQ(node.error, "nodeName in the config file is blank: the node name would be empty");

  sources.env = "  ";
  node = resolveNodeName(sources.with("", ""));
  EXPECT_EQ(node.error, "NODE_NAME is blank: the node name would be empty");
  EXPECT_EQ(sources.hostCalls, 0);
}

TEST(NodeIdentity, EmptyEnvFallsThrough) {
  CountingSources sources;
  sources.env = "";
  const NodeName node = resolveNodeName(sources.with("", ""));
  ASSERT_TRUE(node.ok()) << node.error;
  EXPECT_EQ(node.name, "host-1");
  EXPECT_EQ(node.origin, "the hostname");
}

TEST(NodeIdentity, NoNameAtAll) {
  CountingSources sources;
  sources.host.reset();
  NodeName node = resolveNodeName(sources.with("", ""));
  EXPECT_EQ(node.error,
            "no node name: no --hostname-override, no nodeName in the config file, no NODE_NAME, and the hostname "
            "cannot be read");
  sources.host = " ";
  node = resolveNodeName(sources.with("", ""));
  EXPECT_EQ(node.error,
            "no node name: no --hostname-override, no nodeName in the config file, no NODE_NAME, and the hostname "
            "is empty");
  EXPECT_TRUE(node.name.empty());
}

}  // namespace
}  // namespace nicproxy

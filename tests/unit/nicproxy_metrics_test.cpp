// Tests: control/nicproxy_metrics's nicproxy_build_info (the API source's metrics are
// tested against the fake API server in api_source_test.cpp).
#include <gtest/gtest.h>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "control/nicproxy_metrics.hpp"

namespace nicproxy {
namespace {

TEST(BuildInfo, OneConstantSeriesLabeledWithVersionAndMode) {
  prometheus::Registry registry;
  addBuildInfo(registry, "0.1.0", "nftables");
  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_NE(text.find("# TYPE nicproxy_build_info gauge\n"), std::string::npos) << text;
  EXPECT_NE(text.find("nicproxy_build_info{mode=\"nftables\",version=\"0.1.0\"} 1\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace nicproxy

// docs/drop-reasons.md lists every drop reason the data path counts, with what an
// operator should do about it: this test fails when a reason is added to the X-macro
// (dpdk_app/counters.hpp) without a row there, or when a row names a reason that no longer
// exists.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "dpdk_app/counters.hpp"

namespace nicproxy::testing {
namespace {

std::string readDoc() {
  std::ifstream in(std::string(NICPROXY_SOURCE_ROOT) + "/docs/drop-reasons.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(DropReasonsDoc, EveryReasonHasARowAndEveryRowAReason) {
  const std::string doc = readDoc();
  ASSERT_FALSE(doc.empty()) << "docs/drop-reasons.md not found under " << NICPROXY_SOURCE_ROOT;
  std::set<std::string> documented;
  const std::regex row(R"(\n\| `([a-z0-9_]+)` \|)");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), row); it != std::sregex_iterator(); ++it) {
    documented.insert((*it)[1].str());
  }
  std::set<std::string> reasons;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string name = dropReasonName(static_cast<DropReason>(i));
    reasons.insert(name);
    EXPECT_EQ(documented.count(name), 1u) << name << " has no row in docs/drop-reasons.md";
  }
  for (const std::string& name : documented) {
    EXPECT_EQ(reasons.count(name), 1u) << "docs/drop-reasons.md documents " << name << ", which is no drop reason";
  }
}

}  // namespace
}  // namespace nicproxy::testing

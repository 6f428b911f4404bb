// Tests: control/k8s/watch_stream (WatchStreamParser, decodeWatchEvent).
//   WatchStream.EveryCutOfTwoEventsGivesBoth     fed in two pieces at every byte offset
//   WatchStream.ByteByByte
//   WatchStream.ManyEventsInOneChunkAndCrlf
//   WatchStream.BadLinesReportedAndSkipped       not JSON, no object, unknown type
//   WatchStream.OverlongLineDroppedStreamGoesOn
//   WatchStream.HandlerStops
#include <gtest/gtest.h>

#include "control/k8s/watch_stream.hpp"

namespace nicproxy::k8s {
namespace {

const std::string kA = R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}})";
const std::string kB = R"({"type":"DELETED","object":{"metadata":{"name":"b","resourceVersion":"6"}}})";

struct Collected {
  std::vector<std::string> events;  // "TYPE name"
  std::vector<std::string> bad;
};

bool feedAll(WatchStreamParser& parser, std::string_view bytes, Collected& out) {
  return parser.feed(
      bytes,
      [&](WatchEvent&& e) {
        out.events.push_back(std::string(watchEventTypeName(e.type)) + " " +
                             std::string(e.object.at("metadata").at("name").as_string().c_str()));
        return true;
      },
      [&](const std::string& why) { out.bad.push_back(why); });
}

TEST(WatchStream, EveryCutOfTwoEventsGivesBoth) {
  const std::string stream = kA + "\n" + kB + "\n";
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    WatchStreamParser parser;
    Collected out;
    feedAll(parser, std::string_view(stream).substr(0, cut), out);
    feedAll(parser, std::string_view(stream).substr(cut), out);
    EXPECT_EQ(out.events, (std::vector<std::string>{"ADDED a", "DELETED b"})) << "cut at " << cut;
    EXPECT_TRUE(out.bad.empty());
    EXPECT_EQ(parser.pending(), 0u);
  }
}

TEST(WatchStream, ByteByByte) {
  const std::string stream = kA + "\n" + kB + "\n";
  WatchStreamParser parser;
  Collected out;
  for (char c : stream) feedAll(parser, std::string_view(&c, 1), out);
  EXPECT_EQ(out.events, (std::vector<std::string>{"ADDED a", "DELETED b"}));
}

TEST(WatchStream, ManyEventsInOneChunkAndCrlf) {
  WatchStreamParser parser;
  Collected out;
  feedAll(parser, kA + "\r\n\n" + kB + "\n" + kA + "\n", out);
  EXPECT_EQ(out.events, (std::vector<std::string>{"ADDED a", "DELETED b", "ADDED a"}));
  EXPECT_TRUE(out.bad.empty());
}

TEST(WatchStream, BadLinesReportedAndSkipped) {
  WatchStreamParser parser;
  Collected out;
  feedAll(parser, "garbage\n" + kA + "\n{\"type\":\"ADDED\",\"object\":5}\n{\"type\":\"SYNC\",\"object\":{}}\n" + kB + "\n",
          out);
  EXPECT_EQ(out.events, (std::vector<std::string>{"ADDED a", "DELETED b"}));
  ASSERT_EQ(out.bad.size(), 3u);
  EXPECT_NE(out.bad[0].find("not JSON"), std::string::npos) << out.bad[0];
  EXPECT_NE(out.bad[0].find("garbage"), std::string::npos) << out.bad[0];
  EXPECT_NE(out.bad[1].find("not a watch event"), std::string::npos) << out.bad[1];
  EXPECT_NE(out.bad[2].find("unknown event type \"SYNC\""), std::string::npos) << out.bad[2];
}

TEST(WatchStream, OverlongLineDroppedStreamGoesOn) {
  WatchStreamParser parser(64);
  Collected out;
  feedAll(parser, std::string(50, 'x'), out);
  feedAll(parser, std::string(50, 'y'), out);  // now over the limit: reported once
  feedAll(parser, std::string(50, 'z') + "\n", out);
  feedAll(parser, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"c\"}}}\n", out);
  EXPECT_EQ(out.events, (std::vector<std::string>{"ADDED c"}));
  ASSERT_EQ(out.bad.size(), 1u);
  EXPECT_NE(out.bad[0].find("longer than 64 bytes"), std::string::npos) << out.bad[0];
}

TEST(WatchStream, HandlerStops) {
  WatchStreamParser parser;
  int calls = 0;
  const bool goOn = parser.feed(kA + "\n" + kB + "\n", [&](WatchEvent&&) { return ++calls < 1; },
                                [](const std::string&) {});
  EXPECT_FALSE(goOn);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace nicproxy::k8s

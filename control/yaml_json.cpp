#include "control/yaml_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace nicproxy::json {
namespace {

constexpr int kMaxDepth = 64;  // far beyond any configuration; stops runaway nesting

// YAML 1.2 core schema (yaml.org/spec/1.2.2, 10.3.2), the plain scalars that are not strings.
const std::regex kDecimal("[-+]?[0-9]+");
const std::regex kOctal("0o[0-7]+");
const std::regex kHex("0x[0-9a-fA-F]+");
const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
const std::regex kInfinity(R"([-+]?\.(inf|Inf|INF))");
const std::regex kNotANumber(R"(\.(nan|NaN|NAN))");

// An integer too large for int64 stays exact as uint64 when it can (ObjectReader then
// says "too large"), else it becomes a double.
boost::json::value integerValue(std::string_view digits, int base, bool negative) {
  uint64_t magnitude = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec == std::errc() && end == digits.data() + digits.size()) {
    constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (!negative && magnitude <= kInt64Max) return static_cast<int64_t>(magnitude);
    if (negative && magnitude <= kInt64Max + 1) return static_cast<int64_t>(0 - magnitude);
    if (!negative) return magnitude;
  }
  const double value = std::strtod(std::string(digits).c_str(), nullptr);
  return negative ? -value : value;
}

boost::json::value resolvePlain(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (std::regex_match(text, kDecimal)) {
    const bool negative = text[0] == '-';
    const size_t skip = (text[0] == '-' || text[0] == '+') ? 1 : 0;
    return integerValue(std::string_view(text).substr(skip), 10, negative);
  }
  if (std::regex_match(text, kOctal)) return integerValue(std::string_view(text).substr(2), 8, false);
  if (std::regex_match(text, kHex)) return integerValue(std::string_view(text).substr(2), 16, false);
  if (std::regex_match(text, kFloat)) return std::strtod(text.c_str(), nullptr);
  if (std::regex_match(text, kInfinity)) {
    return text[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (std::regex_match(text, kNotANumber)) return std::numeric_limits<double>::quiet_NaN();
  return boost::json::string(text);
}

class Converter {
 public:
  explicit Converter(Errors& errors) : errors_(errors) {}

  boost::json::value convert(const YAML::Node& node, const std::string& path, int depth) {
    if (depth > kMaxDepth) {
      errors_.push_back((path.empty() ? std::string("the document") : path) + ": nested too deeply");
      return nullptr;
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        // yaml-cpp tags a plain scalar "?" (to be resolved by the schema); quoted and block
        // scalars are "!", and an explicit tag (!!str) is kept: those are strings.
        if (node.Tag() == "?") return resolvePlain(node.Scalar());
        return boost::json::string(node.Scalar());
      case YAML::NodeType::Sequence: {
        boost::json::array array;
        for (size_t i = 0; i < node.size(); ++i) array.push_back(convert(node[i], indexPath(path, i), depth + 1));
        return array;
      }
      case YAML::NodeType::Map: {
        boost::json::object object;
        std::set<std::string> seen;
        for (const auto& entry : node) {
          if (!entry.first.IsScalar()) {
            errors_.push_back(joinPath(path, "?") + ": a key must be a plain string, not a list or a mapping");
            continue;
          }
          const std::string& key = entry.first.Scalar();
          const std::string keyPath = joinPath(path, key);
          if (!seen.insert(key).second) {
            errors_.push_back(keyPath + ": duplicate key (an object keeps only its last value; remove the others)");
          }
          object[key] = convert(entry.second, keyPath, depth + 1);
        }
        return object;
      }
    }
    return nullptr;
  }

 private:
  Errors& errors_;
};

bool looksLikeJson(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
}

// A string that reads back as itself when written plain: not a null, bool or number by
// the core schema. yaml-cpp quotes on its own what YAML syntax forbids plain (": ", "#"...).
bool readsBackAsString(const std::string& text) { return resolvePlain(text).is_string(); }

void emit(YAML::Emitter& out, const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::null: out << YAML::Null; break;
    case boost::json::kind::bool_: out << value.get_bool(); break;
    case boost::json::kind::int64: out << value.get_int64(); break;
    case boost::json::kind::uint64: out << value.get_uint64(); break;
    case boost::json::kind::double_: out << value.get_double(); break;
    case boost::json::kind::string: {
      const std::string text(value.get_string());
      if (readsBackAsString(text)) {
        out << text;
      } else {
        out << YAML::DoubleQuoted << text;
      }
      break;
    }
    case boost::json::kind::array: {
      const auto& array = value.get_array();
      if (array.empty()) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& element : array) emit(out, element);
      out << YAML::EndSeq;
      break;
    }
    case boost::json::kind::object: {
      const auto& object = value.get_object();
      if (object.empty()) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& entry : object) {
        out << YAML::Key << std::string(entry.key()) << YAML::Value;
        emit(out, entry.value());
      }
      out << YAML::EndMap;
      break;
    }
  }
}

// Documents in a YAML stream, counting at most two. yaml-cpp 0.7's LoadAll() loops for
// ever, allocating, on some malformed input (a line that starts with ",": its parser then
// reports one empty document after another; fixed upstream after 0.8, yaml-cpp PR 1319).
// So the first document is read with Load(), which asks the parser once, and this pass
// asks it at most twice, counting only documents with content.
class DocumentCounter : public YAML::EventHandler {
 public:
  bool sawContent() const { return content_; }
  void reset() { content_ = false; }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { content_ = true; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override { content_ = true; }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    content_ = true;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    content_ = true;
  }
  void OnMapEnd() override {}

 private:
  bool content_ = false;
};

size_t countDocuments(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentCounter counter;
  size_t documents = 0;
  for (int asked = 0; asked < 2 && parser.HandleNextDocument(counter); ++asked) {
    if (asked == 0 || counter.sawContent()) ++documents;
    counter.reset();
  }
  return documents;
}

}  // namespace

std::optional<boost::json::value> parseYaml(std::string_view text, Errors& errors) {
  const std::string input(text);
  YAML::Node document;
  size_t documents = 0;
  try {
    documents = countDocuments(input);
    document = YAML::Load(input);
  } catch (const YAML::Exception& e) {
    errors.push_back("invalid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                     std::to_string(e.mark.column + 1) + ": " + e.msg);
    return std::nullopt;
  }
  if (documents > 1) {
    errors.push_back("more than one YAML document in one file; give nicproxy the KubeProxyConfiguration document alone");
    return std::nullopt;
  }
  if (documents == 0) return boost::json::value(nullptr);
  return Converter(errors).convert(document, "", 0);
}

std::optional<boost::json::value> parseJsonOrYaml(std::string_view text, Errors& errors) {
  if (!looksLikeJson(text)) return parseYaml(text, errors);
  std::string error;
  auto value = parse(text, error);
  if (!value) {
    errors.push_back(error);
    return std::nullopt;
  }
  const Errors duplicates = duplicateKeys(text);
  errors.insert(errors.end(), duplicates.begin(), duplicates.end());
  return value;
}

std::string toYaml(const boost::json::value& value) {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);  // "null", as kube-proxy writes it, rather than "~"
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

}  // namespace nicproxy::json

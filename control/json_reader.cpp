#include "control/json_reader.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>

namespace nicproxy::json {
namespace {

constexpr size_t kMaxShown = 60;  // keep a long string value from flooding the message

std::string typeMismatch(std::string_view expected, const boost::json::value& value) {
  return "expected " + std::string(expected) + ", got " + describe(value);
}

// A boost::json::basic_parser handler that builds nothing: it follows the key path
// and remembers the keys seen in each open object, to find those given twice.
class DuplicateKeyFinder {
 public:
  static constexpr size_t max_array_size = static_cast<size_t>(-1);
  static constexpr size_t max_object_size = static_cast<size_t>(-1);
  static constexpr size_t max_string_size = static_cast<size_t>(-1);
  static constexpr size_t max_key_size = static_cast<size_t>(-1);
  using string_view = boost::json::string_view;
  using error_code = boost::json::error_code;

  Errors errors;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return open(false); }
  bool on_object_end(size_t, error_code&) { return close(); }
  bool on_array_begin(error_code&) { return open(true); }
  bool on_array_end(size_t, error_code&) { return close(); }
  bool on_key_part(string_view s, size_t, error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(string_view s, size_t, error_code&) {
    key_.append(s.data(), s.size());
    Frame& frame = frames_.back();
    const bool repeated = !frame.keys.insert(key_).second;
    frame.key = std::move(key_);
    key_.clear();
    if (repeated) errors.push_back(path() + ": duplicate key (an object keeps only its last value; remove the others)");
    return true;
  }
  bool on_string_part(string_view, size_t, error_code&) { return true; }
  bool on_string(string_view, size_t, error_code&) { return valueDone(); }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(int64_t, string_view, error_code&) { return valueDone(); }
  bool on_uint64(uint64_t, string_view, error_code&) { return valueDone(); }
  bool on_double(double, string_view, error_code&) { return valueDone(); }
  bool on_bool(bool, error_code&) { return valueDone(); }
  bool on_null(error_code&) { return valueDone(); }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

 private:
  struct Frame {
    bool isArray = false;
    size_t index = 0;                           // arrays: the element being read
    std::set<std::string, std::less<>> keys;    // objects: every key so far
    std::string key;                            // objects: the key being read
  };

  bool open(bool isArray) {
    frames_.push_back(Frame{isArray, 0, {}, {}});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return valueDone();
  }
  bool valueDone() {
    if (!frames_.empty() && frames_.back().isArray) ++frames_.back().index;
    return true;
  }
  std::string path() const {
    std::string text;
    for (const Frame& frame : frames_) text = frame.isArray ? indexPath(text, frame.index) : joinPath(text, frame.key);
    return text;
  }

  std::vector<Frame> frames_;
  std::string key_;
};

}  // namespace

Errors duplicateKeys(std::string_view text) {
  boost::json::basic_parser<DuplicateKeyFinder> parser{boost::json::parse_options{}};
  boost::system::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  if (ec) return {};  // not JSON: parse() says where
  return std::move(parser.handler().errors);
}

std::optional<std::string> readFile(const std::filesystem::path& path, std::string& error) {
  // stdio rather than iostreams: it reports why (errno), which an operator needs.
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    error = std::string("cannot read: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  char buffer[65536];
  size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, count);
  if (std::ferror(file.get()) != 0) {
    error = std::string("cannot read: ") + std::strerror(errno);
    return std::nullopt;
  }
  return text;
}

std::string describe(const boost::json::value& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_double()) {  // Boost writes 1.5 as "1.5E0"; show it as the user wrote it
    std::array<char, 32> text{};
    std::snprintf(text.data(), text.size(), "%g", value.as_double());
    return text.data();
  }
  std::string text = boost::json::serialize(value);
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return text;
}

std::string quote(std::string_view text) {
  return boost::json::serialize(boost::json::string_view(text.data(), text.size()));
}

std::optional<boost::json::value> parse(std::string_view text, std::string& error) {
  boost::json::parser parser;
  boost::system::error_code ec;
  const size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) return parser.release();
  // The parser stops at the offending character; turn the offset into what an editor shows.
  const std::string_view before = text.substr(0, std::min(consumed, text.size()));
  const size_t line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t lineStart = before.rfind('\n');
  const size_t column = 1 + (lineStart == std::string_view::npos ? before.size() : before.size() - lineStart - 1);
  error = "invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) + ": " +
          ec.message();
  return std::nullopt;
}

std::string joinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

std::string indexPath(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::optional<std::string> asString(const boost::json::value& value, const std::string& path, Errors& errors) {
  if (const auto* text = value.if_string()) return std::string(text->data(), text->size());
  errors.push_back(path + ": " + typeMismatch("a string", value));
  return std::nullopt;
}

std::optional<int64_t> asInteger(const boost::json::value& value, const std::string& path, Errors& errors,
                                 std::string_view expected) {
  if (const auto* number = value.if_int64()) return *number;
  if (value.is_uint64()) {
    errors.push_back(path + ": " + describe(value) + " is too large");
    return std::nullopt;
  }
  errors.push_back(path + ": " + typeMismatch(expected, value));
  return std::nullopt;
}

const boost::json::object* asObject(const boost::json::value& value, const std::string& path, Errors& errors) {
  if (const auto* object = value.if_object()) return object;
  errors.push_back(path + ": " + typeMismatch("an object", value));
  return nullptr;
}

const boost::json::array* asArray(const boost::json::value& value, const std::string& path, Errors& errors) {
  if (const auto* array = value.if_array()) return array;
  errors.push_back(path + ": " + typeMismatch("an array", value));
  return nullptr;
}

ObjectReader::ObjectReader(const boost::json::object& object, std::string path, Errors& errors, Nulls nulls)
    : object_(object), path_(std::move(path)), errors_(errors), nulls_(nulls) {}

void ObjectReader::error(std::string_view key, std::string_view message) {
  errors_.push_back(pathOf(key) + ": " + std::string(message));
}

const boost::json::value* ObjectReader::get(std::string_view key) {
  known_.emplace(key);
  const auto* value = object_.if_contains(boost::json::string_view(key.data(), key.size()));
  if (value != nullptr && value->is_null() && (nulls_ == Nulls::Absent || nullable_.count(key) != 0)) return nullptr;
  return value;
}

std::optional<std::string> ObjectReader::string(std::string_view key) {
  const auto* value = get(key);
  return value == nullptr ? std::nullopt : asString(*value, pathOf(key), errors_);
}

std::optional<bool> ObjectReader::boolean(std::string_view key) {
  const auto* value = get(key);
  if (value == nullptr) return std::nullopt;
  if (const auto* flag = value->if_bool()) return *flag;
  error(key, typeMismatch("true or false", *value));
  return std::nullopt;
}

std::optional<int64_t> ObjectReader::integer(std::string_view key, std::string_view expected) {
  const auto* value = get(key);
  return value == nullptr ? std::nullopt : asInteger(*value, pathOf(key), errors_, expected);
}

const boost::json::object* ObjectReader::object(std::string_view key) {
  const auto* value = get(key);
  return value == nullptr ? nullptr : asObject(*value, pathOf(key), errors_);
}

const boost::json::array* ObjectReader::array(std::string_view key) {
  const auto* value = get(key);
  return value == nullptr ? nullptr : asArray(*value, pathOf(key), errors_);
}

void ObjectReader::allowNull(std::initializer_list<std::string_view> keys) {
  for (const std::string_view key : keys) nullable_.emplace(key);
}

void ObjectReader::rejectUnknownKeys() {
  for (const auto& entry : object_) {
    const std::string_view key(entry.key().data(), entry.key().size());
    if (known_.find(key) == known_.end()) error(key, "unknown key");
  }
}

}  // namespace nicproxy::json

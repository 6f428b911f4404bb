#pragma once
// Small helpers over Boost.JSON shared by the configuration and the Kubernetes
// decoders: parse with a position in the error, and read an object's fields while
// collecting every error against its key path ("dpdk.ports[0].address: ...").
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace nicproxy::json {

/// Reads a whole file; on failure returns nullopt and sets `error` to "path: strerror".
std::optional<std::string> readFile(const std::filesystem::path& path, std::string& error);

/// Every problem found, each "key.path: message".
using Errors = std::vector<std::string>;

/// A value as an error message shows it: `5`, `"big"`, `true`, `null`, `an object`, `an array`.
std::string describe(const boost::json::value& value);

/// Text as a JSON string literal, escapes included: "a\"b".
std::string quote(std::string_view text);

/// Parses one JSON document. On failure returns nullopt and sets `error` to
/// "invalid JSON at line L, column C: message".
std::optional<boost::json::value> parse(std::string_view text, std::string& error);

/// One error per key that appears again in the same object ("dpdk.ports[0].device:
/// duplicate key ..."), in document order. Boost.JSON keeps a duplicate key's last value
/// without a word, so `"mode":"dpdk","mode":"iptables"` would quietly mean iptables;
/// the configuration calls this on the text it parsed. Empty for text that is not JSON.
Errors duplicateKeys(std::string_view text);

std::string joinPath(std::string_view parent, std::string_view key);  // "dpdk" + "eal" -> "dpdk.eal"
std::string indexPath(std::string_view parent, size_t index);         // "dpdk.ports" + 1 -> "dpdk.ports[1]"

/// Checks a value's type, recording "path: expected a string, got 5" on mismatch.
std::optional<std::string> asString(const boost::json::value& value, const std::string& path, Errors& errors);
std::optional<int64_t> asInteger(const boost::json::value& value, const std::string& path, Errors& errors,
                                 std::string_view expected = "an integer");
const boost::json::object* asObject(const boost::json::value& value, const std::string& path, Errors& errors);
const boost::json::array* asArray(const boost::json::value& value, const std::string& path, Errors& errors);

/// Reads the fields of one JSON object. Kubernetes objects are read leniently
/// (null counts as absent, unknown keys are ignored: the API adds fields over time);
/// the configuration strictly (null is a type error, rejectUnknownKeys()).
class ObjectReader {
 public:
  enum class Nulls : uint8_t { Absent, Error };

  ObjectReader(const boost::json::object& object, std::string path, Errors& errors, Nulls nulls);

  const std::string& path() const { return path_; }
  std::string pathOf(std::string_view key) const { return joinPath(path_, key); }
  void error(std::string_view key, std::string_view message);

  /// The key's value, now counted as known; nullptr when absent.
  const boost::json::value* get(std::string_view key);
  std::optional<std::string> string(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  std::optional<int64_t> integer(std::string_view key, std::string_view expected = "an integer");
  const boost::json::object* object(std::string_view key);
  const boost::json::array* array(std::string_view key);
  /// Records "path.key: unknown key" for every key no getter asked for.
  void rejectUnknownKeys();
  /// These keys read null as absent even in a strict reader: kube-proxy's fields, where
  /// Go leaves a field given as null at its zero value, which means "the default".
  void allowNull(std::initializer_list<std::string_view> keys);

 private:
  const boost::json::object& object_;
  std::string path_;
  Errors& errors_;
  Nulls nulls_;
  std::set<std::string, std::less<>> known_;
  std::set<std::string, std::less<>> nullable_;
};

}  // namespace nicproxy::json

#pragma once
// The configuration file may be JSON or YAML (kubeadm and kube-proxy write YAML). Both
// become one boost::json::value, so one reader (ObjectReader) checks either, with the
// same key paths in its errors. Which format a file is in is decided by its content,
// never by its name.
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "control/json_reader.hpp"

namespace nicproxy::json {

/// Text that starts with `{` or `[` is JSON (its errors are JSON's, with line and
/// column); anything else is YAML. Returns nullopt after a syntax error (one entry in
/// `errors`); duplicate keys are entries in `errors` too, but the value is returned so
/// that every other mistake is found in the same pass.
std::optional<boost::json::value> parseJsonOrYaml(std::string_view text, Errors& errors);

/// One YAML document as JSON. Plain scalars are typed by the YAML 1.2 core schema
/// (null and ~, true and false, integers, floats; anything else is a string: "0s",
/// "10.0.0.0/8", yes, on); quoted and block scalars stay strings. A key given twice in a
/// mapping is an error naming its path; so is more than one document. Syntax errors
/// name the line and column.
std::optional<boost::json::value> parseYaml(std::string_view text, Errors& errors);

/// A JSON value as block-style YAML that parseYaml reads back to the same value: strings
/// that would read as something else ("0", "true", "", "null") are quoted.
std::string toYaml(const boost::json::value& value);

}  // namespace nicproxy::json

#include "control/k8s/names.hpp"

#include <algorithm>

namespace nicproxy::k8s {
namespace {

constexpr size_t kLabelMax = 63;
constexpr size_t kSubdomainMax = 253;
constexpr size_t kServiceNameMax = 15;

bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlnum(char c) { return isLower(c) || isDigit(c); }

bool isLabel(std::string_view name) {
  return !name.empty() && isAlnum(name.front()) && isAlnum(name.back()) &&
         std::all_of(name.begin(), name.end(), [](char c) { return isAlnum(c) || c == '-'; });
}

std::string tooLong(size_t max) { return "must be no more than " + std::to_string(max) + " characters"; }

}  // namespace

std::vector<std::string> dns1123LabelProblems(std::string_view name) {
  std::vector<std::string> problems;
  if (name.size() > kLabelMax) problems.push_back(tooLong(kLabelMax));
  if (!isLabel(name)) {
    problems.emplace_back(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
        "end with an alphanumeric character (e.g. 'my-name',  or '123-abc')");
  }
  return problems;
}

std::vector<std::string> dns1035LabelProblems(std::string_view name) {
  std::vector<std::string> problems;
  if (name.size() > kLabelMax) problems.push_back(tooLong(kLabelMax));
  if (!isLabel(name) || !isLower(name.front())) {
    problems.emplace_back(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
        "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123')");
  }
  return problems;
}

std::vector<std::string> dns1123SubdomainProblems(std::string_view name) {
  std::vector<std::string> problems;
  if (name.size() > kSubdomainMax) problems.push_back(tooLong(kSubdomainMax));
  bool valid = !name.empty();
  for (size_t start = 0; valid && start <= name.size();) {
    const size_t dot = std::min(name.find('.', start), name.size());
    valid = isLabel(name.substr(start, dot - start));
    start = dot + 1;
  }
  if (!valid) {
    problems.emplace_back(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'example.com')");
  }
  return problems;
}

std::vector<std::string> ianaServiceNameProblems(std::string_view name) {
  std::vector<std::string> problems;
  if (name.size() > kServiceNameMax) problems.push_back(tooLong(kServiceNameMax));
  if (!std::all_of(name.begin(), name.end(), [](char c) { return isAlnum(c) || c == '-'; })) {
    problems.emplace_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  }
  if (name.find("--") != std::string_view::npos) problems.emplace_back("must not contain consecutive hyphens");
  if (std::none_of(name.begin(), name.end(), isLower)) problems.emplace_back("must contain at least one letter (a-z)");
  if (!name.empty() && (name.front() == '-' || name.back() == '-')) {
    problems.emplace_back("must not begin or end with a hyphen");
  }
  return problems;
}

}  // namespace nicproxy::k8s

#pragma once
// Object and port names checked as the API server checks them (k8s.io/apimachinery
// validation), so that a services file or a misbehaving server cannot hand nicproxy a
// name Kubernetes would refuse: such names break keys ("a/b" as a namespace), chain and
// set names (a 253-character namespace) and log lines. Each function returns the
// problems, worded as Kubernetes words them; an empty vector means the name is valid.
#include <string>
#include <string_view>
#include <vector>

namespace nicproxy::k8s {

/// RFC 1123 label: namespaces, Service and EndpointSlice port names. At most 63 of
/// [a-z0-9-], starting and ending with an alphanumeric character.
std::vector<std::string> dns1123LabelProblems(std::string_view name);
/// RFC 1035 label: Service names (they become DNS names). As a 1123 label, but the first
/// character is a letter.
std::vector<std::string> dns1035LabelProblems(std::string_view name);
/// RFC 1123 subdomain: EndpointSlice names. At most 253 of [a-z0-9.-], made of 1123 labels.
std::vector<std::string> dns1123SubdomainProblems(std::string_view name);
/// IANA_SVC_NAME: a named targetPort. At most 15 of [a-z0-9-], at least one letter, no
/// leading, trailing or doubled hyphen.
std::vector<std::string> ianaServiceNameProblems(std::string_view name);

}  // namespace nicproxy::k8s

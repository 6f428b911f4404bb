#!/usr/bin/env python3
"""rbac_check.py: holds the RBAC rules in deploy/ against the API requests nicproxy made.

Usage: rbac_check.py DEPLOY_DIR RUN=REQUESTS.json [RUN=REQUESTS.json ...]

DEPLOY_DIR's YAML files give the DaemonSet's service account, the ClusterRoleBindings
whose subjects name it and the ClusterRoles those bind. Each REQUESTS.json is the fake
API server's record of one run (GET /fake/requests: verb, apiGroup, resource,
subresource, namespace, name, or a non-resource path). Checks, as the API server's RBAC
authorizer decides (a ClusterRole bound cluster-wide covers every namespace):

  - every request of every run is allowed by some rule;
  - every (apiGroup, resource, verb) and non-resource (URL, verb) the rules grant was
    used by at least one run, so the role grants nothing beyond what nicproxy does.
    A wildcard ("*") grant can never be justified by requests and fails.

Prints "PASS: ..." or "FAIL: ... (why)" lines; exits 1 if any check failed.
"""
import json
import sys
from pathlib import Path

import yaml


def load_documents(deploy_dir):
    docs = []
    for path in sorted(Path(deploy_dir).glob("*.yaml")):
        with open(path) as f:
            docs += [(path.name, d) for d in yaml.safe_load_all(f) if d]
    return docs


def bound_rules(docs):
    """The rules of every ClusterRole bound to the DaemonSet's service account."""
    daemonsets = [d for _, d in docs if d.get("kind") == "DaemonSet"]
    if len(daemonsets) != 1:
        raise SystemExit(f"rbac_check: expected one DaemonSet in deploy/, found {len(daemonsets)}")
    ds = daemonsets[0]
    account = ds["spec"]["template"]["spec"].get("serviceAccountName", "default")
    namespace = ds["metadata"].get("namespace", "default")
    roles = {d["metadata"]["name"]: d for _, d in docs if d.get("kind") == "ClusterRole"}
    rules, names = [], []
    for _, d in docs:
        if d.get("kind") != "ClusterRoleBinding":
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == account and s.get("namespace") == namespace
                   for s in d.get("subjects", [])):
            continue
        ref = d["roleRef"]
        if ref.get("kind") != "ClusterRole" or ref["name"] not in roles:
            raise SystemExit(f"rbac_check: ClusterRoleBinding {d['metadata']['name']} binds "
                             f"{ref.get('kind')} {ref['name']}, which deploy/ does not define")
        names.append(ref["name"])
        rules += roles[ref["name"]].get("rules", [])
    if not names:
        raise SystemExit(f"rbac_check: no ClusterRoleBinding binds ServiceAccount {namespace}/{account}")
    return f"ServiceAccount {namespace}/{account} (ClusterRole {', '.join(names)})", rules


def resource_string(request):
    res = request["resource"]
    return res + "/" + request["subresource"] if request["subresource"] else res


def rule_allows(rule, request):
    """rbac/v1 semantics (k8s.io/kubernetes/pkg/apis/rbac/v1/evaluation_helpers.go)."""
    verbs = rule.get("verbs", [])
    if "*" not in verbs and request["verb"] not in verbs:
        return False
    if not request["resourceRequest"]:
        urls = rule.get("nonResourceURLs", [])
        return any(u == "*" or u == request["path"] or (u.endswith("*") and request["path"].startswith(u[:-1]))
                   for u in urls)
    groups = rule.get("apiGroups", [])
    if "*" not in groups and request["apiGroup"] not in groups:
        return False
    resources = rule.get("resources", [])
    combined = resource_string(request)
    if not any(r == "*" or r == combined or (request["subresource"] and r == "*/" + request["subresource"])
               for r in resources):
        return False
    names = rule.get("resourceNames", [])
    return not names or request["name"] in names


def grants(rule):
    """What one rule grants, as (kind, group or URL, resource, verb) tuples."""
    out = []
    for verb in rule.get("verbs", []):
        for url in rule.get("nonResourceURLs", []):
            out.append(("url", url, "", verb))
        for group in rule.get("apiGroups", []):
            for res in rule.get("resources", []):
                out.append(("resource", group, res, verb))
    return out


def describe(request):
    if not request["resourceRequest"]:
        return f"{request['verb']} {request['path']} (non-resource)"
    group = request["apiGroup"] or "core"
    where = f"namespace {request['namespace']}" if request["namespace"] else "cluster-wide"
    name = f" {request['name']}" if request["name"] else ""
    return f"{request['verb']} {group}/{resource_string(request)}{name}, {where}"


def main(argv):
    if len(argv) < 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    who, rules = bound_rules(load_documents(argv[1]))
    runs = []
    for arg in argv[2:]:
        run, _, path = arg.partition("=")
        with open(path) as f:
            runs.append((run, json.load(f)))
    failed = 0

    def report(ok, what, why=""):
        nonlocal failed
        print(f"PASS: {what}" if ok else f"FAIL: {what} ({why})")
        failed += 0 if ok else 1

    used = set()
    for run, requests in runs:
        denied = []
        seen = set()
        for request in requests:
            matching = [i for i, rule in enumerate(rules) if rule_allows(rule, request)]
            key = describe(request)
            if not matching:
                if key not in denied:
                    denied.append(key)
                continue
            seen.add(key)
            for i in matching:
                for g in grants(rules[i]):
                    kind, group, res, verb = g
                    if verb not in ("*", request["verb"]):
                        continue
                    if kind == "url" and rule_allows({"verbs": [verb], "nonResourceURLs": [group]}, request):
                        used.add(g)
                    if kind == "resource" and rule_allows({"verbs": [verb], "apiGroups": [group], "resources": [res]},
                                                          request):
                        used.add(g)
        report(bool(requests) and not denied,
               f"rbac: {run}: {who} allows each of its {len(requests)} requests ({'; '.join(sorted(seen))})",
               "no requests recorded" if not requests else "denied: " + "; ".join(denied))

    unused = []
    for rule in rules:
        for g in grants(rule):
            kind, group, res, verb = g
            if "*" in (group, res, verb) or g not in used:
                what = f"{verb} {group}" if kind == "url" else f"{verb} {group or 'core'}/{res}"
                if what not in unused:
                    unused.append(what)
    total = len({g for rule in rules for g in grants(rule)})
    report(not unused and total > 0,
           f"rbac: {who} grants nothing beyond those requests (each of its {total} grants used by a run)",
           "granted but never used: " + "; ".join(unused) if unused else "the role grants nothing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

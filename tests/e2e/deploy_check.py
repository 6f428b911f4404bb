#!/usr/bin/env python3
"""deploy_check.py: the manifests in deploy/ say what issue 11 asks of them.

Usage: deploy_check.py DEPLOY_DIR

Parses every YAML file in DEPLOY_DIR (python3-yaml) and checks the facts an operator
relies on: the DaemonSet runs on the host network, privileged, with hugepages, /sys,
/dev/vfio, /lib/modules (read-only), the xtables lock and the ConfigMap mounted; takes
NODE_NAME from spec.nodeName; runs on system-node-critical; tolerates every taint; probes
/livez and /healthz on 10256; runs `--config=<the ConfigMap's config.conf>
--hostname-override=$(NODE_NAME)`; rolls updates. The ConfigMap holds a
KubeProxyConfiguration (mode nftables) whose kubeconfig is the ConfigMap's own. The
kustomization lists every manifest; the Containerfile builds from Debian 12 only.
The RBAC rules themselves are held against real requests by rbac_test.sh.

Prints "PASS: ..." or "FAIL: ... (why)" per check; exits 1 if any failed.
"""
import re
import sys
from pathlib import Path

import yaml

failed = 0


def check(ok, what, why=""):
    global failed
    print(f"PASS: {what}" if ok else f"FAIL: {what} ({why})")
    failed += 0 if ok else 1


def main(deploy_dir):
    deploy = Path(deploy_dir)
    docs, files = [], sorted(deploy.glob("*.yaml"))
    for path in files:
        try:
            with open(path) as f:
                loaded = [d for d in yaml.safe_load_all(f) if d]
            missing = [f"{d.get('kind', '?')}: {k}" for d in loaded for k in ("apiVersion", "kind", "metadata")
                       if k not in d and not (k == "metadata" and d.get("kind") == "Kustomization")]
            check(loaded and not missing, f"deploy: {path.name} parses, every document has apiVersion, kind, metadata",
                  "; ".join(missing) or "no documents")
            docs += [(path.name, d) for d in loaded]
        except yaml.YAMLError as e:
            check(False, f"deploy: {path.name} parses", str(e).replace("\n", " "))

    def one(kind):
        found = [d for _, d in docs if d.get("kind") == kind]
        check(len(found) == 1, f"deploy: one {kind}", f"found {len(found)}")
        return found[0] if len(found) == 1 else {}

    ds, cm, sa = one("DaemonSet"), one("ConfigMap"), one("ServiceAccount")
    one("ClusterRole")
    one("ClusterRoleBinding")
    namespaced = [f"{d['kind']} {d['metadata'].get('name')}: {d['metadata'].get('namespace')}" for _, d in docs
                  if d.get("kind") in ("DaemonSet", "ConfigMap", "ServiceAccount")
                  and d["metadata"].get("namespace") != "kube-system"]
    check(not namespaced, "deploy: the DaemonSet, ConfigMap and ServiceAccount are in kube-system", "; ".join(namespaced))
    if not ds:
        return
    spec = ds.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    containers = pod.get("containers", [])
    check(len(containers) == 1, "deploy: the DaemonSet runs one container", f"{len(containers)} containers")
    c = containers[0] if containers else {}

    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    selector = spec.get("selector", {}).get("matchLabels", {})
    check(selector and all(labels.get(k) == v for k, v in selector.items()),
          "deploy: the DaemonSet's selector matches its pod labels", f"selector {selector}, labels {labels}")
    check(spec.get("updateStrategy", {}).get("type") == "RollingUpdate", "deploy: updateStrategy RollingUpdate",
          f"{spec.get('updateStrategy')}")
    check(pod.get("hostNetwork") is True, "deploy: hostNetwork", f"hostNetwork {pod.get('hostNetwork')}")
    check(c.get("securityContext", {}).get("privileged") is True, "deploy: the container is privileged",
          f"securityContext {c.get('securityContext')}")
    check(pod.get("priorityClassName") == "system-node-critical", "deploy: priorityClassName system-node-critical",
          f"{pod.get('priorityClassName')}")
    # A toleration with operator Exists and no key and no effect matches every taint.
    tolerations = pod.get("tolerations", [])
    check(any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect") for t in tolerations),
          "deploy: a toleration for every taint (operator Exists, no key, no effect)", f"tolerations {tolerations}")
    check(sa and pod.get("serviceAccountName") == sa.get("metadata", {}).get("name"),
          "deploy: the pod runs as deploy/'s ServiceAccount", f"serviceAccountName {pod.get('serviceAccountName')}")

    env = {e.get("name"): e for e in c.get("env", [])}
    field = env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    check(field == "spec.nodeName", "deploy: NODE_NAME from the fieldRef spec.nodeName", f"NODE_NAME {env.get('NODE_NAME')}")

    for kind, path in (("livenessProbe", "/livez"), ("readinessProbe", "/healthz")):
        get = c.get(kind, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") == 10256, f"deploy: {kind} httpGet {path} on port 10256",
              f"{kind} {c.get(kind)}")

    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    mounts = {m.get("mountPath"): m for m in c.get("volumeMounts", [])}

    def host_mount(host_path, mount_path, read_only=None, host_type=None):
        m = mounts.get(mount_path)
        v = volumes.get(m.get("name")) if m else None
        hp = (v or {}).get("hostPath", {})
        ok = hp.get("path") == host_path and (read_only is None or bool(m.get("readOnly")) == read_only) and (
            host_type is None or hp.get("type") == host_type)
        what = f"deploy: hostPath {host_path} mounted at {mount_path}" + (" read-only" if read_only else "") + (
            f" (type {host_type})" if host_type else "")
        check(ok, what, f"mount {m}, volume {v}")

    host_mount("/sys", "/sys")
    host_mount("/dev/vfio", "/dev/vfio")
    host_mount("/lib/modules", "/lib/modules", read_only=True)
    host_mount("/run/xtables.lock", "/run/xtables.lock", host_type="FileOrCreate")
    huge = [m for m in c.get("volumeMounts", []) if m.get("name") in volumes and (
        volumes[m["name"]].get("hostPath", {}).get("path") == "/dev/hugepages"
        or volumes[m["name"]].get("emptyDir", {}).get("medium", "").startswith("HugePages"))]
    check(huge, "deploy: hugepages mounted (hostPath /dev/hugepages or emptyDir medium HugePages)",
          f"mounts {list(mounts)}")

    # --config names a key of the mounted ConfigMap, and the node name comes from NODE_NAME.
    args = c.get("args", [])
    config = next((a.split("=", 1)[1] for a in args if a.startswith("--config=")), "")
    cm_name = cm.get("metadata", {}).get("name")
    cm_mount = next((p for p, m in mounts.items()
                     if volumes.get(m.get("name"), {}).get("configMap", {}).get("name") == cm_name), None)
    data = cm.get("data", {})
    check(cm_mount and config == f"{cm_mount}/config.conf" and "config.conf" in data,
          "deploy: --config is the ConfigMap's config.conf where the ConfigMap is mounted",
          f"args {args}; ConfigMap {cm_name} mounted at {cm_mount}; keys {list(data)}")
    check("--hostname-override=$(NODE_NAME)" in args, "deploy: --hostname-override=$(NODE_NAME), as kubeadm's kube-proxy",
          f"args {args}")

    if "config.conf" in data:
        try:
            conf = yaml.safe_load(data["config.conf"])
            check(conf.get("apiVersion") == "kubeproxy.config.k8s.io/v1alpha1" and conf.get(
                "kind") == "KubeProxyConfiguration" and conf.get("mode") == "nftables",
                  "deploy: config.conf is a YAML KubeProxyConfiguration, mode nftables",
                  f"apiVersion {conf.get('apiVersion')}, kind {conf.get('kind')}, mode {conf.get('mode')}")
            kubeconfig = conf.get("clientConnection", {}).get("kubeconfig", "")
            check(cm_mount and kubeconfig == f"{cm_mount}/kubeconfig.conf" and "kubeconfig.conf" in data,
                  "deploy: config.conf's kubeconfig is the ConfigMap's kubeconfig.conf", f"kubeconfig {kubeconfig}")
            check("nodeName" not in conf and "hostnameOverride" not in conf,
                  "deploy: config.conf names no node (one ConfigMap for every node)", "it sets nodeName")
            dpdk = re.search(r"^# dpdk:\n((?:#.*\n?)*)", data["config.conf"], re.M)
            example = yaml.safe_load(re.sub(r"^# ?", "", dpdk.group(0), flags=re.M)) if dpdk else None
            check(example and example.get("dpdk", {}).get("ports"), "deploy: config.conf has a commented dpdk example",
                  "no '# dpdk:' block with ports")
        except yaml.YAMLError as e:
            check(False, "deploy: config.conf parses", str(e).replace("\n", " "))

    kustomization = deploy / "kustomization.yaml"
    if kustomization.exists():
        listed = yaml.safe_load(kustomization.read_text()).get("resources", [])
        others = [p.name for p in files if p.name != "kustomization.yaml"]
        check(sorted(listed) == sorted(others), "deploy: kustomization.yaml lists every manifest",
              f"lists {listed}, files {others}")

    containerfile = deploy / "Containerfile"
    text = containerfile.read_text() if containerfile.exists() else ""
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    default = re.search(r"^ARG BASE=(\S+)", text, re.M)
    debian = [b for b in bases if re.fullmatch(r"(docker\.io/(library/)?)?debian:12(-slim)?|\$\{BASE\}", b)]
    check(bases and len(debian) == len(bases) and (default is None or re.fullmatch(
        r"(docker\.io/(library/)?)?debian:12(-slim)?", default.group(1))),
          "deploy: the Containerfile builds from Debian 12 only", f"FROM {bases}, ARG BASE {default and default.group(1)}")
    runtime = text.split("FROM", 2)[-1] if len(bases) >= 2 else ""
    tools = [t for t in ("iptables", "nftables", "ipset", "conntrack", "kmod") if not re.search(rf"\b{t}\b", runtime)]
    check(len(bases) >= 2 and not tools and "--from=build" in runtime,
          "deploy: a build stage, and a runtime stage with iptables, nftables, ipset, conntrack, kmod",
          f"{len(bases)} stages; runtime lacks {tools}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
    sys.exit(1 if failed else 0)

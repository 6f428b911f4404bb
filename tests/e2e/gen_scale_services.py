#!/usr/bin/env python3
"""Writes the services file of tests/e2e/dpdk_workers_test.sh (a Kubernetes List).

Usage: gen_scale_services.py OUT [--sticky-endpoints be1,be2,be3] [--rst-endpoint beN]
       [--udp-endpoint beN] [--storm-round N] [--fillers N]
Backends: be1 10.50.0.11 (nodeName node-a: this node), be2 10.50.0.12 and be3 10.50.0.13
(node-b). --storm-round N flips be3 of "storm" between ready and terminating and adds
N % 50 + 1 filler services, so that every round changes several service ports.
--fillers N adds N filler services of 1 to 3 endpoints (scripts/bench_scrape.sh: 10,000).
"""
import argparse
import json

BACKENDS = {"be1": ("10.50.0.11", "node-a"), "be2": ("10.50.0.12", "node-b"), "be3": ("10.50.0.13", "node-b")}
version = [1000]


def meta(name, extra=None):
    version[0] += 1
    m = {"name": name, "namespace": "scale", "uid": f"uid-{name}", "resourceVersion": str(version[0])}
    if extra:
        m.update(extra)
    return m


def service(name, ip, port, protocol="TCP", node_port=None, **spec):
    p = {"name": "p", "port": port, "protocol": protocol, "targetPort": 5353 if protocol == "UDP" else 8080}
    if node_port:
        p["nodePort"] = node_port
    s = {"clusterIP": ip, "clusterIPs": [ip], "ports": [p], "type": "NodePort" if node_port else "ClusterIP"}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name), "spec": s}


def slice_(name, backends, protocol="TCP", terminating=()):
    eps = []
    for b in backends:
        ip, node = BACKENDS[b]
        term = b in terminating
        eps.append({"addresses": [ip], "nodeName": node,
                    "conditions": {"ready": not term, "serving": True, "terminating": term}})
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta(name + "-s", {"labels": {"kubernetes.io/service-name": name}}),
            "addressType": "IPv4",
            "ports": [{"name": "p", "port": 5353 if protocol == "UDP" else 8080, "protocol": protocol}],
            "endpoints": eps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--sticky-endpoints", default="be1")
    ap.add_argument("--rst-endpoint", default="be2")
    ap.add_argument("--udp-endpoint", default="be2")
    ap.add_argument("--storm-round", type=int, default=0)
    ap.add_argument("--fillers", type=int, default=0)
    a = ap.parse_args()
    all3 = ["be1", "be2", "be3"]
    items = [
        service("web", "10.96.0.10", 80, node_port=30080), slice_("web", all3),
        service("sticky", "10.96.0.11", 80, sessionAffinity="ClientIP",
                sessionAffinityConfig={"clientIP": {"timeoutSeconds": 4}}),
        slice_("sticky", a.sticky_endpoints.split(",")),
        service("local", "10.96.0.12", 80, node_port=30082, externalTrafficPolicy="Local"),
        slice_("local", ["be1", "be2", "be3"]),
        service("localnone", "10.96.0.13", 80, node_port=30083, externalTrafficPolicy="Local"),
        slice_("localnone", ["be2", "be3"]),
        service("lb", "10.96.0.14", 80, node_port=30084, loadBalancerSourceRanges=["10.50.0.100/32"]),
        slice_("lb", all3),
        service("rst", "10.96.0.16", 80), slice_("rst", [a.rst_endpoint]),
        service("udp", "10.96.0.20", 53, protocol="UDP"), slice_("udp", [a.udp_endpoint], protocol="UDP"),
        service("storm", "10.96.0.15", 80), slice_("storm", all3, terminating=["be3"] if a.storm_round % 2 else []),
    ]
    lb = items[8]
    lb["spec"]["type"] = "LoadBalancer"
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "10.50.0.60"}]}}
    fillers = a.storm_round % 50 + 1 if a.storm_round else 0
    if a.fillers:
        fillers = a.fillers
    if fillers:
        for i in range(fillers):
            name = f"filler-{i}"
            items.append(service(name, f"10.97.{i // 200}.{i % 200 + 1}", 80))
            items.append(slice_(name, all3[: (a.storm_round + i) % 3 + 1]))
    with open(a.out + ".tmp", "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
    import os
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()

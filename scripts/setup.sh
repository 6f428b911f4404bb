#!/usr/bin/env bash
# setup.sh: install what nicproxy needs to build, test and run its demo on Debian 12.
# Idempotent and quick: asks dpkg first and only runs apt-get when something is missing.
# Run as root. Options: --check  only report missing packages (exit 1 if any).
set -euo pipefail

BUILD_PKGS=(
    meson ninja-build pkg-config g++
    libdpdk-dev dpdk
    libboost-json1.81-dev libcurl4-openssl-dev libspdlog-dev libcli11-dev
    libgtest-dev libgmock-dev
    libyaml-cpp-dev libcpp-httplib-dev libssl-dev
    libnl-3-dev libnl-genl-3-dev libnl-route-3-dev
    libnftnl-dev libmnl-dev libnetfilter-conntrack-dev
    libsystemd-dev  # sd_notify: Type=notify, the watchdog (daemon/systemd_notify.cpp)
    prometheus-cpp-dev  # the metrics registry and text exposition (issue 12); HTTP is cpp-httplib
)
TEST_PKGS=(
    iproute2 ethtool curl python3 iptables socat procps iputils-ping
    openssl nftables conntrack python3-matplotlib
    ipset
    python3-yaml  # tests/e2e/rbac_check.py and deploy_check.py read deploy/'s manifests
    clang libclang-rt-14-dev  # libFuzzer, ASan and UBSan runtimes: scripts/fuzz.sh
    dpdk-dev  # dpdk-testpmd (Debian 12 ships it here, not in dpdk): memif smoke test, bench_memif.sh
    prometheus  # prometheus and promtool: a real server scrapes /metrics in the e2e tests
    tshark  # reads back what dpdk-dumpcap captured
    iperf3  # scripts/bench_exception.sh: TCP through the exception path
    tcpdump python3-scapy  # tests/e2e/exception_path_test.sh: captures, frames written into the tap
)

check_only=0
for arg in "$@"; do
    case $arg in
        --check) check_only=1 ;;
        -h | --help) sed -n '2,4p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

missing=()
for pkg in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ $status != installed ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup: all $((${#BUILD_PKGS[@]} + ${#TEST_PKGS[@]})) packages present"
    exit 0
fi

echo "setup: missing: ${missing[*]}"
if [[ $check_only -eq 1 ]]; then
    exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root to install them" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# "python3-pythran-": python3-matplotlib (for scripts/bench.sh's plot) would otherwise
# pull pythran, whose libboost-dev (1.74) conflicts with libboost1.81-dev.
apt-get install -y -q --no-install-recommends "${missing[@]}" python3-pythran-
echo "setup: installed ${#missing[@]} package(s)"

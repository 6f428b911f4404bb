# shellcheck shell=bash
# netns_topology.sh: network-namespace topology for the nicproxy demo and e2e tests.
# Source it; it defines functions only and changes no shell options.
#
#   topo_up PREFIX          build the topology (root)
#   topo_down PREFIX        tear it down (idempotent, quiet)
#   topo_ns PREFIX ROLE     print a namespace name; ROLE: client node fabric be1 be2 be3
#   topo_node_if PREFIX     print the name of the veth that nicproxy opens (in the node ns)
#   topo_if PREFIX ROLE     print the namespace-side interface name of ROLE
#
# Layout (one L2 segment, 10.50.0.0/24, a Linux bridge in the fabric namespace):
#
#   PREFIX-client  10.50.0.100/24   routes 10.96.0.0/12 and 203.0.113.0/24 via 10.50.0.1
#   PREFIX-node    no address       nicproxy opens this veth with net_af_packet and
#                                   itself answers ARP for 10.50.0.1 (and external IPs)
#   PREFIX-be1     10.50.0.11/24
#   PREFIX-be2     10.50.0.12/24
#   PREFIX-be3     10.50.0.13/24
#   PREFIX-fabric  bridge PREFIXbr with the peer of every veth above
#
# Interface names: namespace end PREFIX<s>, fabric end PREFIX<s>f, bridge PREFIXbr, with
# <s> = c (client), n (node), b1..b3 (backends); PREFIX is at most 12 characters so every
# name fits in IFNAMSIZ-1 = 15. They are created inside the fabric namespace, so they never
# appear in (or collide with) the caller's namespace.
#
# Traffic never leaves these namespaces: nothing is attached to the caller's namespace.

TOPO_SUBNET_PREFIXLEN=24
TOPO_NODE_IP=10.50.0.1
TOPO_CLIENT_IP=10.50.0.100
TOPO_BE1_IP=10.50.0.11
TOPO_BE2_IP=10.50.0.12
TOPO_BE3_IP=10.50.0.13
TOPO_SERVICE_CIDR=10.96.0.0/12
TOPO_EXTERNAL_CIDR=203.0.113.0/24

_topo_check_prefix() {
    local p=$1
    if [[ ! $p =~ ^[A-Za-z0-9]{1,12}$ ]]; then
        echo "netns_topology: bad prefix '$p' (1-12 letters or digits)" >&2
        return 1
    fi
}

_topo_suffix() {
    case $1 in
        client) echo c ;;
        node) echo n ;;
        be1) echo b1 ;;
        be2) echo b2 ;;
        be3) echo b3 ;;
        *) echo "netns_topology: unknown role '$1'" >&2; return 1 ;;
    esac
}

topo_ns() {
    local p=$1 role=$2
    case $role in
        client | node | fabric | be1 | be2 | be3) echo "${p}-${role}" ;;
        *) echo "netns_topology: unknown role '$role'" >&2; return 1 ;;
    esac
}

topo_if() {
    local p=$1 s
    s=$(_topo_suffix "$2") || return 1
    echo "${p}${s}"
}

topo_node_if() {
    topo_if "$1" node
}

# _topo_disable_ipv6 NS [IF...]: no IPv6 in NS (router solicitations, MLD, DAD would be noise).
_topo_disable_ipv6() {
    local ns=$1 i
    shift
    for i in all default "$@"; do
        ip netns exec "$ns" sysctl -qw "net.ipv6.conf.${i}.disable_ipv6=1" >/dev/null 2>&1 || true
    done
}

# _topo_attach PREFIX ROLE: veth between ROLE's namespace and the fabric bridge.
_topo_attach() {
    local p=$1 role=$2 s ns fab nsif fabif
    s=$(_topo_suffix "$role") || return 1
    ns=$(topo_ns "$p" "$role")
    fab=$(topo_ns "$p" fabric)
    nsif="${p}${s}"
    fabif="${p}${s}f"
    ip -n "$fab" link add "$fabif" type veth peer name "$nsif" netns "$ns" || return 1
    _topo_disable_ipv6 "$fab" "$fabif"
    ip -n "$fab" link set "$fabif" master "${p}br" || return 1
    ip -n "$fab" link set "$fabif" up || return 1
    _topo_disable_ipv6 "$ns" "$nsif"
    # A veth leaves TCP/UDP checksums partial while tx checksum offload is on; turn it off
    # so that every frame on the wire (and in nicproxy's af_packet socket) is complete.
    ip netns exec "$ns" ethtool -K "$nsif" tx off >/dev/null 2>&1 || {
        echo "netns_topology: ethtool -K $nsif tx off failed in $ns" >&2
        return 1
    }
    # No TCP/UDP super-frames on the segment either (best effort).
    ip netns exec "$ns" ethtool -K "$nsif" tso off gso off >/dev/null 2>&1 || true
    ip -n "$ns" link set "$nsif" up || return 1
}

_topo_host() {
    local p=$1 role=$2 addr=$3 ns nsif
    ns=$(topo_ns "$p" "$role")
    nsif=$(topo_if "$p" "$role")
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up || return 1
    _topo_disable_ipv6 "$ns"
    _topo_attach "$p" "$role" || return 1
    if [[ -n $addr ]]; then
        ip -n "$ns" addr add "${addr}/${TOPO_SUBNET_PREFIXLEN}" dev "$nsif" || return 1
    fi
}

topo_up() {
    local p=$1 fab node nodeif client clientif
    _topo_check_prefix "$p" || return 1
    if [[ $(id -u) -ne 0 ]]; then
        echo "netns_topology: topo_up needs root" >&2
        return 1
    fi
    topo_down "$p"
    (
        set -e
        fab=$(topo_ns "$p" fabric)
        ip netns add "$fab"
        ip -n "$fab" link set lo up
        _topo_disable_ipv6 "$fab"
        ip -n "$fab" link add "${p}br" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
        _topo_disable_ipv6 "$fab" "${p}br"
        ip -n "$fab" link set "${p}br" up

        _topo_host "$p" client "$TOPO_CLIENT_IP"
        client=$(topo_ns "$p" client)
        clientif=$(topo_if "$p" client)
        ip -n "$client" route add "$TOPO_SERVICE_CIDR" via "$TOPO_NODE_IP" dev "$clientif"
        ip -n "$client" route add "$TOPO_EXTERNAL_CIDR" via "$TOPO_NODE_IP" dev "$clientif"

        _topo_host "$p" be1 "$TOPO_BE1_IP"
        _topo_host "$p" be2 "$TOPO_BE2_IP"
        _topo_host "$p" be3 "$TOPO_BE3_IP"

        # The node veth: no address, no IPv6, so the kernel in the node namespace stays
        # silent on it; nicproxy owns the wire through its af_packet socket.
        _topo_host "$p" node ""
        node=$(topo_ns "$p" node)
        nodeif=$(topo_node_if "$p")
        # Large (GRO/GSO) frames must not reach or leave the af_packet socket.
        ip netns exec "$node" ethtool -K "$nodeif" gro off >/dev/null 2>&1 || true
    ) || {
        echo "netns_topology: topo_up $p failed" >&2
        topo_down "$p"
        return 1
    }
}

topo_down() {
    local p=$1 role ns pid
    _topo_check_prefix "$p" || return 1
    for role in client node be1 be2 be3 fabric; do
        ns=$(topo_ns "$p" "$role")
        [[ -e /run/netns/$ns ]] || continue
        # Anything still running in a namespace of this topology was started by its caller.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill "$pid" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
    done
    return 0
}

# shellcheck shell=bash
# netns_router_topology.sh: a routed topology for the kernel dataplanes (iptables,
# nftables): nicproxy runs in a router namespace and programs netfilter there.
# Source it; it defines functions only and changes no shell options.
#
#   rtopo_up PREFIX         build it (root)
#   rtopo_down PREFIX       tear it down (idempotent, quiet)
#   rtopo_ns PREFIX ROLE    print a namespace name; ROLE: client router be1 be2 be3
#
#   PREFIX-client 10.10.0.2/24 --- 10.10.0.1/24 PREFIX-router 10.21.0.1/24 --- 10.21.0.2/24 PREFIX-be1
#                 default via 10.10.0.1          (forwarding on,  10.22.0.1/24 --- 10.22.0.2/24 PREFIX-be2
#                                                 default via     10.23.0.1/24 --- 10.23.0.2/24 PREFIX-be3
#                                                 10.10.0.2)
# The router's default route points at the client side (its "upstream"), so that a
# packet for an address nothing owns is forwarded, not answered with ICMP unreachable.
# The backends ("pods") route everything via the router; service addresses (cluster
# IPs, external IPs) exist only as netfilter rules in the router. One veth pair per
# link, created inside the namespaces, so nothing appears in the caller's namespace
# and no traffic leaves these namespaces.

RTOPO_CLIENT_IP=10.10.0.2
RTOPO_ROUTER_IP=10.10.0.1
RTOPO_BE1_IP=10.21.0.2
RTOPO_BE2_IP=10.22.0.2
RTOPO_BE3_IP=10.23.0.2

rtopo_ns() {
    local p=$1 role=$2
    case $role in
        client | router | be1 | be2 | be3) echo "${p}-${role}" ;;
        *) echo "netns_router_topology: unknown role '$role'" >&2; return 1 ;;
    esac
}

# _rtopo_link PREFIX ROLE_A IF_A ADDR_A ROLE_B IF_B ADDR_B
_rtopo_link() {
    local p=$1 a b
    a=$(rtopo_ns "$p" "$2") && b=$(rtopo_ns "$p" "$5") || return 1
    ip -n "$a" link add "$3" type veth peer name "$6" netns "$b" || return 1
    ip -n "$a" addr add "$4" dev "$3" && ip -n "$a" link set "$3" up || return 1
    ip -n "$b" addr add "$7" dev "$6" && ip -n "$b" link set "$6" up || return 1
}

rtopo_up() {
    local p=$1 role ns i
    if [[ ! $p =~ ^[A-Za-z0-9]{1,10}$ ]]; then
        echo "netns_router_topology: bad prefix '$p' (1-10 letters or digits)" >&2
        return 1
    fi
    for role in client router be1 be2 be3; do
        ns=$(rtopo_ns "$p" "$role")
        ip netns add "$ns" || return 1
        ip -n "$ns" link set lo up || return 1
    done
    # No ICMP redirects from the router: the default route leaves by the client's link,
    # and a redirect would use up the per-host ICMP rate limit that REJECT's port
    # unreachable needs. Set before the interfaces exist so that they inherit it.
    ip netns exec "$(rtopo_ns "$p" router)" sysctl -qw net.ipv4.conf.all.send_redirects=0 \
        net.ipv4.conf.default.send_redirects=0 || return 1
    _rtopo_link "$p" client "${p}c" "$RTOPO_CLIENT_IP/24" router "${p}rc" "$RTOPO_ROUTER_IP/24" || return 1
    ip -n "$(rtopo_ns "$p" client)" route add default via "$RTOPO_ROUTER_IP" || return 1
    for i in 1 2 3; do
        _rtopo_link "$p" router "${p}r$i" "10.2$i.0.1/24" "be$i" "${p}b$i" "10.2$i.0.2/24" || return 1
        ip -n "$(rtopo_ns "$p" "be$i")" route add default via "10.2$i.0.1" || return 1
    done
    ip -n "$(rtopo_ns "$p" router)" route add default via "$RTOPO_CLIENT_IP" || return 1
    ip netns exec "$(rtopo_ns "$p" router)" sysctl -qw net.ipv4.ip_forward=1 || return 1
}

rtopo_down() {
    local p=$1 role
    for role in client router be1 be2 be3; do
        ip netns del "$(rtopo_ns "$p" "$role")" 2>/dev/null || true
    done
}

# rtopo_start_nicproxy PREFIX NICPROXY CONFIG LOG: nicproxy in PREFIX's router namespace,
# in the background; sets NP_PID and waits (10 s at most) for "kernel proxy ready", or
# prints the log and returns 1. `ip netns exec` and `env` exec the next program, so $!
# is nicproxy's own pid; `env --default-signal` undoes the SIGINT/SIGQUIT ignore that a
# non-interactive shell gives background jobs.
rtopo_start_nicproxy() {
    ip netns exec "$(rtopo_ns "$1" router)" env --default-signal=INT,QUIT "$2" --config "$3" >"$4" 2>&1 &
    NP_PID=$!
    local _
    for _ in $(seq 100); do
        grep -qs "kernel proxy ready" "$4" && return 0
        kill -0 "$NP_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$4"
    return 1
}

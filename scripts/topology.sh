#!/bin/sh
# The cluster of the design on one machine, in network namespaces (root):
#
#   rc-o1 10.0.0.1   rc-o2 10.0.0.2   rc-o3 10.0.0.3   origins, on a bridge
#   rc-bj 10.1.0.1   rc-sh 10.2.0.1   rc-hz 10.3.0.1   regional edge hosts
#   rc-mgr 10.4.0.1                                    stream manager, Redis
#
# rc-rt routes between them: the origins' bridge (10.0.0.254) and one
# link per other host (10.N.0.254).  Every interface and the bridge live
# inside these namespaces (veth pairs are created with both ends already
# in them), so nothing is added to the machine's own namespace, and
# deleting the namespaces removes everything.
#
#   sh scripts/topology.sh up       (re)build it; leftovers are removed first
#   sh scripts/topology.sh down     stop what runs inside, remove it all
#   sh scripts/topology.sh status   namespaces, addresses, processes
#
# RC_PREFIX (default rc-) prefixes every namespace name.

set -eu

P=${RC_PREFIX:-rc-}
HOSTS="o1 o2 o3 bj sh hz mgr"
ALL="rt $HOSTS"

# host -> address, router side of its link
addr() {
    case $1 in
    o1) echo 10.0.0.1 ;; o2) echo 10.0.0.2 ;; o3) echo 10.0.0.3 ;;
    bj) echo 10.1.0.1 ;; sh) echo 10.2.0.1 ;; hz) echo 10.3.0.1 ;;
    mgr) echo 10.4.0.1 ;;
    esac
}

gateway() {
    echo "$(addr "$1" | sed 's/\.[0-9]*$//').254"
}

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "topology: must run as root (network namespaces)" >&2
        exit 2
    fi
    if ! ip netns list >/dev/null 2>&1; then
        echo "topology: 'ip netns' does not work here" >&2
        exit 2
    fi
}

# our namespaces that exist now
ours() {
    for h in $ALL; do
        if ip netns list | awk '{ print $1 }' | grep -qx "$P$h"; then
            echo "$P$h"
        fi
    done
}

down() {
    for ns in $(ours); do
        # the processes started in the namespace, by their ids
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        if [ -n "$pids" ]; then
            kill $pids 2>/dev/null || true
        fi
    done
    for ns in $(ours); do
        i=0
        while [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && [ $i -lt 30 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        if [ -n "$pids" ]; then
            kill -9 $pids 2>/dev/null || true
        fi
        # the veth pairs and the bridge go with their namespace
        ip netns del "$ns"
    done
}

up() {
    down

    for h in $ALL; do
        ip netns add "$P$h"
        ip -n "$P$h" link set lo up
    done

    ip netns exec "${P}rt" sysctl -qw net.ipv4.ip_forward=1
    ip -n "${P}rt" link add br0 type bridge
    ip -n "${P}rt" addr add 10.0.0.254/24 dev br0
    ip -n "${P}rt" link set br0 up

    for h in $HOSTS; do
        a=$(addr "$h")
        gw=$(gateway "$h")
        # both ends made inside the namespaces: eth0 at the host, v-HOST
        # at the router
        ip -n "${P}rt" link add "v-$h" type veth peer name eth0 \
            netns "$P$h"
        ip -n "$P$h" addr add "$a/24" dev eth0
        ip -n "$P$h" link set eth0 up
        case $h in
        o*) ip -n "${P}rt" link set "v-$h" master br0 ;;
        *)  ip -n "${P}rt" addr add "$gw/24" dev "v-$h" ;;
        esac
        ip -n "${P}rt" link set "v-$h" up
        ip -n "$P$h" route add default via "$gw"
    done
}

status() {
    n=$(ours | wc -l)
    if [ "$n" = 0 ]; then
        echo "topology: down"
        return 1
    fi
    for h in $HOSTS; do
        ns=$P$h
        if ! ours | grep -qx "$ns"; then
            echo "$ns: missing"
            continue
        fi
        state=$(ip -n "$ns" -br link show eth0 2>/dev/null \
                | awk '{ print $2 }')
        procs=$(for p in $(ip netns pids "$ns"); do
                    ps -o comm= -p "$p"
                done | sort | uniq -c | awk '{ printf "%s%s x%s", s, $2, $1;
                                               s = ", " }')
        printf '%-7s %-9s eth0 %-5s %s\n' "$ns" "$(addr "$h")" \
            "${state:-?}" "${procs:-(no processes)}"
    done
    [ "$n" = 8 ]
}

need_root

case ${1:-} in
up)     up ;;
down)   down ;;
status) status ;;
*)      echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac

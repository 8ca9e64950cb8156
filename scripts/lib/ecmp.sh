# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# The scale-out topology of scripts/ecmp-demo and of the ecmp integration test, in network
# namespaces ecmp-*: a client with many source addresses, a router (bird2 BGP + BFD, the VIP
# on a resilient nexthop group kept in step with bird's ECMP route, established flows pinned
# to their host), three ringlb host namespaces (VIP on lo, bird2 announcing it while
# /healthz answers 200) and three backends. ringlb itself is started by the caller
# (ecmp_start_ringlb) so that a test owns its processes.
#
# Needs: ROOT (scripts/lib/common.sh), ECMP_WORK (a scratch directory), ECMP_BUILD (a built
# tree), ECMP_SOURCES (client addresses, at most 4000).

ECMP_VIP=10.99.0.1
ECMP_HOSTS=(1 2 3)
ECMP_BACKENDS=(1 2 3)
# Bird installs its ECMP route to the VIP in this table; ecmp-router-sync mirrors it into
# nexthop group ECMP_GROUP (resilient) that the main table's route to the VIP uses.
ECMP_BIRD_TABLE=100
ECMP_GROUP=100
ECMP_BUCKETS=512
ECMP_IDLE_TIMER=1
# shellcheck disable=SC2034  # used by scripts/ecmp-demo
ECMP_PACKAGES=(bird2 curl python3 iproute2 nftables)

ecmp_ns() { ip netns exec "ecmp-$1" "${@:2}"; }

ecmp_names() { echo client router "${ECMP_HOSTS[@]/#/h}" "${ECMP_BACKENDS[@]/#/b}"; }

# ecmp_down: kills every process in the ecmp-* namespaces and removes them.
ecmp_down() {
    local name pid
    for name in $(ecmp_names); do
        for pid in $(ip netns pids "ecmp-$name" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
    done
    for name in $(ecmp_names); do
        ip netns del "ecmp-$name" 2>/dev/null || true
    done
}

# ecmp_link A B ADDR_A ADDR_B: a veth pair between ecmp-A (e-A-B) and ecmp-B (e-B-A).
ecmp_link() {
    ip link add "e-$1-$2" netns "ecmp-$1" type veth peer name "e-$2-$1" netns "ecmp-$2"
    ecmp_ns "$1" ip addr add "$3" dev "e-$1-$2"
    ecmp_ns "$2" ip addr add "$4" dev "e-$2-$1"
    ecmp_ns "$1" ip link set "e-$1-$2" up
    ecmp_ns "$2" ip link set "e-$2-$1" up
}

# ecmp_router_pinning: the router keeps an established flow on its host, even after that
# host's path is withdrawn, so that a draining host's connections finish there: nft stores
# the output interface of a flow's SYN in its conntrack mark, every later packet of the flow
# (once the host answered) carries it as fwmark, and an ip rule per host routes those by a
# fixed route. A retransmitted SYN is routed by the group again (and re-marked), so that a
# client whose first SYN went to a host that just died gets through on its retry.
ecmp_router_pinning() {
    local n map=""
    for n in "${ECMP_HOSTS[@]}"; do
        map+="\"e-router-h$n\" : $n, "
        ecmp_ns router ip route add "$ECMP_VIP/32" via "10.1.$n.2" dev "e-router-h$n" \
            table "$((200 + n))"
        ecmp_ns router ip rule add fwmark "$n" lookup "$((200 + n))" priority 100
    done
    ecmp_ns router nft -f - <<EOF
table ip ecmp_pin {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    ct state established ct mark != 0 meta mark set ct mark
  }
  chain forward {
    type filter hook forward priority mangle; policy accept;
    ct state new ip daddr $ECMP_VIP ct mark set oifname map { ${map%, } }
  }
}
EOF
}

ecmp_write_configs() {
    local n b
    cat >"$ECMP_WORK/router.conf" <<EOF
router id 10.0.0.1;
protocol device {}
protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
protocol kernel { kernel table $ECMP_BIRD_TABLE; ipv4 { export all; }; merge paths on limit 16; }
EOF
    for n in "${ECMP_HOSTS[@]}"; do
        cat >>"$ECMP_WORK/router.conf" <<EOF
protocol bgp h$n { local 10.1.$n.1 as 65000; neighbor 10.1.$n.2 as 65001; bfd on;
  hold time 3; connect retry time 1; ipv4 { import all; export none; }; }
EOF
        cat >"$ECMP_WORK/h$n.bird.conf" <<EOF
router id 10.1.$n.2;
protocol device {}
protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
protocol static vip { ipv4; route $ECMP_VIP/32 blackhole; }
protocol bgp upstream { local 10.1.$n.2 as 65001; neighbor 10.1.$n.1 as 65000; bfd on;
  hold time 3; connect retry time 1; ipv4 { import none; export where proto = "vip"; }; }
EOF
        cat >"$ECMP_WORK/h$n.toml" <<EOF
[global]
workers = 1
shutdown_delay_ms = 2000
shutdown_grace_ms = 10000
[admin]
bind = "127.0.0.1:9000"
[[listener]]
bind = "$ECMP_VIP:80"
pool = "app"
[[pool]]
name = "app"
algorithm = "maglev"
  [pool.health]
  interval_ms = 200
  timeout_ms = 200
  rise = 1
  fall = 2
EOF
        for b in "${ECMP_BACKENDS[@]}"; do
            printf '  [[pool.backend]]\n  address = "10.2.%s.2:8000"\n' "$b" >>"$ECMP_WORK/h$n.toml"
        done
    done
}

# ecmp_up: the whole topology except the ringlb processes; returns once every daemon runs
# (the router's route to the VIP appears as the hosts' /healthz turns 200).
ecmp_up() {
    local name n i
    mkdir -p "$ECMP_WORK"
    for name in $(ecmp_names); do
        ip netns add "ecmp-$name"
        ecmp_ns "$name" ip link set lo up
        ecmp_ns "$name" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    done
    ecmp_ns router sysctl -qw net.ipv4.ip_forward=1
    # Hash the 5-tuple (source and destination address and port, protocol: fields 0x37) as a
    # hardware router does: flows of one client spread over the paths by their ports too.
    # (Policy 1 would reuse the hash the client's socket put on the packet, which a veth
    # carries across namespaces but a physical link does not, and `ip route get` could not
    # predict it.)
    ecmp_ns router sysctl -qw net.ipv4.fib_multipath_hash_policy=3 \
        net.ipv4.fib_multipath_hash_fields=0x0037

    # The client's source addresses (10.0.1.1, 10.0.1.2, ...) are routed to it rather than on
    # the link: one neighbour entry on the router instead of one per address (the kernel's
    # table holds 1,024 at most, gc_thresh3, which a namespace cannot raise).
    ecmp_link client router 10.0.0.2/24 10.0.0.1/24
    ecmp_ns client ip route add default via 10.0.0.1
    ecmp_ns router ip route add 10.0.0.0/16 via 10.0.0.2
    for ((i = 0; i < ECMP_SOURCES; i++)); do
        echo "address add 10.0.$((1 + i / 250)).$((1 + i % 250))/32 dev e-client-router"
    done | ecmp_ns client ip -batch -
    ecmp_write_configs
    for n in "${ECMP_BACKENDS[@]}"; do
        ecmp_link "b$n" router "10.2.$n.2/24" "10.2.$n.1/24"
        ecmp_ns "b$n" ip route add default via "10.2.$n.1"
        ecmp_ns "b$n" python3 "$ROOT/scripts/lib/ecmp-backend.py" "b$n" "10.2.$n.2" 8000 \
            >"$ECMP_WORK/b$n.log" 2>&1 &
    done
    for n in "${ECMP_HOSTS[@]}"; do
        ecmp_link "h$n" router "10.1.$n.2/24" "10.1.$n.1/24"
        ecmp_ns "h$n" ip route add default via "10.1.$n.1"
        ecmp_ns "h$n" ip addr add "$ECMP_VIP/32" dev lo
        ecmp_ns "h$n" bird -c "$ECMP_WORK/h$n.bird.conf" -s "$ECMP_WORK/h$n.ctl" \
            -P "$ECMP_WORK/h$n.bird.pid"
        # The VIP is announced only while /healthz answers 200 (checked every 100 ms).
        ecmp_ns "h$n" bash -c '
            state=""
            while sleep 0.1; do
                if curl -fsS -m 1 -o /dev/null http://127.0.0.1:9000/healthz 2>/dev/null
                then now=enable; else now=disable; fi
                if [ "$now" != "$state" ]; then
                    birdc -s "$1" "$now" vip >/dev/null && state=$now && echo "$(date +%T.%N) $now"
                fi
            done' healthz-watch "$ECMP_WORK/h$n.ctl" >"$ECMP_WORK/h$n.watch.log" 2>&1 &
    done
    ecmp_router_pinning
    # Lookups with fwmark 99 see bird's own route (plain multipath, hash-threshold): the demo
    # compares the two with `ip route get ... mark 99`. No packet carries that mark.
    ecmp_ns router ip rule add fwmark 99 lookup "$ECMP_BIRD_TABLE" priority 90
    ecmp_ns router python3 "$ROOT/scripts/lib/ecmp-router-sync" --table "$ECMP_BIRD_TABLE" \
        --group "$ECMP_GROUP" --buckets "$ECMP_BUCKETS" --idle-timer "$ECMP_IDLE_TIMER" \
        "$ECMP_VIP/32" >"$ECMP_WORK/router-sync.log" 2>&1 &
    ecmp_ns router bird -c "$ECMP_WORK/router.conf" -s "$ECMP_WORK/router.ctl" \
        -P "$ECMP_WORK/router.bird.pid"
}

# ecmp_start_ringlb N: starts host N's ringlb in the background (its log in ECMP_WORK).
ecmp_start_ringlb() {
    ecmp_ns "h$1" "$ECMP_BUILD/src/ringlb" --config "$ECMP_WORK/h$1.toml" \
        >"$ECMP_WORK/h$1.ringlb.log" 2>&1 &
}

# ecmp_paths: how many hosts the router's VIP group holds now.
ecmp_paths() {
    ecmp_ns router ip nexthop show id "$ECMP_GROUP" 2>/dev/null |
        grep -o 'group [0-9/,]*' | tr '/' '\n' | grep -c . || true
}

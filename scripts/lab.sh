#!/usr/bin/env bash
# lab.sh — a meshmq cluster on one machine: N hosts on a private LAN of network namespaces
# (meshmq-1…meshmq-N at 10.77.0.<i>, on a bridge in namespace meshmq-hub), one node in each,
# finding each other by mDNS. Multicast stays on that bridge: mDNS never reaches the machine's
# own network. Needs root (network namespaces) and Linux `ip`.
#
#   npm run lab -- up [N]                 build if needed, create N hosts (default 3) and start
#                                         meshmq<i>@10.77.0.<i> in host i (--discovery mdns, MQTT on
#                                         port 1883, cluster port 437<i>); logs in /tmp/meshmq-lab/<i>.log
#   npm run lab -- status [I] [--json]    `meshmq ctl cluster status` inside host I (default 1)
#   npm run lab -- ctl I ARGS...          any `meshmq ctl` command against node I, e.g. ctl 2 cluster leave
#   npm run lab -- sub I TOPIC [QOS]      subscribe at node I and print "topic message" lines (Ctrl-C ends)
#   npm run lab -- pub I TOPIC MSG [QOS]  publish one message at node I
#   npm run lab -- partition "1" "2 3"    cut every link between the two groups (open connections go
#                                         silent, new connects fail); heal undoes every cut
#   npm run lab -- heal
#   npm run lab -- isolate I | rejoin I   take host I off the LAN / bring it back
#   npm run lab -- logs I                 follow node I's log
#   npm run lab -- exec I CMD...          run CMD inside host I
#   npm run lab -- down                   stop the nodes (SIGTERM by recorded PID, SIGKILL after 10 s)
#                                         and remove the namespaces; logs stay in /tmp/meshmq-lab
#
# Example: npm run lab -- up 3; npm run lab -- sub 3 'sensors/#' &
#          npm run lab -- pub 1 sensors/t1 21.5 1; npm run lab -- status; npm run lab -- down
# pub/sub use the MQTT.js command-line client from node_modules (no mosquitto needed).
# Environment: MESHMQ_LAB_DIR (default /tmp/meshmq-lab); MESHMQ_CLUSTER_SECRET and other MESHMQ_*
# variables are passed on to the nodes.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${MESHMQ_LAB_DIR:-/tmp/meshmq-lab}
lab=meshmq
mqtt_port=1883
stop_timeout_s=10
start_timeout_s=20

die() { echo "lab: $*" >&2; exit 1; }
need_root() { [[ $EUID -eq 0 ]] || die "needs root (network namespaces); try: sudo npm run lab -- ${cmd:-up}"; }
addr() { echo "10.77.0.$1"; }
host() { echo "${lab}-$1"; }
hub() { echo "${lab}-hub"; }
node_name() { echo "meshmq$1@$(addr "$1")"; }
main_js() { echo "$root/dist/src/main.js"; }
size() { [[ -f $dir/size ]] && cat "$dir/size" || echo 0; }
check_host() {
  local n; n=$(size)
  [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= 1 && $1 <= n )) || die "no host '$1' (the lab has hosts 1 to $n; is it up?)"
}
in_host() { local i=$1; shift; ip netns exec "$(host "$i")" "$@"; }
mqtt_cli() { local i=$1; shift; in_host "$i" node "$root/node_modules/mqtt/build/bin/mqtt.js" "$@"; }

# The node whose PID is recorded for host $1, if that process is still a meshmq node.
live_pid() {
  local file=$dir/$1.pid pid
  [[ -f $file ]] || return 1
  pid=$(cat "$file")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "main.js start" && echo "$pid"
}

create_host() {
  local i=$1 h; h=$(host "$1")
  ip netns add "$h"
  # Both veth ends are made inside their namespaces: no interface name is taken on the machine.
  ip -n "$(hub)" link add "v${lab}-$i" type veth peer name eth0 netns "$h"
  ip -n "$(hub)" link set "v${lab}-$i" master br0 up
  ip -n "$h" link set lo up
  ip -n "$h" link set lo multicast on
  ip -n "$h" addr add "$(addr "$i")/24" dev eth0
  ip -n "$h" link set eth0 multicast on up
  ip -n "$h" route add 224.0.0.0/4 dev eth0   # mDNS inside a namespace needs a multicast route
}

remove_namespaces() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${lab}-([0-9]+|hub)$" || true); do ip netns del "$ns"; done
}

start_node() {
  local i=$1
  mkdir -p "$dir/data/$i"
  : > "$dir/$i.log"
  # setsid: the node outlives this script and ignores a Ctrl-C typed at it; `ip netns exec` and
  # setsid both exec, so $! is the node's own PID.
  MESHMQ_LOG_FORMAT=json setsid ip netns exec "$(host "$i")" node "$(main_js)" start \
    --name "$(node_name "$i")" --port "$mqtt_port" --discovery mdns --data-dir "$dir/data/$i" \
    --log-level info >> "$dir/$i.log" 2>&1 < /dev/null &
  echo $! > "$dir/$i.pid"
}

wait_started() {
  local i=$1 deadline=$((SECONDS + start_timeout_s))
  until grep -q '"msg":"broker_started"' "$dir/$i.log"; do
    if ! live_pid "$i" > /dev/null; then tail -n 20 "$dir/$i.log" >&2; die "node $i exited during start (log: $dir/$i.log)"; fi
    (( SECONDS < deadline )) || die "node $i did not log broker_started within ${start_timeout_s} s (log: $dir/$i.log)"
    sleep 0.2
  done
  echo "$(node_name "$i")  pid $(cat "$dir/$i.pid")  mqtt://$(addr "$i"):$mqtt_port  log $dir/$i.log"
}

up() {
  local n=${1:-3} i
  [[ $n =~ ^[0-9]+$ ]] && (( n >= 1 && n <= 9 )) || die "up takes 1 to 9 hosts, not '$n'"
  if ip netns list | grep -qE "^${lab}-(hub|[0-9]+)( |$)"; then die "a lab is up already: npm run lab -- down first"; fi
  (cd "$root" && node scripts/ensure-built.mjs) || {
    [[ -f $(main_js) ]] || die "build failed and $(main_js) does not exist"
    echo "lab: the build reported errors; using the JavaScript it emitted" >&2
  }
  trap 'if [[ $? -ne 0 ]]; then echo "lab: up failed; npm run lab -- down removes what it made" >&2; fi' EXIT
  mkdir -p "$dir"
  rm -rf "$dir/data"
  rm -f "$dir"/*.log "$dir"/*.pid
  echo "$n" > "$dir/size"
  ip netns add "$(hub)"
  ip -n "$(hub)" link add br0 type bridge
  ip -n "$(hub)" link set br0 up
  for i in $(seq 1 "$n"); do create_host "$i"; done
  for i in $(seq 1 "$n"); do start_node "$i"; done
  for i in $(seq 1 "$n"); do wait_started "$i"; done
}

down() {
  local i pid deadline
  for i in $(seq 1 "$(size)"); do
    if pid=$(live_pid "$i"); then kill -TERM "$pid"; fi
  done
  for i in $(seq 1 "$(size)"); do
    deadline=$((SECONDS + stop_timeout_s))
    while pid=$(live_pid "$i"); do
      if (( SECONDS >= deadline )); then echo "lab: node $i did not stop in ${stop_timeout_s} s; SIGKILL" >&2; kill -KILL "$pid"; fi
      sleep 0.2
    done
    rm -f "$dir/$i.pid"
  done
  remove_namespaces
}

partition() {
  local a b
  [[ -n ${1:-} && -n ${2:-} ]] || die 'partition takes two groups, e.g. partition "1" "2 3"'
  for a in $1; do check_host "$a"; done
  for b in $2; do check_host "$b"; done
  for a in $1; do for b in $2; do
    [[ $a != "$b" ]] || die "host $a is in both groups"
    ip -n "$(host "$a")" route replace blackhole "$(addr "$b")/32"
    ip -n "$(host "$b")" route replace blackhole "$(addr "$a")/32"
  done; done
}

heal() {
  local i dst
  for i in $(seq 1 "$(size)"); do
    for dst in $(ip -n "$(host "$i")" route show type blackhole | awk '{print $2}'); do
      ip -n "$(host "$i")" route del blackhole "$dst"
    done
  done
}

cmd=${1:-}; shift || true
case "$cmd" in
  up) need_root; up "${1:-3}" ;;
  down) need_root; down ;;
  status)
    need_root; i=1; json=()
    for arg in "$@"; do if [[ $arg == --json ]]; then json=(--json); else i=$arg; fi; done
    check_host "$i"; in_host "$i" node "$(main_js)" ctl --data-dir "$dir/data/$i" "${json[@]}" cluster status ;;
  ctl) need_root; i=${1:?ctl I ARGS...}; shift; check_host "$i"; in_host "$i" node "$(main_js)" ctl --data-dir "$dir/data/$i" "$@" ;;
  sub) need_root; i=${1:?sub I TOPIC [QOS]}; check_host "$i"
    mqtt_cli "$i" sub -h "$(addr "$i")" -p "$mqtt_port" -t "${2:?sub I TOPIC [QOS]}" -q "${3:-0}" -v ;;
  pub) need_root; i=${1:?pub I TOPIC MESSAGE [QOS]}; check_host "$i"
    mqtt_cli "$i" pub -h "$(addr "$i")" -p "$mqtt_port" -t "${2:?pub I TOPIC MESSAGE [QOS]}" -m "${3:?pub I TOPIC MESSAGE [QOS]}" -q "${4:-0}" ;;
  partition) need_root; partition "${1:-}" "${2:-}" ;;
  heal) need_root; heal ;;
  isolate) need_root; check_host "${1:-}"; ip -n "$(host "$1")" link set eth0 down ;;
  rejoin) need_root; check_host "${1:-}"; ip -n "$(host "$1")" link set eth0 up; ip -n "$(host "$1")" route replace 224.0.0.0/4 dev eth0 ;;
  logs) check_host "${1:-}"; exec tail -n 50 -f "$dir/$1.log" ;;
  exec) need_root; i=${1:?exec I CMD...}; shift; check_host "$i"; in_host "$i" "$@" ;;
  *) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 2 ;;
esac

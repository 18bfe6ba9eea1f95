#!/usr/bin/env bash
# Entry point of `make bench`: Membrane vs the bridge CNI plugin, side by side
# on this machine. Extra arguments go to bench/bench.ts (--quick, --pods N,
# --rounds N, --out DIR). Results: bench/out/latest.{json,md}.
#
# Everything the benchmark makes is named mbb-*: network namespaces, the pin
# directory /sys/fs/bpf/mbb-bench, state under /var/lib/mbb-bench, host
# blackhole routes for its CIDRs. bench.ts removes it all itself; the trap
# below is the backstop for when that process is killed outright.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -x .tools/node/bin/node ]; then export PATH="$PWD/.tools/node/bin:$PATH"; fi

CIDRS=(10.210.0.0/24 10.211.0.0/24 10.212.0.0/24)

cleanup() {
  local ns pids
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^mbb-/ {print $1}'); do
    # Only processes this benchmark started live in its namespaces.
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  done
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^mbb-/ {print $1}'); do
    ip netns del "$ns" 2>/dev/null
  done
  for cidr in "${CIDRS[@]}"; do
    ip route show type blackhole "$cidr" 2>/dev/null | grep -q . && ip route del blackhole "$cidr" 2>/dev/null
  done
  rm -rf /sys/fs/bpf/mbb-bench /var/lib/mbb-bench
  return 0
}

if [ "$(id -u)" != 0 ]; then
  echo "bench: run as root (network namespaces, veths, eBPF)" >&2
  exit 1
fi
cleanup # leftovers of an earlier run that was killed
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

node bench/bench.ts "$@"

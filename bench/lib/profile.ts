// Where a Membrane CNI ADD spends its time. Each part of the ADD path is
// timed on its own, on the same node, after the ADD/DEL benchmark:
//
//   runtime → nsenter → /bin/sh bin/membrane-cni → node dist/cni/main.js
//     → HTTP PUT /v1/endpoints on the agent's unix socket → agent:
//         record "creating"  (writeJsonAtomic: write + fsync + rename + dir fsync)
//         ip -batch -        (veth pair, host route, neighbour)       child 1
//         nsenter … sh -ec '…; exec ip -batch -'  (pod side)          child 2
//         ip -j link show    (host ifindex)                           child 3
//         map update + tc attach (libbpf, in process)
//         record "ready"     (writeJsonAtomic again)
//
// The parts: the plugin process alone (CNI VERSION: no agent call) and its
// CPU time, bare Node startup, the ESM import of node:http against require,
// the bridge plugin alone for comparison, the agent's work alone (PUT
// /v1/endpoints straight to the socket, no plugin process), the three kinds
// of child processes the agent spawns (same commands, no-op payloads,
// spawned from Node as the agent does) and the atomic write on the agent's
// state directory. bench/lib/trace.ts times the same path inside real ADDs.
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../../src/agent/client.ts';
import type { EndpointJSON } from '../../src/agent/api-types.ts';
import { endpointPath } from '../../src/cni/plugin.ts';
import { writeJsonAtomic } from '../../src/kvstore/atomic-file.ts';
import { NODE_BIN, REPO } from '../../src/sandbox/topology.ts';
import type { BridgeNode, MembraneNode } from './nodes.ts';
import { exec, must, netnsPath } from './proc.ts';
import { summarize, type Summary } from './stats.ts';

export interface ProfilePart {
  key: string;
  what: string;
  /** How many times one Membrane ADD incurs it (0: shown for comparison). */
  perAdd: number;
  ms: Summary;
}

async function times(n: number, fn: (i: number) => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

const msSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

export async function profileAdd(m: MembraneNode, b: BridgeNode, n: number, log: (s: string) => void): Promise<ProfilePart[]> {
  const parts: ProfilePart[] = [];
  const add = (key: string, what: string, perAdd: number, samples: number[]) => {
    parts.push({ key, what, perAdd, ms: summarize(samples) });
    log(`  ${key.padEnd(22)} p50 ${summarize(samples).p50.toFixed(2)} ms`);
  };
  const version = { cniVersion: '1.0.0', name: 'mbb-profile' };

  add('plugin_version_membrane', 'membrane-cni process alone (CNI VERSION through the runtime: nsenter + sh + node + imports)', 1,
    await times(n, async () => {
      const t0 = process.hrtime.bigint();
      const r = await m.cni.exec('membrane-cni', 'VERSION', {}, version);
      const ms = msSince(t0);
      if (r.code !== 0) throw new Error(`membrane-cni VERSION failed: ${r.stdout}${r.stderr}`);
      return ms;
    }));
  // CPU time (user + sys, all threads) of one plugin process: what it costs
  // when the node's CPUs are busy. bash's `time` reports the child's rusage.
  const cpu = (bin: string) => async () => {
    const script = `TIMEFORMAT='%3U %3S'; time (nsenter --net=${netnsPath(m.nodeNs)} -- ${bin} >/dev/null <<<'${JSON.stringify(version)}')`;
    const r = await exec('bash', ['-c', script], { env: { ...process.env, CNI_COMMAND: 'VERSION' } });
    const [u, sy] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number) as [number, number];
    return (u + sy) * 1000;
  };
  add('plugin_cpu_membrane', 'membrane-cni process: CPU time, user + sys (CNI VERSION)', 0, await times(n, cpu(path.join(REPO, 'bin/membrane-cni'))));
  add('plugin_cpu_bridge', 'bridge plugin process: CPU time, user + sys (CNI VERSION)', 0, await times(n, cpu('/usr/lib/cni/bridge')));
  add('node_bare', 'bare Node startup (nsenter + node -e 0)', 0,
    await times(n, async () => (await must('nsenter', [`--net=${netnsPath(m.nodeNs)}`, '--', NODE_BIN, '-e', '0'])).ms));
  // membrane-cni's only heavy import is node:http (via AgentClient). Timed
  // inside a fresh node: ESM import (what dist/cni does) vs require.
  const inNode = (code: string, esm: boolean) => async () => {
    const r = await must(NODE_BIN, [...(esm ? ['--input-type=module'] : []), '-e', code]);
    return Number(r.stdout.trim());
  };
  add('node_import_http_esm', "in a fresh node: ESM import of node:http (the namespace evaluates http's lazy WebSocket getter, loading undici)", 1,
    await times(n, inNode("const t = performance.now(); await import('node:http'); console.log(performance.now() - t)", true)));
  add('node_require_http', 'in a fresh node: require(\'node:http\') (no namespace: undici stays unloaded)', 0,
    await times(n, inNode("const t = performance.now(); require('node:http'); console.log(performance.now() - t)", false)));
  add('plugin_version_bridge', "bridge plugin process alone (CNI VERSION: nsenter + Go binary)", 0,
    await times(n, async () => {
      const t0 = process.hrtime.bigint();
      const r = await b.cni.exec('bridge', 'VERSION', {}, version);
      const ms = msSince(t0);
      if (r.code !== 0) throw new Error(`bridge VERSION failed: ${r.stdout}${r.stderr}`);
      return ms;
    }));

  // The agent's work without the plugin process: PUT straight to its socket.
  const client = new AgentClient({ socketPath: m.topology.socket, timeoutMs: 20_000 });
  add('agent_http_noop', 'agent HTTP round trip (GET /v1/healthz)', 1,
    await times(n, () => timed(() => client.get('/v1/healthz'))));
  const putMs: number[] = [];
  const deleteMs: number[] = [];
  const made: Array<{ ns: string; containerID: string }> = [];
  try {
    for (let i = 0; i < n; i++) {
      const ns = `mbb-m-prof${i}`;
      await must('ip', ['netns', 'add', ns]);
      const containerID = `mbb-profile-${i}`;
      made.push({ ns, containerID });
      const t0 = process.hrtime.bigint();
      const ep = await client.put<EndpointJSON>('/v1/endpoints', { containerID, ifName: 'eth0', netns: netnsPath(ns), podNamespace: 'bench', podName: `prof${i}` });
      putMs.push(msSince(t0));
      if (!ep.ipv4) throw new Error('agent returned no address');
    }
    for (const { containerID } of made) {
      const t0 = process.hrtime.bigint();
      await client.delete(endpointPath(containerID, 'eth0'));
      deleteMs.push(msSince(t0));
    }
  } finally {
    for (const { ns } of made) await exec('ip', ['netns', 'del', ns]);
  }
  add('agent_put_endpoint', "agent's whole ADD work (PUT /v1/endpoints on the socket, no plugin process)", 1, putMs);
  add('agent_delete_endpoint', "agent's whole DEL work (DELETE /v1/endpoints/…)", 0, deleteMs);

  // The agent's three children, same commands with no-op payloads.
  const podNs = netnsPath([...m.pods.values()][0]!.netnsName);
  add('child_ip_batch', 'child: ip -batch - (host side)', 1,
    await times(n, async () => (await must('ip', ['-batch', '-'], { input: 'link show dev lo\n' })).ms));
  add('child_nsenter_sh_ip', "child: nsenter --net=POD -- sh -ec '…; exec ip -batch -' (pod side)", 1,
    await times(n, async () => (await must('nsenter', [`--net=${podNs}`, '--', 'sh', '-ec', 'for f in all default; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6 2>/dev/null || true; done; exec ip -batch -'], { input: 'link show dev lo\n' })).ms));
  add('child_ip_json', 'child: ip -j link show dev … (ifindex)', 1,
    await times(n, async () => (await must('ip', ['-j', 'link', 'show', 'dev', 'lo'])).ms));

  // Durable state writes, on the agent's state directory's file system.
  const dir = path.join(m.topology.stateDir, 'mbb-profile');
  const record = { id: 1, containerID: 'x'.repeat(40), ifName: 'eth0', state: 'creating', netns: '/var/run/netns/x', podNamespace: 'bench', podName: 'p', labels: {}, ipv4: '10.210.0.9', prefixLength: 32, gateway: '10.210.0.1', podMAC: '0a:58:0a:d2:00:09', hostIfName: 'lxc0123456789a', hostIfIndex: 9, hostMAC: '0a:5a:00:00:00:00', createdAt: new Date().toISOString() };
  try {
    add('fsync_write_atomic', 'writeJsonAtomic of an endpoint record (write, fsync, rename, fsync dir)', 2,
      await times(n, async (i) => {
        const t0 = process.hrtime.bigint();
        writeJsonAtomic(path.join(dir, `r${i % 4}.json`), record);
        return msSince(t0);
      }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return parts;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return msSince(t0);
}

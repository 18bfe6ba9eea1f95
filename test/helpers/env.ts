// Shared set-up for the privileged integration tests.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../src/endpoint/exec.ts';
import { Topology, type TopologySpec } from '../../src/sandbox/topology.ts';

/** Privileged tests never skip silently: without root they fail with a sentence. */
export function requireRoot(): void {
  assert.equal(process.getuid?.(), 0, 'the integration tests need root (they create network namespaces and load eBPF programs): run them with sudo or as root');
  for (const f of ['dist/cli/main.js', 'dist/cni/main.js', 'build/bpf/bpf_lxc.o']) {
    assert.ok(fs.existsSync(path.join(import.meta.dirname, '../..', f)), `${f} is missing: run 'make build' before the integration tests`);
  }
}

/** A topology with a unique work dir and pin dir. */
export async function makeTopology(name: string, podCidr: string, uplink: string, blackholes?: string[], extra: Partial<TopologySpec> = {}): Promise<Topology> {
  requireRoot();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const spec: TopologySpec = { name, podCidr, uplink, workDir, pinDir: `/sys/fs/bpf/${name}-${process.pid}`, ...(blackholes ? { blackholes } : {}), ...extra };
  return Topology.create(spec);
}

/** What a topology named `prefix` could have left behind on the host. */
export async function leftovers(prefix: string): Promise<string[]> {
  const found: string[] = [];
  const ns = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${prefix}-`));
  found.push(...ns.map((n) => `netns ${n}`));
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes(prefix));
  found.push(...links.map((l) => `link ${l.split(':')[1]?.trim()}`));
  for (const f of fs.readdirSync('/sys/fs/bpf')) if (f.startsWith(prefix)) found.push(`pin /sys/fs/bpf/${f}`);
  return found;
}

// Shared by the CNI integration tests: one isolated node per test file, the
// real plugin binary run inside it, and the end-of-file leak check.
import type { ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../src/endpoint/exec.ts';
import { hostIfName } from '../../src/endpoint/names.ts';
import { netnsPath, REPO, sleep, Topology, type Pod } from '../../src/sandbox/topology.ts';
import type { EndpointJSON } from '../../src/agent/api-types.ts';
import type { PluginRun } from '../../src/sandbox/cni-runtime.ts';
import { requireRoot } from '../helpers/env.ts';

export const UPLINK = '198.51.100';
export const CNI_BIN = path.join(REPO, 'bin', 'membrane-cni');
export const MEMBRANE_BIN = path.join(REPO, 'bin', 'membrane');

export { requireRoot };

/** A node for one test file, with everything the leak check needs to know. */
export class Node {
  readonly t: Topology;
  readonly workDir: string;
  readonly pinDir: string;
  /** Every process we started that must be gone at the end. */
  readonly pids = new Set<number>();
  /** Every attachment made, so that its host veth name can be checked on the host. */
  readonly attachments = new Set<string>();

  private constructor(t: Topology, workDir: string, pinDir: string) {
    this.t = t;
    this.workDir = workDir;
    this.pinDir = pinDir;
  }

  static async create(name: string, podCidr: string): Promise<Node> {
    requireRoot();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    const pinDir = `/sys/fs/bpf/mbc-${process.pid}`;
    try {
      const t = await Topology.create({ name, podCidr, uplink: UPLINK, workDir, pinDir });
      return new Node(t, workDir, pinDir);
    } catch (err) {
      fs.rmSync(workDir, { recursive: true, force: true });
      throw err;
    }
  }

  get name(): string {
    return this.t.spec.name;
  }

  async startAgent(): Promise<ChildProcess> {
    const child = await this.t.startAgent();
    if (child.pid) this.pids.add(child.pid);
    return child;
  }

  /** Remembers a child process to check it is gone at the end. */
  track<T extends ChildProcess>(child: T): T {
    if (child.pid) this.pids.add(child.pid);
    return child;
  }

  /** Topology.addPod, remembering the attachment and the server process for the leak check. */
  async addPod(namespace: string, name: string, opts: Parameters<Topology['addPod']>[2] = {}): Promise<Pod> {
    this.attachments.add(`${this.name}-${namespace}-${name}/eth0`);
    const pod = await this.t.addPod(namespace, name, opts);
    if (pod.server) this.track(pod.server);
    return pod;
  }

  /** Creates a bare netns for a pod (no CNI yet). */
  async podNetns(pod: string): Promise<{ name: string; path: string }> {
    const name = `${this.name}-${pod}`;
    await run('ip', ['netns', 'add', name]);
    return { name, path: netnsPath(name) };
  }

  /** Runs membrane-cni inside the node netns with exactly this environment (plus PATH) and stdin. */
  cni(env: Record<string, string | undefined>, stdin: unknown): Promise<PluginOutput> {
    if (env.CNI_CONTAINERID) this.attachments.add(`${env.CNI_CONTAINERID}/${env.CNI_IFNAME ?? 'eth0'}`);
    return runPlugin(CNI_BIN, env, typeof stdin === 'string' ? stdin : JSON.stringify(stdin), netnsPath(this.t.nodeNs));
  }

  async endpoints(): Promise<EndpointJSON[]> {
    return this.t.endpoints();
  }

  /** Host-side links (names) in the node netns. */
  async nodeLinks(): Promise<string[]> {
    const r = await this.t.inNode('ip', '-j', 'link', 'show');
    return (JSON.parse(r.stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
  }

  /** Stops the agent politely, then removes everything. Safe to call twice. */
  async destroy(): Promise<void> {
    for (const pod of this.t.pods.values()) if (pod.server?.pid) this.pids.add(pod.server.pid);
    await this.t.stopAgent('SIGTERM').catch(() => undefined);
    await this.t.destroy();
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Asserts that nothing of this node is left on the machine. */
  async assertNothingLeaked(): Promise<void> {
    const prefix = `${this.name}-`;
    const netns = (await run('ip', ['netns', 'list'])).stdout
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(prefix));
    assert.deepEqual(netns, [], `network namespaces of ${this.name} left behind`);

    const hostIfs = new Set([...this.attachments].map((a) => {
      const i = a.lastIndexOf('/');
      return hostIfName(a.slice(0, i), a.slice(i + 1));
    }));
    const hostLinks = (JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
    const leakedLinks = hostLinks.filter((n) => n.startsWith(prefix) || hostIfs.has(n) || /^(uplink|membrane_host|membrane_net)$/.test(n));
    assert.deepEqual(leakedLinks, [], 'links of this node left in the host netns');

    assert.equal(fs.existsSync(this.pinDir), false, `pin directory ${this.pinDir} left behind`);

    const blackholes = (await run('ip', ['route', 'show', 'type', 'blackhole'])).stdout;
    assert.ok(!blackholes.includes(this.t.spec.podCidr), `blackhole route for ${this.t.spec.podCidr} left on the host`);

    // Processes: the ones we started, and anything that still names our work dir.
    const deadline = Date.now() + 5000;
    let alive: number[] = [];
    for (;;) {
      alive = [...this.pids].filter(isAlive);
      alive.push(...processesMentioning(this.workDir).filter((p) => !alive.includes(p)));
      if (alive.length === 0 || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.deepEqual(alive.map(describeProcess), [], 'processes of this node still running');
  }
}

export type PluginOutput = PluginRun;

/** Spawns a plugin binary in a netns with an exact environment (unset values are left out). */
export function runPlugin(bin: string, env: Record<string, string | undefined>, stdin: string, netns: string): Promise<PluginOutput> {
  const full: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) full[k] = v;
  return run('nsenter', [`--net=${netns}`, '--', bin], { env: full, input: stdin, allowFail: true });
}

export function cniError(r: PluginOutput): { cniVersion: string; code: number; msg: string; details?: string } {
  assert.notEqual(r.code, 0, `expected the plugin to fail; stdout: ${r.stdout}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    assert.fail(`error output on stdout is not JSON: ${JSON.stringify(r.stdout)} (stderr: ${r.stderr})`);
  }
  const e = parsed as { cniVersion: string; code: number; msg: string; details?: string };
  assert.equal(typeof e.code, 'number', `error has no numeric code: ${r.stdout}`);
  assert.equal(typeof e.msg, 'string', `error has no msg: ${r.stdout}`);
  assert.ok(e.msg.length > 0);
  return e;
}

/** A successful run: exit 0; parses stdout when it is not empty. */
export function cniOk<T = unknown>(r: PluginOutput): T | undefined {
  assert.equal(r.code, 0, `plugin failed (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  return r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as T);
}

/** Polls until fn returns a truthy value, or fails with the last value seen. */
export async function eventually<T>(what: string, fn: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      assert.fail(`${what}: not within ${timeoutMs} ms (last value ${JSON.stringify(last)}${lastErr ? `, last error ${(lastErr as Error).message}` : ''})`);
    }
    await sleep(100);
  }
}

function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent's bookkeeping is left.
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(text) && isAlive(Number(d))) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function describeProcess(pid: number): string {
  try {
    return `${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()}`;
  } catch {
    return String(pid);
  }
}

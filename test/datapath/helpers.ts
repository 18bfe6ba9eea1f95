// Shared fixtures for the datapath library's kernel tests: the compiled test
// programs, temporary pin dirs, veth pairs, network namespaces and cgroups,
// each with a remover, and a leak check for everything this process made.
//
// Names carry this process's pid so that test files running in parallel
// never see (or remove) each other's resources:
//   pins     /sys/fs/bpf/mbtest-<pid>-<n>
//   veths    mbd<pid base 36>-<n>a / -<n>b
//   netns    mbtest-<pid>-<n>
//   cgroups  /sys/fs/cgroup/unified/mbtest-<pid>[-<n>]
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MembraneError } from '../../src/errors.ts';
import { loadObject, type LoadedObject } from '../../src/datapath/object.ts';

const execFileP = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BPF_BUILD = path.join(ROOT, 'build/bpf');
export const TEST_PROGS = path.join(BPF_BUILD, 'test/test_progs.o');
export const BAD_PROG = path.join(BPF_BUILD, 'test/bad_prog.o');
export const BPFFS = '/sys/fs/bpf';
export const CGROUP2 = '/sys/fs/cgroup/unified';

/** Counter slots in t_counts and config slots in t_config (bpf/test/test_progs.c). */
export const SLOT = { xdp: 0, tcA: 1, tcB: 2, connect: 3, connectDenied: 4, seq: 5 } as const;
export const CFG = { denyPort: 0, udpPort: 1 } as const;

const PID = process.pid;
const PID36 = PID.toString(36);
export const PIN_PREFIX = `mbtest-${PID}-`;
export const VETH_PREFIX = `mbd${PID36}-`;
export const NETNS_PREFIX = `mbtest-${PID}-`;
export const CGROUP_PREFIX = `mbtest-${PID}`;

let seq = 0;
function next(): number {
  seq += 1;
  return seq;
}

/** Registers cleanups for one test. */
export type Defer = (fn: () => void | Promise<void>) => void;

/**
 * Cleanups that run when the test ends — pass or fail — in reverse order of
 * registration (t.after alone runs them first-registered-first, which would
 * remove a cgroup before detaching from it). Every cleanup runs even when an
 * earlier one throws; their errors fail the test together.
 */
export function deferrer(t: { after: (fn: () => Promise<void>) => void }): Defer {
  const fns: (() => void | Promise<void>)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const fn of fns.reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanups failed`);
  });
  return (fn) => {
    fns.push(fn);
  };
}

/** Privileged tests must not skip silently: this fails them with the reason. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    assert.fail('these tests load eBPF programs, attach to devices and create cgroups: run them as root (sudo node --test ...)');
  }
}

/** Fails with a sentence when `make build` has not produced the test objects. */
export function requireObjects(): void {
  for (const f of [TEST_PROGS, BAD_PROG]) {
    if (!fs.existsSync(f)) assert.fail(`${path.relative(ROOT, f)} is missing — run 'make build' first`);
  }
}

/** Runs a command; throws with its stderr when it fails. */
export function sh(cmd: string, ...args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/** Runs a command without blocking the event loop. */
export async function shAsync(cmd: string, ...args: string[]): Promise<string> {
  try {
    const r = await execFileP(cmd, args, { encoding: 'utf8' });
    return r.stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/** A fresh directory on bpffs for pins. */
export function makePinDir(): { dir: string; remove: () => void } {
  const dir = path.join(BPFFS, `${PIN_PREFIX}${next()}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(dir);
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface VethPair {
  /** Stays in this network namespace; programs attach here. */
  a: string;
  ifindexA: number;
  macA: string;
  /** Lives in `netns`, with address 10.99.0.1/24 and a permanent neighbour 10.99.0.2 → macA. */
  b: string;
  netns: string;
  /** Sends `count` UDP datagrams from the namespace through b to a (10.99.0.2:port). */
  sendUdp(count: number, port: number): Promise<void>;
  remove(): void;
}

export const PEER_IP = '10.99.0.1';
export const TARGET_IP = '10.99.0.2';

/**
 * A veth pair whose far end sits in its own network namespace, so traffic can
 * be sent into `a` without touching this namespace's addresses or routes.
 */
export function makeVeth(): VethPair {
  const n = next();
  const a = `${VETH_PREFIX}${n}a`;
  const b = `${VETH_PREFIX}${n}b`;
  const netns = `${NETNS_PREFIX}${n}`;
  const remove = (): void => {
    // Deleting either end deletes the pair; the namespace goes last.
    try {
      execFileSync('ip', ['link', 'del', a], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
    try {
      execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  };
  try {
    sh('ip', 'netns', 'add', netns);
    sh('ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', netns);
    sh('ip', 'link', 'set', a, 'up');
    const link = JSON.parse(sh('ip', '-j', 'link', 'show', 'dev', a)) as { ifindex: number; address: string }[];
    const ifindexA = link[0]!.ifindex;
    const macA = link[0]!.address;
    const inNs = (...args: string[]): string => sh('ip', '-n', netns, ...args);
    inNs('link', 'set', 'lo', 'up');
    inNs('addr', 'add', `${PEER_IP}/24`, 'dev', b);
    inNs('link', 'set', b, 'up');
    inNs('neigh', 'add', TARGET_IP, 'lladdr', macA, 'dev', b, 'nud', 'permanent');
    return {
      a,
      ifindexA,
      macA,
      b,
      netns,
      async sendUdp(count, port) {
        await shAsync(
          'ip', 'netns', 'exec', netns, 'bash', '-c',
          `for ((i = 0; i < ${count}; i++)); do echo x > /dev/udp/${TARGET_IP}/${port}; done`,
        );
      },
      remove,
    };
  } catch (err) {
    remove();
    throw err;
  }
}

/** A fresh cgroup-v2 directory; remove() waits for it to empty. */
export function makeCgroup(): { path: string; remove: () => Promise<void> } {
  if (!fs.existsSync(path.join(CGROUP2, 'cgroup.procs'))) {
    assert.fail(`cgroup v2 is not mounted at ${CGROUP2} — these tests need it there`);
  }
  const dir = path.join(CGROUP2, `${CGROUP_PREFIX}-${next()}`);
  fs.mkdirSync(dir);
  return {
    path: dir,
    async remove() {
      // A process that just exited may still be listed for a moment.
      for (let i = 0; ; i++) {
        try {
          fs.rmdirSync(dir);
          return;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') return;
          if (code !== 'EBUSY' || i >= 50) throw err;
          await sleep(20);
        }
      }
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Everything with this process's prefixes that still exists. */
export function leftovers(): string[] {
  const left: string[] = [];
  const links = JSON.parse(sh('ip', '-j', 'link', 'show')) as { ifname: string }[];
  for (const l of links) if (l.ifname.startsWith(VETH_PREFIX)) left.push(`link ${l.ifname}`);
  const netns = sh('ip', 'netns', 'list').split('\n').map((l) => l.split(' ')[0] ?? '');
  for (const ns of netns) if (ns.startsWith(NETNS_PREFIX)) left.push(`netns ${ns}`);
  for (const e of fs.readdirSync(BPFFS)) if (e.startsWith(PIN_PREFIX)) left.push(`pin ${path.join(BPFFS, e)}`);
  if (fs.existsSync(CGROUP2)) {
    for (const e of fs.readdirSync(CGROUP2)) if (e.startsWith(CGROUP_PREFIX)) left.push(`cgroup ${path.join(CGROUP2, e)}`);
  }
  return left;
}

/** The leak check each test file runs last. */
export function assertNoLeftovers(): void {
  assert.deepEqual(leftovers(), [], 'a test left kernel resources behind');
}

/** Open file descriptors of this process (to check that close() closes). */
export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Ethernet + IPv4 + UDP frame with the given addresses and ports (checksums left zero). */
export function udpFrame(src: string, dst: string, sport: number, dport: number, payload = Buffer.from('membrane')): Buffer {
  const eth = Buffer.alloc(14);
  Buffer.from([2, 0, 0, 0, 0, 1]).copy(eth, 0);
  Buffer.from([2, 0, 0, 0, 0, 2]).copy(eth, 6);
  eth.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  Buffer.from(src.split('.').map(Number)).copy(ip, 12);
  Buffer.from(dst.split('.').map(Number)).copy(ip, 16);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([eth, ip, udp, payload]);
}

/** Asserts that fn throws a MembraneError and returns it. */
export function catchError(fn: () => unknown): MembraneError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MembraneError, `expected a MembraneError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error, but the call succeeded');
}

/**
 * Loads the test programs once for a file (nothing pinned) in `before`, and
 * in `after` closes them, removes the pin dir and checks nothing leaked.
 * Returns an accessor that fails clearly if the load did not happen.
 */
export function useTestObject(setup: () => void = () => undefined): () => LoadedObject {
  let pins: { dir: string; remove: () => void } | undefined;
  let obj: LoadedObject | undefined;
  before(() => {
    requireRoot();
    requireObjects();
    setup();
    pins = makePinDir();
    obj = loadObject({ file: TEST_PROGS, pinDir: pins.dir, pin: [] });
  });
  after(() => {
    obj?.close();
    pins?.remove();
    assertNoLeftovers();
  });
  return () => {
    assert.ok(obj, 'the test object is loaded');
    return obj;
  };
}

// A timeline of real Membrane CNI ADDs from kernel tracepoints (perf record,
// system-wide, scheduler and a few syscall tracepoints: cheap, no ptrace).
// Each ADD is cut into the phases it goes through:
//
//   runtime fork ─► exec nsenter ─► exec bin/membrane-cni (sh) ─► exec node
//   ─► connect(agent.sock) ─► agent: accept, record, 3 children, BPF, record
//   ─► plugin exits
//
// For the agent's children, "fork" is the time from the agent's fork to the
// child's first exec (the cost of forking a big Node process) and "run" from
// that exec to the child's exit.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { exec } from './proc.ts';
import { summarize, type Summary } from './stats.ts';

const EVENTS = [
  'sched:sched_process_fork',
  'sched:sched_process_exec',
  'sched:sched_process_exit',
  'syscalls:sys_enter_clone',
  'syscalls:sys_enter_connect',
  'syscalls:sys_exit_accept4',
  'syscalls:sys_enter_fsync',
  'syscalls:sys_exit_fsync',
];

export async function perfAvailable(): Promise<boolean> {
  const r = await exec('perf', ['list', 'sched:sched_process_exec']).catch(() => undefined);
  return !!r && r.code === 0 && r.stdout.includes('sched_process_exec');
}

export class PerfRecording {
  readonly #child: ChildProcess;
  readonly file: string;
  private constructor(child: ChildProcess, file: string) {
    this.#child = child;
    this.file = file;
  }

  static async start(file: string): Promise<PerfRecording> {
    const child = spawn('perf', ['record', '-q', '-a', '-o', file, ...EVENTS.flatMap((e) => ['-e', e])], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    // perf has no "ready" signal; the file appears once the session is set up.
    for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    if (child.exitCode !== null) throw new Error(`perf record exited: ${err.trim()}`);
    return new PerfRecording(child, file);
  }

  /** SIGINT (perf writes its file and exits), then the decoded events. */
  async stop(): Promise<Ev[]> {
    if (this.#child.exitCode === null) {
      const done = new Promise((r) => this.#child.once('exit', r));
      this.#child.kill('SIGINT');
      await done;
    }
    const r = await exec('perf', ['script', '-i', this.file, '-F', 'comm,pid,tid,time,event,trace']);
    fs.rmSync(this.file, { force: true });
    fs.rmSync(`${this.file}.old`, { force: true });
    return parse(r.stdout);
  }

  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill('SIGKILL');
  }
}

export interface Ev {
  pid: number;
  tid: number;
  t: number; // ms
  event: string;
  fields: Record<string, string>;
}

export function parse(text: string): Ev[] {
  const out: Ev[] = [];
  const re = /^\s*.*?\s(\d+)\/(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const fields: Record<string, string> = {};
    for (const f of m[5]!.matchAll(/(\w+)[=:] ?(\S+)/g)) fields[f[1]!] = f[2]!.replace(/,$/, '');
    out.push({ pid: Number(m[1]), tid: Number(m[2]), t: Number(m[3]) * 1000, event: m[4]!.replace(/^\w+:/, ''), fields });
  }
  return out;
}

export interface AddTimeline {
  /** ms per phase for one ADD */
  phases: Record<string, number>;
  /** fork delay and run time of each agent child, in order */
  children: Array<{ exec: string; forkMs: number; runMs: number }>;
  fsyncs: number[];
}

export const PHASES = [
  ['runtime_fork', 'runtime forks, child execs nsenter'],
  ['nsenter', 'nsenter joins the node netns, execs bin/membrane-cni'],
  ['sh_wrapper', 'sh wrapper (readlink, dirname) until it execs node'],
  ['node_startup', 'node: startup, module loading, stdin, until connect()'],
  ['agent_before_children', 'agent: accept, parse, IPAM, record "creating" (fsyncs) until first fork'],
  ['agent_children', 'agent: the 3 child processes (fork + run, back to back)'],
  ['agent_after_children', 'agent: map update + tc attach + record "ready" (fsyncs)'],
  ['reply_exit', 'agent replies, plugin prints the result and exits'],
] as const;

/** Cuts each membrane-cni process's life into the phases above. */
export function timelines(evs: readonly Ev[], agentPid: number): AddTimeline[] {
  const forkOf = new Map<number, Ev>(); // child pid → its fork (from the parent's clone() entry)
  const lastClone = new Map<number, Ev>(); // tid → its latest clone() entry
  const execsOf = new Map<number, Ev[]>();
  const exitOf = new Map<number, Ev>();
  for (const e of evs) {
    if (e.event === 'sys_enter_clone') lastClone.set(e.tid, e);
    else if (e.event === 'sched_process_fork') forkOf.set(Number(e.fields.child_pid), { ...e, t: lastClone.get(e.tid)?.t ?? e.t });
    else if (e.event === 'sched_process_exec') execsOf.set(e.pid, [...(execsOf.get(e.pid) ?? []), e]);
    else if (e.event === 'sched_process_exit' && e.fields.group_dead === 'true') exitOf.set(e.pid, e); // the last thread to go, any of them
  }
  const out: AddTimeline[] = [];
  for (const [pid, execs] of execsOf) {
    const wrapper = execs.find((e) => e.fields.filename?.endsWith('/bin/membrane-cni'));
    const nsenter = execs.find((e) => e.fields.filename?.endsWith('/nsenter'));
    const node = execs.find((e) => /\/node$/.test(e.fields.filename ?? ''));
    const fork = forkOf.get(pid);
    const exit = exitOf.get(pid);
    if (!wrapper || !nsenter || !node || !fork || !exit) continue;
    const connect = evs.find((e) => e.pid === pid && e.event === 'sys_enter_connect' && e.t > node.t);
    if (!connect) continue;
    const inWindow = (e: Ev) => e.t >= connect.t && e.t <= exit.t;
    const agentEvs = evs.filter((e) => e.pid === agentPid && inWindow(e));
    const childForks = agentEvs.filter((e) => e.event === 'sched_process_fork' && e.tid === agentPid);
    const children = childForks.flatMap((f) => {
      const c = Number(f.fields.child_pid);
      const start = forkOf.get(c)?.t ?? f.t;
      const first = execsOf.get(c)?.[0];
      const end = exitOf.get(c);
      if (!first || !end) return [];
      return [{ exec: (execsOf.get(c) ?? []).map((e) => e.fields.filename!.split('/').pop()).join('→'), forkMs: first.t - start, runMs: end.t - first.t, start, end: end.t }];
    });
    if (children.length === 0) continue; // a VERSION or DEL call, not an ADD
    const fsyncEnter = agentEvs.filter((e) => e.event === 'sys_enter_fsync');
    const fsyncExit = agentEvs.filter((e) => e.event === 'sys_exit_fsync');
    const fsyncs = fsyncEnter.map((e, i) => (fsyncExit[i] ? fsyncExit[i]!.t - e.t : Number.NaN));
    const lastAgent = Math.max(children.at(-1)!.end, ...fsyncExit.map((e) => e.t));
    out.push({
      phases: {
        runtime_fork: nsenter.t - fork.t,
        nsenter: wrapper.t - nsenter.t,
        sh_wrapper: node.t - wrapper.t,
        node_startup: connect.t - node.t,
        agent_before_children: children[0]!.start - connect.t,
        agent_children: children.at(-1)!.end - children[0]!.start,
        agent_after_children: lastAgent - children.at(-1)!.end,
        reply_exit: exit.t - lastAgent,
        total: exit.t - fork.t,
      },
      children: children.map(({ exec: e, forkMs, runMs }) => ({ exec: e, forkMs, runMs })),
      fsyncs,
    });
  }
  return out;
}

export interface TraceSummary {
  adds: number;
  phases: Array<{ key: string; what: string; ms: Summary }>;
  children: Array<{ exec: string; forkMs: Summary; runMs: Summary }>;
  fsyncsPerAdd: number;
  fsyncMs: Summary;
}

export function summarizeTimelines(tl: readonly AddTimeline[]): TraceSummary {
  const phases = [...PHASES, ['total', 'plugin process lifetime (fork to exit)'] as const].map(([key, what]) => ({ key, what, ms: summarize(tl.map((t) => t.phases[key]!)) }));
  const nChildren = Math.max(0, ...tl.map((t) => t.children.length));
  const children = Array.from({ length: nChildren }, (_, i) => {
    const cs = tl.map((t) => t.children[i]).filter((c) => c !== undefined);
    return { exec: cs[0]?.exec ?? '?', forkMs: summarize(cs.map((c) => c.forkMs)), runMs: summarize(cs.map((c) => c.runMs)) };
  });
  const fsyncs = tl.flatMap((t) => t.fsyncs).filter((x) => Number.isFinite(x));
  return { adds: tl.length, phases, children, fsyncsPerAdd: tl.length ? fsyncs.length / tl.length : 0, fsyncMs: summarize(fsyncs) };
}

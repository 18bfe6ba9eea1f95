// Netlink work goes through iproute2 in child processes (DESIGN.md §2.10):
// never setns inside Node. Failures become KernelError NETLINK_FAILED with
// the command and its stderr.
import { spawn } from 'node:child_process';
import { KernelError } from '../errors.ts';

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  /** Resolve with the exit code instead of rejecting when it is not 0. */
  allowFail?: boolean;
  /** Replaces the environment (default: inherited). */
  env?: Record<string, string>;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult & { code: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => reject(new KernelError('NETLINK_FAILED', `${cmd}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      const r = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? -1 };
      if (code !== 0 && !opts.allowFail) {
        reject(
          new KernelError('NETLINK_FAILED', `${cmd} ${args.join(' ')} failed: ${r.stderr.trim() || `exit ${code}`}`, {
            details: { command: [cmd, ...args].join(' '), stderr: r.stderr, input: opts.input },
          }),
        );
        return;
      }
      resolve(r);
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a command may exit before reading all input; its exit code tells
      child.stdin.end(opts.input);
    }
  });
}

/** `ip ARGS` */
export function ip(...args: string[]): Promise<RunResult> {
  return run('ip', args);
}

/** `ip -batch -` with one command per line; stops at the first failure. */
export function ipBatch(lines: readonly string[]): Promise<RunResult> {
  return run('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/** `ip -j ARGS` parsed. */
export async function ipJson<T>(...args: string[]): Promise<T> {
  const r = await run('ip', ['-j', ...args]);
  return (r.stdout.trim() ? JSON.parse(r.stdout) : []) as T;
}

/**
 * Runs a shell snippet inside the network namespace at `netnsPath` with
 * nsenter (only the netns changes; mounts stay those of the agent).
 */
export function inNetns(netnsPath: string, script: string, input?: string): Promise<RunResult> {
  return run('nsenter', [`--net=${netnsPath}`, '--', 'sh', '-ec', script], input === undefined ? {} : { input });
}


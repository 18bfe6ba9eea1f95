// tc attachment on a clsact qdisc through libbpf's netlink helpers. Filters
// are direct-action BPF programs at a fixed handle and priority, so that a
// restarted agent replaces its own filter atomically (no gap in which packets
// pass unfiltered) and never touches filters that others installed.
import { KernelError } from '../errors.ts';
import { captureLibbpfWarnings, check, lib } from './libbpf.ts';

export type TcDirection = 'ingress' | 'egress';

const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const BPF_TC_F_REPLACE = 1;
const EEXIST = 17;
const ENOENT = 2;
const ENODEV = 19;
const EINVAL = 22;

/** Membrane's filters sit at this handle/priority on every device it manages. */
export const TC_HANDLE = 1;
export const TC_PRIORITY = 1;

function hook(ifindex: number, dir: TcDirection | 'both'): Buffer {
  const b = Buffer.alloc(24); // struct bpf_tc_hook
  b.writeBigUInt64LE(24n, 0);
  b.writeInt32LE(ifindex, 8);
  b.writeInt32LE(dir === 'ingress' ? BPF_TC_INGRESS : dir === 'egress' ? BPF_TC_EGRESS : BPF_TC_INGRESS | BPF_TC_EGRESS, 12);
  return b;
}

function opts(progFd: number, flags: number): Buffer {
  const b = Buffer.alloc(32); // struct bpf_tc_opts
  b.writeBigUInt64LE(32n, 0);
  b.writeInt32LE(progFd, 8);
  b.writeUInt32LE(flags, 12);
  b.writeUInt32LE(0, 16); // prog_id (out)
  b.writeUInt32LE(TC_HANDLE, 20);
  b.writeUInt32LE(TC_PRIORITY, 24);
  return b;
}

/**
 * Runs a netlink call whose failure can be an expected answer: libbpf's
 * warnings (the kernel's extack) are kept out of the log and added to the
 * error only when the failure is real.
 */
function quiet(call: () => number, expected: readonly number[], what: string): number {
  const { result: rc, warnings } = captureLibbpfWarnings(call);
  if (rc >= 0 || expected.includes(-rc)) return rc;
  try {
    check(rc, what);
  } catch (err) {
    const kernel = warnings.map((w) => /Kernel error message: (.*)/.exec(w)?.[1]?.trim()).filter((m) => m !== undefined);
    if (err instanceof KernelError && kernel.length > 0) {
      throw new KernelError(err.code, `${err.message} (kernel: ${kernel.join('; ')})`, { details: { ...err.details, kernel } });
    }
    throw err;
  }
  return rc;
}

/** Creates clsact if needed and attaches (or atomically replaces) our filter. Returns the program id. */
export function tcAttach(ifindex: number, dir: TcDirection, progFd: number): number {
  const { bpf } = lib();
  const h = hook(ifindex, dir);
  quiet(() => bpf.bpf_tc_hook_create(h) as number, [EEXIST], `create clsact qdisc on ifindex ${ifindex}`);
  const o = opts(progFd, BPF_TC_F_REPLACE);
  check(bpf.bpf_tc_attach(h, o) as number, `attach tc ${dir} program on ifindex ${ifindex}`);
  return o.readUInt32LE(16);
}

/** Removes our filter; returns false when it was not there. */
export function tcDetach(ifindex: number, dir: TcDirection): boolean {
  // ENODEV: device gone; EINVAL: no clsact
  const rc = quiet(() => lib().bpf.bpf_tc_detach(hook(ifindex, dir), opts(0, 0)) as number, [ENOENT, ENODEV, EINVAL], `detach tc ${dir} program from ifindex ${ifindex}`);
  return rc >= 0;
}

/** The id of the program in our filter slot, or undefined when none is attached. */
export function tcQuery(ifindex: number, dir: TcDirection): number | undefined {
  const o = opts(0, 0);
  const { result: rc } = captureLibbpfWarnings(() => lib().bpf.bpf_tc_query(hook(ifindex, dir), o) as number);
  if (rc < 0) return undefined;
  return o.readUInt32LE(16);
}

/** Removes the clsact qdisc with every filter on it. */
export function tcDestroyHook(ifindex: number): void {
  quiet(() => lib().bpf.bpf_tc_hook_destroy(hook(ifindex, 'both')) as number, [ENOENT, ENODEV, EINVAL], `remove clsact from ifindex ${ifindex}`);
}

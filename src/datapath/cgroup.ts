// cgroup-v2 attachment for socket-level programs, through BPF links pinned
// on bpffs: the attachment outlives the agent, and a restarted agent swaps
// its new program into the same link (bpf_link_update) instead of stacking a
// second one beside it. Links coexist with other programs on the cgroup.
import fs from 'node:fs';
import path from 'node:path';
import { KernelError } from '../errors.ts';
import { check, errnoName, lastErrno, lib } from './libbpf.ts';

export const CGROUP_ATTACH = {
  connect4: 10, // BPF_CGROUP_INET4_CONNECT
  sendmsg4: 14, // BPF_CGROUP_UDP4_SENDMSG
  recvmsg4: 19, // BPF_CGROUP_UDP4_RECVMSG
  getpeername4: 29, // BPF_CGROUP_INET4_GETPEERNAME
} as const;
export type CgroupHook = keyof typeof CGROUP_ATTACH;

const BPF_F_ALLOW_MULTI = 1 << 1;
const O_RDONLY_DIRECTORY = 0o200000; // O_DIRECTORY | O_RDONLY

function openCgroup(cgroupPath: string): number {
  if (!fs.existsSync(cgroupPath)) {
    throw new KernelError('KERNEL_FEATURE_MISSING', `cgroup ${cgroupPath} does not exist — is cgroup v2 mounted there?`);
  }
  const fd = lib().libc.open(cgroupPath, O_RDONLY_DIRECTORY) as number;
  if (fd < 0) throw new KernelError('BPF_SYSCALL_FAILED', `open cgroup ${cgroupPath} failed`);
  return fd;
}

/** Attaches without a link (used by the datapath library tests). */
export function cgroupAttach(cgroupPath: string, hook: CgroupHook, progFd: number): void {
  const fd = openCgroup(cgroupPath);
  try {
    check(lib().bpf.bpf_prog_attach(progFd, fd, CGROUP_ATTACH[hook], BPF_F_ALLOW_MULTI) as number, `attach ${hook} to ${cgroupPath}`);
  } finally {
    lib().libc.close(fd);
  }
}

export function cgroupDetach(cgroupPath: string, hook: CgroupHook, progFd: number): void {
  const fd = openCgroup(cgroupPath);
  try {
    const rc = lib().bpf.bpf_prog_detach2(progFd, fd, CGROUP_ATTACH[hook]) as number;
    if (rc !== -2) check(rc, `detach ${hook} from ${cgroupPath}`);
  } finally {
    lib().libc.close(fd);
  }
}

function objGet(pin: string): number {
  const fd = lib().bpf.bpf_obj_get(pin) as number;
  return fd >= 0 ? fd : -1;
}

/**
 * Makes `progFd` the program of the link pinned at `pin`, creating the link
 * on `cgroupPath` when there is none. Returns 'created' or 'updated'.
 * A pin whose link is defunct (its cgroup was removed) is replaced.
 */
export function cgroupLinkEnsure(cgroupPath: string, hook: CgroupHook, progFd: number, pin: string): 'created' | 'updated' {
  const { bpf, libc } = lib();
  const existing = fs.existsSync(pin) ? objGet(pin) : -1;
  if (existing >= 0) {
    try {
      const rc = bpf.bpf_link_update(existing, progFd, null) as number;
      if (rc === 0) return 'updated';
      // ENOLINK: the cgroup is gone; make a new link below
      if (rc !== -67) check(rc, `update ${hook} link ${pin}`);
    } finally {
      libc.close(existing);
    }
  }
  fs.rmSync(pin, { force: true });
  fs.mkdirSync(path.dirname(pin), { recursive: true });
  const cg = openCgroup(cgroupPath);
  try {
    const link = bpf.bpf_link_create(progFd, cg, CGROUP_ATTACH[hook], null) as number;
    if (link < 0) {
      const errno = link < -1 ? -link : lastErrno();
      throw new KernelError('BPF_SYSCALL_FAILED', `attach ${hook} to cgroup ${cgroupPath}: ${errnoName(errno)}`, { details: { errno } });
    }
    try {
      check(bpf.bpf_obj_pin(link, pin) as number, `pin ${hook} link at ${pin}`);
    } finally {
      libc.close(link);
    }
  } finally {
    libc.close(cg);
  }
  return 'created';
}

/** Removes a pinned link: the program is detached once no fd holds the link. */
export function cgroupLinkRemove(pin: string): boolean {
  if (!fs.existsSync(pin)) return false;
  fs.rmSync(pin, { force: true });
  return true;
}

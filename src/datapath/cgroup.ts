// cgroup-v2 attachment for socket-level programs. Attached with
// BPF_F_ALLOW_MULTI so Membrane coexists with other programs on the cgroup;
// the attachment lives on in the kernel after the agent exits.
import fs from 'node:fs';
import { KernelError } from '../errors.ts';
import { check, lib } from './libbpf.ts';

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

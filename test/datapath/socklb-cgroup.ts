// Where the agent's socket-LB links are attached, and a guard for the tests:
// a test agent must attach to its topology's cgroup, never to the machine's
// cgroup-v2 root (that would load-balance every process on the machine).
import fs from 'node:fs';
import path from 'node:path';
import { cgroupLinkEnsure, CGROUP_ATTACH, type CgroupHook } from '../../src/datapath/cgroup.ts';
import { check, lib } from '../../src/datapath/libbpf.ts';
import { run } from '../../src/endpoint/exec.ts';

interface LinkInfo {
  prog_id: number;
  cgroup_id?: number;
  attach_type?: string;
}

export interface Misattached {
  hook: CgroupHook;
  cgroupId: number;
}

/** The cgroup id of a cgroup-v2 directory (its inode number). */
export function cgroupId(dir: string): number {
  return Number(fs.statSync(dir, { bigint: true }).ino);
}

/**
 * Checks the pinned socket-LB links under `<pinDir>/links` against `cgroup`.
 * Any link found on another cgroup is moved to `cgroup` at once (new link
 * with the same program, pinned in its place; dropping the old pin detaches
 * the old link, which only the pin held) and reported, so that the caller
 * can fail the check while the rest of its tests stay confined.
 */
export async function confineSocketLb(pinDir: string, cgroup: string): Promise<Misattached[]> {
  const want = cgroupId(cgroup);
  const moved: Misattached[] = [];
  for (const hook of Object.keys(CGROUP_ATTACH) as CgroupHook[]) {
    const pin = path.join(pinDir, 'links', `sock_${hook}`);
    if (!fs.existsSync(pin)) throw new Error(`no socket-LB link pinned at ${pin}: the agent did not attach ${hook}`);
    const info = JSON.parse((await run('bpftool', ['-j', 'link', 'show', 'pinned', pin])).stdout) as LinkInfo;
    if (info.cgroup_id === want) continue;
    const progFd = check(lib().bpf.bpf_prog_get_fd_by_id(info.prog_id) as number, `program ${info.prog_id} of ${pin}`);
    try {
      fs.rmSync(pin);
      cgroupLinkEnsure(cgroup, hook, progFd, pin);
    } finally {
      lib().libc.close(progFd);
    }
    moved.push({ hook, cgroupId: info.cgroup_id ?? -1 });
  }
  return moved;
}

// A loaded BPF object file: its programs and maps. Maps listed in `pin` are
// pinned under pinDir (reused when a compatible pin exists), which is what
// lets the datapath outlive the agent. The LoadedObject owns the libbpf
// object and with it every fd; close() releases them (attachments and pins
// stay in the kernel).
import fs from 'node:fs';
import path from 'node:path';
import { KernelError, MembraneError } from '../errors.ts';
import { koffi, lib, lastErrno, errnoName, objInfo, type Ptr } from './libbpf.ts';

export interface ObjectSpec {
  /** Path of the compiled .o file. */
  file: string;
  /** Directory on bpffs where maps are pinned, e.g. /sys/fs/bpf/membrane. */
  pinDir: string;
  /** Names of the maps to pin; others stay private to this load. */
  pin: readonly string[];
}

export interface LoadedObject {
  readonly file: string;
  programFd(name: string): number;
  mapFd(name: string): number;
  programs(): string[];
  maps(): string[];
  close(): void;
}

const LOG_SIZE = 1 << 20;

export function loadObject(spec: ObjectSpec): LoadedObject {
  const { bpf } = lib();
  if (!fs.existsSync(spec.file)) {
    throw new MembraneError('INTERNAL', `eBPF object ${spec.file} is missing — build it with 'make build'`);
  }
  const obj = bpf.bpf_object__open_file(spec.file, null) as Ptr | null;
  if (obj === null) {
    const errno = lastErrno();
    throw new KernelError('BPF_LOAD_FAILED', `open ${spec.file}: ${errnoName(errno)}`, { details: { errno } });
  }

  const logs: { prog: string; buf: Ptr }[] = [];
  let loaded = false;
  try {
    fs.mkdirSync(spec.pinDir, { recursive: true });
    const mapPtrs = new Map<string, Ptr>();
    for (let m = bpf.bpf_object__next_map(obj, null) as Ptr | null; m !== null; m = bpf.bpf_object__next_map(obj, m)) {
      const name = bpf.bpf_map__name(m) as string;
      mapPtrs.set(name, m);
      if (spec.pin.includes(name)) {
        const rc = bpf.bpf_map__set_pin_path(m, path.join(spec.pinDir, name)) as number;
        if (rc < 0) throw new KernelError('BPF_SYSCALL_FAILED', `set pin path for map ${name}: ${errnoName(-rc)}`);
      }
    }
    for (const want of spec.pin) {
      if (!mapPtrs.has(want)) throw new MembraneError('INTERNAL', `${spec.file} has no map named ${want}`);
    }

    const progPtrs = new Map<string, Ptr>();
    for (let p = bpf.bpf_object__next_program(obj, null) as Ptr | null; p !== null; p = bpf.bpf_object__next_program(obj, p)) {
      const name = bpf.bpf_program__name(p) as string;
      progPtrs.set(name, p);
      // With log_level 0 and a buffer, libbpf retries a failed load with the
      // verifier log on, so a rejection arrives with its explanation.
      const buf = koffi.alloc('char', LOG_SIZE) as unknown as Ptr;
      koffi.encode(buf, 'char', 0);
      logs.push({ prog: name, buf });
      bpf.bpf_program__set_log_buf(p, buf, LOG_SIZE);
    }

    const rc = bpf.bpf_object__load(obj) as number;
    if (rc < 0) {
      const errno = -rc;
      const verifierLog = logs
        .map((l) => ({ prog: l.prog, text: koffi.decode(l.buf, 'char', -1) as string }))
        .filter((l) => l.text.length > 0)
        .map((l) => `--- ${l.prog} ---\n${l.text}`)
        .join('\n');
      const incompatiblePin = errno === 22 && verifierLog.length === 0;
      throw new KernelError(
        'BPF_LOAD_FAILED',
        `load ${path.basename(spec.file)}: ${errnoName(errno)}` +
          (verifierLog ? ' — the verifier rejected a program (log in details.verifierLog)' : '') +
          (incompatiblePin
            ? ` — a pinned map under ${spec.pinDir} may have an incompatible definition from an older version; ` +
              `stop the agent and remove ${spec.pinDir} if you accept losing the state it holds`
            : ''),
        { details: { errno, verifierLog } },
      );
    }
    loaded = true;

    let closed = false;
    return {
      file: spec.file,
      programFd(name) {
        const p = progPtrs.get(name);
        if (p === undefined) throw new MembraneError('INTERNAL', `${spec.file} has no program named ${name}`);
        return bpf.bpf_program__fd(p) as number;
      },
      mapFd(name) {
        const m = mapPtrs.get(name);
        if (m === undefined) throw new MembraneError('INTERNAL', `${spec.file} has no map named ${name}`);
        return bpf.bpf_map__fd(m) as number;
      },
      programs: () => [...progPtrs.keys()],
      maps: () => [...mapPtrs.keys()],
      close() {
        if (closed) return;
        closed = true;
        bpf.bpf_object__close(obj);
      },
    };
  } finally {
    // Log buffers are only read during load; libbpf keeps the pointer, so
    // unhook it before freeing when the object stays open.
    if (loaded) {
      for (let p = bpf.bpf_object__next_program(obj, null) as Ptr | null; p !== null; p = bpf.bpf_object__next_program(obj, p)) {
        bpf.bpf_program__set_log_buf(p, null, 0);
      }
    } else {
      bpf.bpf_object__close(obj);
    }
    for (const l of logs) koffi.free(l.buf);
  }
}

export interface ProgramInfo {
  type: number;
  /** Kernel-wide program id, what tc/XDP/cgroup queries report. */
  id: number;
  /** The kernel's copy of the name (at most 15 characters). */
  name: string;
}

/** struct bpf_prog_info: type@0, id@4, ..., name[16]@64. */
export function programInfo(fd: number): ProgramInfo {
  const info = objInfo(fd, 256, 'program');
  return { type: info.buf.readUInt32LE(0), id: info.buf.readUInt32LE(4), name: info.readName(64) };
}

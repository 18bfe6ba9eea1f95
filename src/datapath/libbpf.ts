// The system libbpf (Debian libbpf1), bound through koffi. This file only
// declares the C functions; the typed, owned wrappers live beside it
// (object.ts, map.ts, tc.ts, xdp.ts, cgroup.ts, ringbuf.ts).
//
// koffi 3: pointers are BigInt, NULL is null; a Node Buffer passed for a
// `void *` parameter is handed to C as a pointer to its memory (C may write it).
import koffi, { type TypeObject, type LibraryHandle } from 'koffi';
import { KernelError } from '../errors.ts';

export type Ptr = bigint;

type Fn = (...args: any[]) => any;

export interface LibBpf {
  // versions
  libbpf_major_version: Fn;
  libbpf_minor_version: Fn;
  libbpf_num_possible_cpus: Fn;
  libbpf_set_print: Fn;
  // objects
  bpf_object__open_file: Fn;
  bpf_object__load: Fn;
  bpf_object__close: Fn;
  bpf_object__next_map: Fn;
  bpf_object__next_program: Fn;
  bpf_map__name: Fn;
  bpf_map__fd: Fn;
  bpf_map__set_pin_path: Fn;
  bpf_map__key_size: Fn;
  bpf_map__value_size: Fn;
  bpf_map__max_entries: Fn;
  bpf_map__type: Fn;
  bpf_program__name: Fn;
  bpf_program__fd: Fn;
  bpf_program__set_log_buf: Fn;
  bpf_program__set_autoload: Fn;
  // map syscalls
  bpf_map_update_elem: Fn;
  bpf_map_lookup_elem: Fn;
  bpf_map_delete_elem: Fn;
  bpf_map_get_next_key: Fn;
  bpf_map_update_batch: Fn;
  bpf_map_delete_batch: Fn;
  bpf_map_lookup_batch: Fn;
  bpf_obj_get: Fn;
  bpf_obj_pin: Fn;
  bpf_obj_get_info_by_fd: Fn;
  bpf_prog_get_fd_by_id: Fn;
  bpf_prog_test_run_opts: Fn;
  // attach
  bpf_tc_hook_create: Fn;
  bpf_tc_hook_destroy: Fn;
  bpf_tc_attach: Fn;
  bpf_tc_detach: Fn;
  bpf_tc_query: Fn;
  bpf_xdp_attach: Fn;
  bpf_xdp_detach: Fn;
  bpf_xdp_query_id: Fn;
  bpf_prog_attach: Fn;
  bpf_prog_detach2: Fn;
  bpf_link_create: Fn;
  bpf_link_update: Fn;
  bpf_map_create: Fn;
  // ring buffer
  ring_buffer__new: Fn;
  ring_buffer__free: Fn;
  ring_buffer__consume: Fn;
  ring_buffer__epoll_fd: Fn;
  // probes
  libbpf_probe_bpf_prog_type: Fn;
  libbpf_probe_bpf_map_type: Fn;
  libbpf_probe_bpf_helper: Fn;
}

export interface LibC {
  close: Fn;
  open: Fn;
  vsnprintf: Fn;
  mmap: Fn;
  munmap: Fn;
  memcpy: Fn;
}

let cached: { bpf: LibBpf; libc: LibC; sampleFn: TypeObject; printFn: TypeObject } | undefined;

const DECLS: Record<keyof LibBpf, string> = {
  libbpf_major_version: 'uint32_t libbpf_major_version(void)',
  libbpf_minor_version: 'uint32_t libbpf_minor_version(void)',
  libbpf_num_possible_cpus: 'int libbpf_num_possible_cpus(void)',
  libbpf_set_print: 'void *libbpf_set_print(void *fn)',
  bpf_object__open_file: 'void *bpf_object__open_file(const char *path, void *opts)',
  bpf_object__load: 'int bpf_object__load(void *obj)',
  bpf_object__close: 'void bpf_object__close(void *obj)',
  bpf_object__next_map: 'void *bpf_object__next_map(void *obj, void *prev)',
  bpf_object__next_program: 'void *bpf_object__next_program(void *obj, void *prev)',
  bpf_map__name: 'const char *bpf_map__name(void *map)',
  bpf_map__fd: 'int bpf_map__fd(void *map)',
  bpf_map__set_pin_path: 'int bpf_map__set_pin_path(void *map, const char *path)',
  bpf_map__key_size: 'uint32_t bpf_map__key_size(void *map)',
  bpf_map__value_size: 'uint32_t bpf_map__value_size(void *map)',
  bpf_map__max_entries: 'uint32_t bpf_map__max_entries(void *map)',
  bpf_map__type: 'int bpf_map__type(void *map)',
  bpf_program__name: 'const char *bpf_program__name(void *prog)',
  bpf_program__fd: 'int bpf_program__fd(void *prog)',
  bpf_program__set_log_buf: 'int bpf_program__set_log_buf(void *prog, void *buf, size_t size)',
  bpf_program__set_autoload: 'int bpf_program__set_autoload(void *prog, bool autoload)',
  bpf_map_update_elem: 'int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)',
  bpf_map_lookup_elem: 'int bpf_map_lookup_elem(int fd, void *key, void *value)',
  bpf_map_delete_elem: 'int bpf_map_delete_elem(int fd, void *key)',
  bpf_map_get_next_key: 'int bpf_map_get_next_key(int fd, void *key, void *next)',
  bpf_map_update_batch: 'int bpf_map_update_batch(int fd, void *keys, void *values, void *count, void *opts)',
  bpf_map_delete_batch: 'int bpf_map_delete_batch(int fd, void *keys, void *count, void *opts)',
  bpf_map_lookup_batch:
    'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)',
  bpf_obj_get: 'int bpf_obj_get(const char *path)',
  bpf_obj_pin: 'int bpf_obj_pin(int fd, const char *path)',
  bpf_obj_get_info_by_fd: 'int bpf_obj_get_info_by_fd(int fd, void *info, void *len)',
  bpf_prog_get_fd_by_id: 'int bpf_prog_get_fd_by_id(uint32_t id)',
  bpf_prog_test_run_opts: 'int bpf_prog_test_run_opts(int prog_fd, void *opts)',
  bpf_tc_hook_create: 'int bpf_tc_hook_create(void *hook)',
  bpf_tc_hook_destroy: 'int bpf_tc_hook_destroy(void *hook)',
  bpf_tc_attach: 'int bpf_tc_attach(void *hook, void *opts)',
  bpf_tc_detach: 'int bpf_tc_detach(void *hook, void *opts)',
  bpf_tc_query: 'int bpf_tc_query(void *hook, void *opts)',
  bpf_xdp_attach: 'int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, void *opts)',
  bpf_xdp_detach: 'int bpf_xdp_detach(int ifindex, uint32_t flags, void *opts)',
  bpf_xdp_query_id: 'int bpf_xdp_query_id(int ifindex, int flags, void *prog_id)',
  bpf_prog_attach: 'int bpf_prog_attach(int prog_fd, int target_fd, int type, uint32_t flags)',
  bpf_prog_detach2: 'int bpf_prog_detach2(int prog_fd, int target_fd, int type)',
  bpf_link_create: 'int bpf_link_create(int prog_fd, int target_fd, int attach_type, void *opts)',
  bpf_link_update: 'int bpf_link_update(int link_fd, int new_prog_fd, void *opts)',
  bpf_map_create: 'int bpf_map_create(int map_type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, void *opts)',
  ring_buffer__new: 'void *ring_buffer__new(int map_fd, void *sample_cb, void *ctx, void *opts)',
  ring_buffer__free: 'void ring_buffer__free(void *rb)',
  ring_buffer__consume: 'int ring_buffer__consume(void *rb)',
  ring_buffer__epoll_fd: 'int ring_buffer__epoll_fd(void *rb)',
  libbpf_probe_bpf_prog_type: 'int libbpf_probe_bpf_prog_type(int prog_type, void *opts)',
  libbpf_probe_bpf_map_type: 'int libbpf_probe_bpf_map_type(int map_type, void *opts)',
  libbpf_probe_bpf_helper: 'int libbpf_probe_bpf_helper(int prog_type, int helper_id, void *opts)',
};

/** libbpf's own diagnostics, routed here instead of stderr. */
export type LibbpfLogSink = (level: 'warn' | 'info' | 'debug', line: string) => void;
let logSink: LibbpfLogSink = (level, line) => {
  // libbpf starts most lines with "libbpf: " itself
  if (level === 'warn') process.stderr.write(line.startsWith('libbpf: ') ? line : `libbpf: ${line}`);
};
export function setLibbpfLogSink(sink: LibbpfLogSink): void {
  logSink = sink;
}

let captured: string[] | undefined;

/**
 * Runs `fn` (synchronous libbpf calls) and collects the warnings libbpf
 * prints meanwhile instead of logging them — for calls whose failure is an
 * expected answer ("no filter there"), so that it does not reach the log as
 * a warning; the caller puts the lines in its error when the failure is real.
 */
export function captureLibbpfWarnings<T>(fn: () => T): { result: T; warnings: string[] } {
  const prev = captured;
  const warnings: string[] = [];
  captured = warnings;
  try {
    return { result: fn(), warnings };
  } finally {
    captured = prev;
  }
}

/** Loads libbpf and libc once; fails with a sentence when libbpf is missing. */
export function lib(): { bpf: LibBpf; libc: LibC; sampleFn: TypeObject } {
  if (cached) return cached;
  let handle: LibraryHandle;
  try {
    handle = koffi.load('libbpf.so.1');
  } catch (err) {
    throw new KernelError(
      'KERNEL_FEATURE_MISSING',
      'cannot load libbpf.so.1 — install it with `apt-get install libbpf1` (scripts/setup.sh does)',
      { cause: err },
    );
  }
  const libcHandle = koffi.load('libc.so.6');
  const bpf = {} as Record<string, Fn>;
  for (const [name, decl] of Object.entries(DECLS)) bpf[name] = handle.func(decl);
  const libc: LibC = {
    close: libcHandle.func('int close(int fd)'),
    open: libcHandle.func('int open(const char *path, int flags)'),
    vsnprintf: libcHandle.func('int vsnprintf(void *buf, size_t size, const char *fmt, void *ap)'),
    mmap: libcHandle.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)'),
    munmap: libcHandle.func('int munmap(void *addr, size_t length)'),
    memcpy: libcHandle.func('void *memcpy(void *dst, const void *src, size_t n)'),
  };
  const sampleFn = koffi.proto('int mb_ringbuf_sample_fn(void *ctx, void *data, size_t size)');
  const printFn = koffi.proto('int mb_libbpf_print_fn(int level, const char *fmt, void *ap)');
  cached = { bpf: bpf as unknown as LibBpf, libc, sampleFn, printFn };

  // Route libbpf's messages through our logger. va_list is a pointer on
  // x86_64, so libc's vsnprintf can format it for us.
  const line = Buffer.alloc(4096);
  const levels = ['warn', 'info', 'debug'] as const;
  const cb = koffi.register((level: number, fmt: string, ap: Ptr) => {
    const n = libc.vsnprintf(line, line.length, fmt, ap) as number;
    const text = line.toString('utf8', 0, Math.max(0, Math.min(n, line.length - 1)));
    if (level === 0 && captured) captured.push(text);
    else logSink(levels[level] ?? 'debug', text);
    return 0;
  }, koffi.pointer(printFn));
  bpf.libbpf_set_print!(cb);
  return cached;
}

/**
 * bpf_obj_get_info_by_fd into a zeroed buffer of `size` bytes (the kernel
 * fills what it knows); `readName` reads a NUL-terminated char[16] in it.
 */
export function objInfo(fd: number, size: number, what: string): { buf: Buffer; readName(offset: number): string } {
  const buf = Buffer.alloc(size);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(size);
  check(lib().bpf.bpf_obj_get_info_by_fd(fd, buf, len) as number, `get ${what} info`);
  return {
    buf,
    readName(offset) {
      const end = buf.indexOf(0, offset);
      return buf.toString('utf8', offset, end < 0 || end > offset + 16 ? offset + 16 : end);
    },
  };
}

/** Reads the errno left by the last libbpf call. */
export function lastErrno(): number {
  return koffi.errno();
}

export function errnoName(errno: number): string {
  const names = koffi.os.errno as Record<string, number>;
  for (const [k, v] of Object.entries(names)) if (v === errno) return k;
  return `errno ${errno}`;
}

/** Turns a negative libbpf return into a KernelError; returns rc otherwise. */
export function check(rc: number, what: string): number {
  if (rc >= 0) return rc;
  const errno = -rc;
  throw new KernelError('BPF_SYSCALL_FAILED', `${what}: ${errnoName(errno)} (${errno})${hint(errno)}`, {
    details: { errno },
  });
}

function hint(errno: number): string {
  switch (errno) {
    case 1: // EPERM
      return ' — run as root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN are needed)';
    case 19: // ENODEV
      return ' — the network device does not exist';
    default:
      return '';
  }
}

export { koffi };

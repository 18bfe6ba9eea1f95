// Whole-map operations on raw buffers, for the maps that hold tens of
// thousands of entries: one syscall per batch and no object per entry.
// (BpfMap in src/datapath/map.ts is the typed, per-entry interface.)
import { KernelError } from '../errors.ts';
import { check, errnoName, koffi, lib, lastErrno } from '../datapath/libbpf.ts';

const ENOENT = 2;

/** BPF_MAP_TYPE_ARRAY */
export const BPF_MAP_TYPE_ARRAY = 2;
/** BPF_F_INNER_MAP: an inner map whose max_entries may differ from the outer map's template. */
export const BPF_F_INNER_MAP = 1 << 12;
/** BPF_F_MMAPABLE: an array whose values userspace can mmap (and fill with one copy). */
export const BPF_F_MMAPABLE = 1 << 10;

function batchOpts(): Buffer {
  const b = Buffer.alloc(24); // struct bpf_map_batch_opts { size_t sz; __u64 elem_flags; __u64 flags; }
  b.writeBigUInt64LE(24n, 0);
  return b;
}

/** Updates `count` entries (keys and values packed back to back) in one syscall. */
export function updateBatchRaw(fd: number, keys: Buffer, values: Buffer, count: number, what: string): void {
  if (count === 0) return;
  const n = Buffer.alloc(4);
  n.writeUInt32LE(count);
  check(lib().bpf.bpf_map_update_batch(fd, keys, values, n, batchOpts()) as number, `batch update ${what} (${count} entries)`);
}

/**
 * Deletes `count` keys (packed back to back) in as few syscalls as it can;
 * keys that are already gone are skipped (the kernel stops at the first one).
 * Returns how many were deleted.
 */
export function deleteBatchRaw(fd: number, keys: Buffer, keySize: number, count: number, what: string): number {
  let done = 0;
  let deleted = 0;
  const n = Buffer.alloc(4);
  while (done < count) {
    n.writeUInt32LE(count - done);
    const rc = lib().bpf.bpf_map_delete_batch(fd, keys.subarray(done * keySize), n, batchOpts()) as number;
    const processed = n.readUInt32LE();
    deleted += processed;
    done += processed;
    if (rc === -ENOENT) {
      done += 1; // the absent key
      continue;
    }
    check(rc, `batch delete from ${what}`);
    if (processed === 0) break;
  }
  return deleted;
}

export interface RawDump {
  keys: Buffer;
  values: Buffer;
  count: number;
}

/** Every entry of a hash map (BPF_MAP_LOOKUP_BATCH), keys and values packed. */
export function dumpRaw(fd: number, keySize: number, valueSize: number, what: string, chunk = 8192): RawDump {
  const keyParts: Buffer[] = [];
  const valueParts: Buffer[] = [];
  let total = 0;
  let inBatch: Buffer | null = null;
  const outBatch = Buffer.alloc(Math.max(8, keySize));
  const n = Buffer.alloc(4);
  for (;;) {
    const ks = Buffer.alloc(keySize * chunk);
    const vs = Buffer.alloc(valueSize * chunk);
    n.writeUInt32LE(chunk);
    const rc = lib().bpf.bpf_map_lookup_batch(fd, inBatch, outBatch, ks, vs, n, batchOpts()) as number;
    const got = n.readUInt32LE();
    if (rc < 0 && rc !== -ENOENT) check(rc, `read ${what}`);
    if (got > 0) {
      keyParts.push(ks.subarray(0, got * keySize));
      valueParts.push(vs.subarray(0, got * valueSize));
      total += got;
    }
    if (rc === -ENOENT) break;
    inBatch = Buffer.from(outBatch);
  }
  return { keys: Buffer.concat(keyParts), values: Buffer.concat(valueParts), count: total };
}

let extra: { getFdById: (id: number) => number } | undefined;
function extraLib() {
  if (!extra) {
    lib(); // loads libbpf and routes its log
    const h = koffi.load('libbpf.so.1');
    extra = { getFdById: h.func('int bpf_map_get_fd_by_id(uint32_t id)') as (id: number) => number };
  }
  return extra;
}

/** An fd for the map with kernel id `id` (the caller closes it). */
export function mapFdById(id: number): number {
  const fd = extraLib().getFdById(id);
  if (fd < 0) {
    const errno = fd < -1 ? -fd : lastErrno();
    throw new KernelError('BPF_SYSCALL_FAILED', `open map id ${id}: ${errnoName(errno)}`, { details: { errno } });
  }
  return fd;
}

export function closeFd(fd: number): void {
  lib().libc.close(fd);
}

/**
 * Creates an inner ARRAY map of u32 → u32 holding `values` (one u32 per
 * entry), returning its fd. The array is mmapable (as the template in
 * maps.h declares), so it is filled with one memory copy instead of one
 * element write per entry in the kernel.
 */
export function createInnerArray(name: string, values: Uint32Array): number {
  const { bpf, libc } = lib();
  const opts = Buffer.alloc(48); // struct bpf_map_create_opts (libbpf 1.1)
  opts.writeBigUInt64LE(48n, 0); // sz
  opts.writeUInt32LE(BPF_F_INNER_MAP | BPF_F_MMAPABLE, 28); // map_flags
  const fd = check(bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, name, 4, 4, values.length, opts) as number, `create Maglev table ${name} (${values.length} entries)`);
  // An array map keeps each value in an 8-byte slot (round_up(value_size, 8)).
  const slots = new Uint32Array(values.length * 2);
  for (let i = 0; i < values.length; i++) slots[2 * i] = values[i]!;
  const length = Math.ceil(slots.byteLength / PAGE_SIZE) * PAGE_SIZE;
  const addr = libc.mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) as bigint | null;
  if (addr === null || addr === MAP_FAILED) {
    const errno = lastErrno();
    closeFd(fd);
    throw new KernelError('BPF_SYSCALL_FAILED', `mmap Maglev table ${name}: ${errnoName(errno)}`, { details: { errno } });
  }
  try {
    libc.memcpy(addr, Buffer.from(slots.buffer), slots.byteLength);
  } finally {
    libc.munmap(addr, length);
  }
  return fd;
}

const PAGE_SIZE = 4096;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/** All keys of a map (get_next_key): for maps without batch lookups, such as hash-of-maps. */
export function allKeysRaw(fd: number, keySize: number, what: string): Buffer[] {
  const out: Buffer[] = [];
  let prev: Buffer | null = null;
  for (;;) {
    const next = Buffer.alloc(keySize);
    const rc = lib().bpf.bpf_map_get_next_key(fd, prev, next) as number;
    if (rc === -ENOENT) return out;
    check(rc, `iterate ${what}`);
    out.push(next);
    prev = next;
  }
}

/** One lookup into a raw value buffer; false when the key is absent. */
export function lookupRaw(fd: number, key: Buffer, value: Buffer, what: string): boolean {
  const rc = lib().bpf.bpf_map_lookup_elem(fd, key, value) as number;
  if (rc === -ENOENT) return false;
  check(rc, `lookup in ${what}`);
  return true;
}

export function updateRaw(fd: number, key: Buffer, value: Buffer, what: string): void {
  check(lib().bpf.bpf_map_update_elem(fd, key, value, 0n) as number, `update ${what}`);
}

export function deleteRaw(fd: number, key: Buffer, what: string): boolean {
  const rc = lib().bpf.bpf_map_delete_elem(fd, key) as number;
  if (rc === -ENOENT) return false;
  check(rc, `delete from ${what}`);
  return true;
}

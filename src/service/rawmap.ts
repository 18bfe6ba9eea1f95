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

/** Creates an inner ARRAY map of u32 → u32 (BPF_F_INNER_MAP), returning its fd. */
export function createInnerArray(name: string, maxEntries: number): number {
  const opts = Buffer.alloc(48); // struct bpf_map_create_opts (libbpf 1.1)
  opts.writeBigUInt64LE(48n, 0); // sz
  opts.writeUInt32LE(BPF_F_INNER_MAP, 28); // map_flags
  return check(lib().bpf.bpf_map_create(BPF_MAP_TYPE_ARRAY, name, 4, 4, maxEntries, opts) as number, `create Maglev table ${name} (${maxEntries} entries)`);
}

/** Keys 0..n-1 as u32, shared by every table fill of that size. */
const indexKeys = new Map<number, Buffer>();
export function arrayIndexKeys(n: number): Buffer {
  let b = indexKeys.get(n);
  if (!b) {
    b = Buffer.alloc(4 * n);
    for (let i = 0; i < n; i++) b.writeUInt32LE(i, 4 * i);
    indexKeys.set(n, b);
  }
  return b;
}

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

// Typed access to one BPF map through its fd. The map does not own the fd
// unless it was opened from a pin (openPinned); the owner closes it.
import { KernelError, MembraneError } from '../errors.ts';
import type { Codec } from './codec.ts';
import { check, lib, lastErrno, errnoName, objInfo } from './libbpf.ts';

export const BPF_ANY = 0n;
export const BPF_NOEXIST = 1n;
export const BPF_EXIST = 2n;

const ENOENT = 2;

/** BPF_MAP_TYPE_PERCPU_HASH, _PERCPU_ARRAY, _LRU_PERCPU_HASH, _PERCPU_CGROUP_STORAGE. */
const PER_CPU_TYPES = new Set([5, 6, 10, 20]);

export interface MapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  id: number;
}

export class BpfMap<K, V> {
  readonly fd: number;
  readonly name: string;
  readonly key: Codec<K>;
  readonly value: Codec<V>;
  /** Number of per-CPU values (1 for ordinary maps). */
  readonly cpus: number;
  readonly #owned: boolean;
  readonly #perCpu: boolean;
  #closed = false;

  /**
   * Checks the codecs against the kernel's view of the map: a value buffer
   * smaller than the map's values would let the kernel write past it.
   */
  constructor(fd: number, name: string, key: Codec<K>, value: Codec<V>, opts: { perCpu?: boolean; owned?: boolean } = {}) {
    const info = mapInfo(fd);
    const perCpu = PER_CPU_TYPES.has(info.type);
    const problems: string[] = [];
    if (info.keySize !== key.size) problems.push(`keys are ${info.keySize} bytes but ${key.name} is ${key.size}`);
    if (info.valueSize !== value.size) problems.push(`values are ${info.valueSize} bytes but ${value.name} is ${value.size}`);
    if (opts.perCpu !== undefined && opts.perCpu !== perCpu) problems.push(perCpu ? 'it is a per-CPU map' : 'it is not a per-CPU map');
    if (problems.length > 0) {
      throw new MembraneError('INTERNAL', `map ${name} does not match its codecs: ${problems.join('; ')}`, {
        details: { map: name, keySize: info.keySize, valueSize: info.valueSize, type: info.type },
      });
    }
    this.fd = fd;
    this.name = name;
    this.key = key;
    this.value = value;
    this.#perCpu = perCpu;
    this.cpus = perCpu ? (lib().bpf.libbpf_num_possible_cpus() as number) : 1;
    this.#owned = opts.owned ?? false;
  }

  /** Opens a pinned map; the returned map owns its fd. */
  static openPinned<K, V>(path: string, key: Codec<K>, value: Codec<V>, opts: { perCpu?: boolean } = {}): BpfMap<K, V> {
    const fd = lib().bpf.bpf_obj_get(path) as number;
    if (fd < 0) {
      // libbpf ≥ 1.0 returns -errno
      const errno = fd < -1 ? -fd : lastErrno();
      throw new KernelError('BPF_SYSCALL_FAILED', `open pinned map ${path}: ${errnoName(errno)}`, { details: { errno } });
    }
    const name = path.split('/').pop() ?? path;
    try {
      return new BpfMap(fd, name, key, value, { ...opts, owned: true });
    } catch (err) {
      lib().libc.close(fd);
      throw err;
    }
  }

  get #slot(): number {
    // per-CPU values are 8-byte aligned each, even when there is one CPU
    return this.#perCpu ? Math.ceil(this.value.size / 8) * 8 : this.value.size;
  }

  lookup(key: K): V | undefined {
    const all = this.lookupPerCpu(key);
    return all?.[0];
  }

  /** For per-CPU maps: one value per possible CPU. */
  lookupPerCpu(key: K): V[] | undefined {
    const k = this.key.encode(key);
    const v = Buffer.alloc(this.#slot * this.cpus);
    const rc = lib().bpf.bpf_map_lookup_elem(this.fd, k, v) as number;
    if (rc === -ENOENT) return undefined;
    check(rc, `lookup in map ${this.name}`);
    return this.#decodeValues(v, 0);
  }

  update(key: K, value: V, flags: bigint = BPF_ANY): void {
    const v = Buffer.alloc(this.#slot * this.cpus);
    for (let c = 0; c < this.cpus; c++) this.value.encode(value, v, c * this.#slot);
    check(lib().bpf.bpf_map_update_elem(this.fd, this.key.encode(key), v, flags) as number, `update map ${this.name}`);
  }

  /** Deletes a key; returns false when it was absent. */
  delete(key: K): boolean {
    const rc = lib().bpf.bpf_map_delete_elem(this.fd, this.key.encode(key)) as number;
    if (rc === -ENOENT) return false;
    check(rc, `delete from map ${this.name}`);
    return true;
  }

  /** All keys, walked with get_next_key (safe against concurrent deletes). */
  *keys(): Generator<K> {
    const { bpf } = lib();
    let prev: Buffer | null = null;
    const next = Buffer.alloc(this.key.size);
    for (;;) {
      const rc = bpf.bpf_map_get_next_key(this.fd, prev, next) as number;
      if (rc === -ENOENT) return;
      check(rc, `iterate map ${this.name}`);
      yield this.key.decode(next);
      prev = Buffer.from(next);
    }
  }

  /** All entries (keys then a lookup each; entries deleted meanwhile are skipped). */
  *entries(): Generator<[K, V]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) yield [k, v];
    }
  }

  /** Per-CPU maps: entries with their values summed by the caller's reducer. */
  *entriesPerCpu(): Generator<[K, V[]]> {
    for (const k of this.keys()) {
      const v = this.lookupPerCpu(k);
      if (v !== undefined) yield [k, v];
    }
  }

  count(): number {
    let n = 0;
    for (const _ of this.keys()) n++;
    return n;
  }

  /**
   * Updates many entries in one syscall (BPF_MAP_UPDATE_BATCH). The kernel
   * takes no BPF_NOEXIST/BPF_EXIST here (only BPF_F_LOCK): batch updates
   * always create or overwrite.
   */
  updateBatch(entries: ReadonlyArray<readonly [K, V]>, flags: bigint = BPF_ANY): void {
    if (flags === BPF_NOEXIST || flags === BPF_EXIST) {
      throw new MembraneError('INTERNAL', `batch update map ${this.name}: the kernel accepts no BPF_NOEXIST/BPF_EXIST for batch updates — use update() per key`);
    }
    if (entries.length === 0) return;
    const ks = Buffer.alloc(this.key.size * entries.length);
    const vs = Buffer.alloc(this.#slot * this.cpus * entries.length);
    entries.forEach(([k, v], i) => {
      this.key.encode(k, ks, i * this.key.size);
      for (let c = 0; c < this.cpus; c++) this.value.encode(v, vs, (i * this.cpus + c) * this.#slot);
    });
    const count = Buffer.alloc(4);
    count.writeUInt32LE(entries.length);
    const opts = batchOpts(flags);
    check(lib().bpf.bpf_map_update_batch(this.fd, ks, vs, count, opts) as number, `batch update map ${this.name}`);
  }

  /** Deletes many keys in one syscall; every key must exist (the kernel stops at the first absent one). */
  deleteBatch(keys: ReadonlyArray<K>): number {
    if (keys.length === 0) return 0;
    const ks = Buffer.alloc(this.key.size * keys.length);
    keys.forEach((k, i) => this.key.encode(k, ks, i * this.key.size));
    const count = Buffer.alloc(4);
    count.writeUInt32LE(keys.length);
    const rc = lib().bpf.bpf_map_delete_batch(this.fd, ks, count, batchOpts(BPF_ANY)) as number;
    if (rc === -ENOENT) return count.readUInt32LE();
    check(rc, `batch delete from map ${this.name}`);
    return count.readUInt32LE();
  }

  /** Kernel facts about the map (bpf_map_info). */
  info(): MapInfo {
    return mapInfo(this.fd);
  }

  #decodeValues(buf: Buffer, base: number): V[] {
    const out: V[] = [];
    for (let c = 0; c < this.cpus; c++) out.push(this.value.decode(buf, base + c * this.#slot));
    return out;
  }

  close(): void {
    if (this.#closed || !this.#owned) return;
    this.#closed = true;
    lib().libc.close(this.fd);
  }
}

function batchOpts(elemFlags: bigint): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(24n, 0);
  b.writeBigUInt64LE(elemFlags, 8);
  return b;
}

/** struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags, name[16] ... */
export function mapInfo(fd: number): MapInfo {
  const { buf, readName } = objInfo(fd, 128, 'map');
  return {
    type: buf.readUInt32LE(0),
    id: buf.readUInt32LE(4),
    keySize: buf.readUInt32LE(8),
    valueSize: buf.readUInt32LE(12),
    maxEntries: buf.readUInt32LE(16),
    name: readName(24),
  };
}

// Reads a BPF ring buffer without ever blocking the event loop, and without a
// call into C per record: the ring buffer's pages are mapped into this
// process once (as libbpf does), and the records are read straight from
// that memory. libuv polls the map's fd on the loop (koffi.node.poll) and,
// when it is readable, drain() reads what is there synchronously.
// Membrane's programs submit events without waking the reader (a wake-up
// costs the datapath's CPU an interrupt; bpf/include/events.h) except when
// the ring fills past a watermark, so the reader also drains on a short timer.
//
// Layout (kernel/bpf/ringbuf.c): page 0, writable, holds the consumer
// position; page 1, read-only, the producer position; then the data pages,
// mapped twice in a row so that a record that wraps around reads as one
// piece. Each record has an 8-byte header: its length with a BUSY bit (being
// written) and a DISCARD bit, then 4 bytes the kernel keeps; records are
// 8-byte aligned. Positions only grow; the consumer stores its own as it
// goes, which frees the space for the producer.
import { KernelError } from '../errors.ts';
import { koffi, lib, lastErrno, errnoName, type Ptr } from './libbpf.ts';
import { mapInfo } from './map.ts';

/**
 * Called once per record. `data` is a view on the ring buffer's memory that is
 * valid only during the call: decode it synchronously, or copy it.
 */
export type RecordHandler = (data: Buffer) => void;

/** How often a reader drains without being woken: the most a flow waits at low rates. */
export const DRAIN_EVERY_MS = 20;

const BPF_MAP_TYPE_RINGBUF = 27;
const PAGE_SIZE = 4096; // x86_64, the one architecture Membrane builds for
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;
const BUSY = 0x8000_0000;
const DISCARD = 0x4000_0000;
const HEADER = 8;

function mmap(fd: number, length: number, prot: number, offset: number, what: string): Ptr {
  const addr = lib().libc.mmap(null, length, prot, MAP_SHARED, fd, offset) as Ptr | null;
  if (addr === null || addr === MAP_FAILED) {
    const errno = lastErrno();
    throw new KernelError('BPF_SYSCALL_FAILED', `open ring buffer: mmap ${what}: ${errnoName(errno)}`, { details: { errno } });
  }
  return addr;
}

export class RingBufferReader {
  readonly #size: number;
  readonly #consAddr: Ptr;
  readonly #prodAddr: Ptr;
  readonly #consumer: BigUint64Array;
  readonly #producer: BigUint64Array;
  readonly #data: Buffer;
  readonly #handler: RecordHandler;
  readonly #poll: ReturnType<typeof koffi.node.poll>;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #onError: (err: unknown) => void;
  #closed = false;
  #draining = false;
  /** Records handed to the handler since start. */
  received = 0;

  /**
   * A handler that throws does not stop the reader: the error goes to `onError` (default: stderr).
   * `drainEveryMs` (default 20; 0: never) drains on a timer as well, for records submitted without a wake-up.
   */
  constructor(mapFd: number, handler: RecordHandler, opts: { onError?: (err: unknown) => void; drainEveryMs?: number } = {}) {
    this.#onError = opts.onError ?? ((err) => process.stderr.write(`ring buffer handler failed: ${String(err)}\n`));
    this.#handler = handler;
    const info = mapInfo(mapFd);
    if (info.type !== BPF_MAP_TYPE_RINGBUF) {
      throw new KernelError('BPF_SYSCALL_FAILED', `open ring buffer: map '${info.name}' (fd ${mapFd}) is of type ${info.type}, not a ring buffer`, { details: { type: info.type } });
    }
    this.#size = info.maxEntries; // the data size in bytes, a power of two
    this.#consAddr = mmap(mapFd, PAGE_SIZE, PROT_READ | PROT_WRITE, 0, 'consumer page');
    try {
      this.#prodAddr = mmap(mapFd, PAGE_SIZE + 2 * this.#size, PROT_READ, PAGE_SIZE, 'producer and data pages');
    } catch (err) {
      lib().libc.munmap(this.#consAddr, PAGE_SIZE);
      throw err;
    }
    this.#consumer = new BigUint64Array(koffi.view(this.#consAddr, PAGE_SIZE), 0, 1);
    const prod = koffi.view(this.#prodAddr, PAGE_SIZE + 2 * this.#size);
    this.#producer = new BigUint64Array(prod, 0, 1);
    this.#data = Buffer.from(prod, PAGE_SIZE, 2 * this.#size);
    this.#poll = koffi.node.poll(mapFd, { readable: true }, () => this.drain());
    // The reader alone must not keep the process alive.
    this.#poll.unref();
    const every = opts.drainEveryMs ?? DRAIN_EVERY_MS;
    if (every > 0) {
      this.#timer = setInterval(() => this.drain(), every);
      this.#timer.unref();
    }
  }

  /** Consumes everything available now; returns the number of records. */
  drain(): number {
    if (this.#closed || this.#draining) return 0; // a handler that drains again would read a record twice
    this.#draining = true;
    let n = 0;
    try {
      const data = this.#data;
      let cons = Number(Atomics.load(this.#consumer, 0));
      let prod = Number(Atomics.load(this.#producer, 0));
      while (cons < prod && !this.#closed) {
        const off = cons % this.#size;
        const hdr = data.readUInt32LE(off);
        if (hdr & BUSY) break; // still being written: the next drain takes it
        const len = hdr & 0x3fff_ffff; // without BUSY and DISCARD
        if (!(hdr & DISCARD)) {
          n++;
          this.received++;
          try {
            this.#handler(data.subarray(off + HEADER, off + HEADER + len));
          } catch (err) {
            this.#onError(err);
          }
        }
        cons += (len + HEADER + 7) & ~7;
        // Storing the position frees the records' space: every 64 records
        // (not per record: a BigInt each) and when the drain ends.
        if ((n & 63) === 0) Atomics.store(this.#consumer, 0, BigInt(cons));
        if (cons >= prod) prod = Number(Atomics.load(this.#producer, 0));
      }
      Atomics.store(this.#consumer, 0, BigInt(cons));
    } finally {
      this.#draining = false;
    }
    return n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#poll.close();
    if (this.#draining) {
      // Closed by a handler: unmap once the drain has returned.
      queueMicrotask(() => this.#unmap());
    } else {
      this.#unmap();
    }
  }

  #unmap(): void {
    const { libc } = lib();
    libc.munmap(this.#prodAddr, PAGE_SIZE + 2 * this.#size);
    libc.munmap(this.#consAddr, PAGE_SIZE);
  }
}

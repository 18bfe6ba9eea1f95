// Reads a BPF ring buffer without ever blocking the event loop: libuv polls
// the ring buffer's epoll fd on the loop (koffi.node.poll) and, when it is
// readable, ring_buffer__consume drains what is there synchronously. Membrane's
// programs submit events without waking the reader (a wake-up costs the
// datapath's CPU an interrupt; bpf/include/events.h) except when the ring
// fills past a watermark, so the reader also drains on a short timer.
import { KernelError } from '../errors.ts';
import { koffi, lib, lastErrno, errnoName, check, type Ptr } from './libbpf.ts';

/**
 * Called once per record. `data` is a view on the ring buffer's memory that is
 * valid only during the call: decode it synchronously, or copy it.
 */
export type RecordHandler = (data: Buffer) => void;

/** How often a reader drains without being woken: the most a flow waits at low rates. */
export const DRAIN_EVERY_MS = 20;

export class RingBufferReader {
  readonly #rb: Ptr;
  readonly #cb: Ptr;
  readonly #poll: ReturnType<typeof koffi.node.poll>;
  #closed = false;
  /** Records handed to the handler since start. */
  received = 0;

  readonly #onError: (err: unknown) => void;

  readonly #timer: NodeJS.Timeout | undefined;

  /**
   * A handler that throws does not stop the reader: the error goes to `onError` (default: stderr).
   * `drainEveryMs` (default 20; 0: never) drains on a timer as well, for records submitted without a wake-up.
   */
  constructor(mapFd: number, handler: RecordHandler, opts: { onError?: (err: unknown) => void; drainEveryMs?: number } = {}) {
    this.#onError = opts.onError ?? ((err) => process.stderr.write(`ring buffer handler failed: ${String(err)}\n`));
    const { bpf, sampleFn } = lib();
    this.#cb = koffi.register((_ctx: Ptr, data: Ptr, size: number | bigint) => {
      this.received++;
      try {
        handler(Buffer.from(koffi.view(data, Number(size))));
      } catch (err) {
        this.#onError(err);
      }
      return 0;
    }, koffi.pointer(sampleFn));
    const rb = bpf.ring_buffer__new(mapFd, this.#cb, null, null) as Ptr | null;
    if (rb === null) {
      koffi.unregister(this.#cb);
      const errno = lastErrno();
      throw new KernelError('BPF_SYSCALL_FAILED', `open ring buffer: ${errnoName(errno)}`, { details: { errno } });
    }
    this.#rb = rb;
    const epfd = bpf.ring_buffer__epoll_fd(rb) as number;
    this.#poll = koffi.node.poll(epfd, { readable: true }, () => this.drain());
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
    if (this.#closed) return 0;
    return check(lib().bpf.ring_buffer__consume(this.#rb) as number, 'consume ring buffer');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#poll.close();
    lib().bpf.ring_buffer__free(this.#rb);
    koffi.unregister(this.#cb);
  }
}

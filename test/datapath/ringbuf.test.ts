// The ring-buffer reader: records a BPF program writes arrive through the
// event loop (libuv polls the ring buffer's epoll fd), decode through the ABI
// codec, and waiting for them never blocks the loop.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { event as eventCodec, MB_EVENT_TRACE, type RawEvent } from '../../src/datapath/abi.ts';
import { setLibbpfLogSink } from '../../src/datapath/libbpf.ts';
import { RingBufferReader } from '../../src/datapath/ringbuf.ts';
import { progTestRun } from '../../src/datapath/testrun.ts';
import { MembraneError } from '../../src/errors.ts';
import { ROOT, deferrer, makePinDir, openFds, udpFrame, useTestObject, TEST_PROGS } from './helpers.ts';

const execFileP = promisify(execFile);
const TC_ACT_OK = 0;

/** libbpf's diagnostics, kept off stderr. */
const libbpfLog: string[] = [];
const loaded = useTestObject(() => setLibbpfLogSink((_level, line) => libbpfLog.push(line)));

/** Runs tc_events once per frame; each run writes one record. */
function emit(frames: readonly Buffer[]): void {
  const fd = loaded().programFd('tc_events');
  for (const f of frames) assert.equal(progTestRun(fd, f).retval, TC_ACT_OK);
}

function frames(n: number, base = 0): Buffer[] {
  return Array.from({ length: n }, (_, i) => udpFrame(`10.1.${(base + i) >> 8 & 255}.${(base + i) & 255}`, '10.2.0.1', 10000 + i, 20000 + (i % 100)));
}

/** A reader that collects decoded events and resolves when `n` have arrived. */
function collect(n: number): { reader: RingBufferReader; events: RawEvent[]; done: Promise<void> } {
  const events: RawEvent[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const reader = new RingBufferReader(loaded().mapFd('t_events'), (data) => {
    assert.equal(data.length, eventCodec.size, 'one mb_event per record');
    events.push(eventCodec.decode(data));
    if (events.length === n) resolve();
  });
  return { reader, events, done };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

describe('RingBufferReader', () => {
  test('records written by a program arrive through the event loop, in order, decoded by the ABI codec', async (t) => {
    const defer = deferrer(t);
    const { reader, events, done } = collect(300);
    defer(() => reader.close());
    const sent = frames(300);
    emit(sent);
    assert.equal(events.length, 0, 'nothing is delivered synchronously: the loop delivers');
    await withTimeout(done, 5000, '300 events');

    assert.equal(reader.received, 300);
    const lo = Number(fs.readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
    const seq0 = events[0]!.source;
    events.forEach((e, i) => {
      const f = sent[i]!;
      assert.equal(e.source, (seq0 + i) & 0xffff, 'sequence numbers follow the runs');
      assert.equal(e.type, MB_EVENT_TRACE);
      assert.equal(e.subtype, 1);
      assert.equal(e.saddr, `${f[26]}.${f[27]}.${f[28]}.${f[29]}`);
      assert.equal(e.daddr, '10.2.0.1');
      assert.equal(e.sport, 10000 + i);
      assert.equal(e.dport, 20000 + (i % 100));
      assert.equal(e.proto, 17);
      assert.equal(e.len, f.length);
      assert.equal(e.ifindex, lo, 'test runs happen on the loopback device');
      assert.ok(e.ts_ns > 0n);
    });
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.ts_ns >= events[i - 1]!.ts_ns, 'timestamps do not go back');
  });

  test('a handler that throws does not stop the reader: the error is reported and later records still arrive', async (t) => {
    const defer = deferrer(t);
    const errors: unknown[] = [];
    let seen = 0;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const reader = new RingBufferReader(
      loaded().mapFd('t_events'),
      () => {
        seen++;
        if (seen === 1) throw new Error('bad record');
        if (seen === 5) resolve();
      },
      { onError: (err) => errors.push(err) },
    );
    defer(() => reader.close());
    emit(frames(5, 900));
    await withTimeout(done, 5000, '5 events');
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /bad record/);
  });

  test('waiting for events never blocks the event loop', async (t) => {
    const defer = deferrer(t);
    const { reader, events, done } = collect(50);
    defer(() => reader.close());

    // While nothing arrives, the loop keeps turning: immediates and timers run.
    let immediates = 0;
    let spinning = true;
    const spin = (): void => {
      immediates++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    let ticks = 0;
    const interval = setInterval(() => ticks++, 5);
    defer(() => {
      spinning = false;
      clearInterval(interval);
    });

    const started = Date.now();
    const trigger = setTimeout(() => emit(frames(50, 1000)), 250);
    defer(() => clearTimeout(trigger));
    await withTimeout(done, 5000, '50 events');
    const waited = Date.now() - started;

    assert.equal(events.length, 50);
    assert.ok(waited >= 240, `the events came when triggered (${waited} ms)`);
    assert.ok(ticks >= 10, `a 5 ms interval fired ${ticks} times while the reader waited`);
    assert.ok(immediates >= 100, `setImmediate ran ${immediates} times while the reader waited`);
  });

  test('drain() consumes what is there synchronously and returns the count', (t) => {
    const defer = deferrer(t);
    const { reader, events } = collect(Infinity);
    defer(() => reader.close());
    emit(frames(7, 2000));
    assert.equal(reader.drain(), 7);
    assert.equal(events.length, 7);
    assert.equal(reader.drain(), 0, 'nothing left');
    assert.equal(reader.received, 7);
  });

  test('close() stops delivery and releases its fds; the map stays usable', async (t) => {
    const defer = deferrer(t);
    const before = openFds();
    const first = collect(Infinity);
    first.reader.close();
    first.reader.close(); // idempotent
    assert.equal(openFds(), before, 'the reader closed its epoll fd');
    emit(frames(5, 3000));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(first.events.length, 0, 'a closed reader delivers nothing');
    assert.equal(first.reader.drain(), 0);

    // The records wait in the ring for the next reader.
    const second = collect(5);
    defer(() => second.reader.close());
    await withTimeout(second.done, 5000, 'the 5 records left in the ring');
    assert.deepEqual(second.events.map((e) => e.sport), [10000, 10001, 10002, 10003, 10004]);
  });

  test('a map that is not a ring buffer is refused with a sentence and no leak', () => {
    const before = openFds();
    assert.throws(() => new RingBufferReader(loaded().mapFd('t_hash'), () => undefined), (err: unknown) => {
      assert.ok(err instanceof MembraneError);
      assert.equal(err.code, 'BPF_SYSCALL_FAILED');
      assert.match(err.message, /^open ring buffer: map 't_hash' \(fd \d+\) is of type 1, not a ring buffer$/);
      return true;
    });
    assert.equal(openFds(), before);
  });

  test('an idle reader does not keep the process alive', async (t) => {
    // A child process opens a reader and never closes it; it must still exit.
    const pins = makePinDir();
    deferrer(t)(() => pins.remove());
    const script = `
      import { loadObject } from ${JSON.stringify(`${ROOT}/src/datapath/object.ts`)};
      import { RingBufferReader } from ${JSON.stringify(`${ROOT}/src/datapath/ringbuf.ts`)};
      const obj = loadObject({ file: ${JSON.stringify(TEST_PROGS)}, pinDir: ${JSON.stringify(pins.dir)}, pin: [] });
      new RingBufferReader(obj.mapFd('t_events'), () => {});
      console.log('reader open');
    `;
    const started = Date.now();
    const r = await execFileP(process.execPath, ['--input-type=module', '-e', script], { timeout: 10000 });
    assert.equal(r.stdout.trim(), 'reader open');
    assert.ok(Date.now() - started < 10000, 'the child exited on its own');
  });
});

// BPF_PROG_TEST_RUN: runs a loaded program on a packet built in userspace,
// without a network device. The program's side effects (map updates,
// ring-buffer records) are real, which is what makes it useful to tests and
// to `membrane` self-checks.
import { koffi, check, lib } from './libbpf.ts';

export interface TestRunResult {
  /** The program's return value (TC_ACT_*, XDP_*, ...). */
  retval: number;
  /** Average run time per repetition in nanoseconds, as the kernel measured it. */
  duration: number;
  /** The packet as the program left it. */
  dataOut: Buffer;
}

export interface TestRunOptions {
  /** Runs the program this many times in one syscall (default 1). */
  repeat?: number;
}

/**
 * struct bpf_test_run_opts (x86_64): sz@0, data_in@8, data_out@16,
 * data_size_in@24, data_size_out@28, ctx_in@32, ctx_out@40, ctx_size_in@48,
 * ctx_size_out@52, retval@56, repeat@60, duration@64, flags@68, cpu@72,
 * batch_size@76; 80 bytes.
 */
const OPTS_SIZE = 80;

/** Runs `progFd` on `packet` (a whole frame, Ethernet header first, at least 14 bytes). */
export function progTestRun(progFd: number, packet: Buffer, opts: TestRunOptions = {}): TestRunResult {
  const repeat = opts.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) throw new RangeError(`progTestRun: repeat must be a positive integer, not ${repeat}`);
  // Copies so the addresses below point at memory this call owns for its duration.
  const dataIn = Buffer.alloc(packet.length);
  packet.copy(dataIn);
  const dataOut = Buffer.alloc(packet.length + 512);
  const o = Buffer.alloc(OPTS_SIZE);
  o.writeBigUInt64LE(BigInt(OPTS_SIZE), 0);
  o.writeBigUInt64LE(koffi.address(dataIn), 8);
  o.writeBigUInt64LE(koffi.address(dataOut), 16);
  o.writeUInt32LE(dataIn.length, 24);
  o.writeUInt32LE(dataOut.length, 28);
  o.writeInt32LE(repeat, 60);
  check(lib().bpf.bpf_prog_test_run_opts(progFd, o) as number, `test run of program fd ${progFd}`);
  return {
    retval: o.readUInt32LE(56),
    duration: o.readUInt32LE(64),
    dataOut: Buffer.from(dataOut.subarray(0, o.readUInt32LE(28))),
  };
}

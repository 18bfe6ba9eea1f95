// Typed errors with stable codes. Every error that reaches a user or an API
// client is a MembraneError: `code` is stable (scripts may match on it),
// `message` says what happened and, where it can, what to do next.

export type ErrorCode =
  // input
  | 'INVALID_INPUT' // a manifest, flag or request field is wrong
  | 'NOT_FOUND'
  | 'CONFLICT'
  // environment and kernel
  | 'NOT_ROOT'
  | 'BPFFS_NOT_MOUNTED'
  | 'KERNEL_FEATURE_MISSING'
  | 'BPF_LOAD_FAILED' // verifier rejected a program; `details.verifierLog` holds the log
  | 'BPF_SYSCALL_FAILED'
  | 'NETLINK_FAILED' // an ip/tc/nft command failed
  | 'IPAM_EXHAUSTED'
  // agent
  | 'AGENT_UNREACHABLE'
  | 'STATE_CORRUPT'
  | 'INTERNAL';

export interface ErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class MembraneError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MembraneError';
    this.code = code;
    this.details = opts.details ?? {};
  }
  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return Object.keys(this.details).length > 0
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

/** Bad input: names the document, the field and the reason. */
export class InputError extends MembraneError {
  readonly field: string;
  constructor(field: string, reason: string, opts: ErrorOptions & { document?: string } = {}) {
    const where = opts.document ? `${opts.document}: ` : '';
    super('INVALID_INPUT', `${where}${field}: ${reason}`, {
      ...opts,
      details: { ...opts.details, field, reason, ...(opts.document ? { document: opts.document } : {}) },
    });
    this.name = 'InputError';
    this.field = field;
  }
}

/** A kernel or netlink operation failed. */
export class KernelError extends MembraneError {
  constructor(code: ErrorCode, message: string, opts: ErrorOptions = {}) {
    super(code, message, opts);
    this.name = 'KernelError';
  }
}

/** Wraps any error with context, keeping its code when it has one. */
export function wrap(err: unknown, context: string): MembraneError {
  if (err instanceof MembraneError) {
    const e = new MembraneError(err.code, `${context}: ${err.message}`, { cause: err, details: err.details });
    return e;
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new MembraneError('INTERNAL', `${context}: ${msg}`, { cause: err });
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

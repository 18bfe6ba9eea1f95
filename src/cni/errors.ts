// CNI error codes and the mapping from Membrane errors to them (pure).
//
// The CNI spec reserves codes 0-99 for well-known errors; 100 and up are free
// for plugins. An error is reported as JSON on stdout with a non-zero exit:
// {cniVersion, code, msg, details?}.
import { MembraneError, type ErrorCode } from '../errors.ts';

/** Numeric CNI error codes. 1-11 and 50-51 are the spec's; 100+ are Membrane's. */
export const CNI_ERR = {
  /** The configuration's cniVersion is not one this plugin speaks, or the command needs a newer one. */
  INCOMPATIBLE_VERSION: 1,
  /** A configuration field is not supported; the message names the key and value. */
  UNSUPPORTED_FIELD: 2,
  /** The container is unknown: the runtime need not clean anything up. */
  UNKNOWN_CONTAINER: 3,
  /** A required CNI_* variable is missing or malformed; the message names it. */
  INVALID_ENV: 4,
  /** I/O failure, e.g. the agent's socket cannot be reached. */
  IO_FAILURE: 5,
  /** stdin is not a JSON object. */
  DECODE_FAILURE: 6,
  /** The network configuration is well-formed JSON but wrong. */
  INVALID_NETWORK_CONFIG: 7,
  /** A transient condition: the runtime should retry later. */
  TRY_AGAIN_LATER: 11,
  /** STATUS: the plugin cannot service ADD requests now. */
  PLUGIN_NOT_AVAILABLE: 50,
  /** STATUS: the plugin can service ADDs but existing containers may have limited connectivity. */
  LIMITED_CONNECTIVITY: 51,
  /** Membrane: the attachment exists but differs from what was expected (CHECK, or a conflicting ADD). */
  ATTACHMENT_MISMATCH: 100,
  /** Anything unclassified (the same value libcni uses for internal errors). */
  INTERNAL: 999,
} as const;

export type CniErrorCode = (typeof CNI_ERR)[keyof typeof CNI_ERR];

/** A failure already expressed in CNI terms. */
export class CniError extends Error {
  readonly code: number;
  readonly details: string | undefined;
  constructor(code: number, msg: string, details?: string, opts: { cause?: unknown } = {}) {
    super(msg, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }
}

/** The error object printed on stdout. */
export interface CniErrorJSON {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** Which CNI code a Membrane error code (and, for agent answers, the HTTP status) becomes. */
export function cniCodeFor(code: ErrorCode | string, httpStatus?: number): number {
  switch (code) {
    case 'AGENT_UNREACHABLE':
      return CNI_ERR.IO_FAILURE;
    case 'NOT_FOUND':
      return CNI_ERR.UNKNOWN_CONTAINER;
    case 'INVALID_INPUT':
      return CNI_ERR.INVALID_NETWORK_CONFIG;
    case 'CONFLICT':
      return CNI_ERR.ATTACHMENT_MISMATCH;
    case 'IPAM_EXHAUSTED':
      // Addresses come back as pods go away; the runtime retries ADD.
      return CNI_ERR.TRY_AGAIN_LATER;
    default:
      if (httpStatus === 503 || httpStatus === 429) return CNI_ERR.TRY_AGAIN_LATER;
      return CNI_ERR.INTERNAL;
  }
}

/** Turns any thrown value into a CniError, keeping CniErrors as they are. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof MembraneError) {
    const status = typeof err.details.status === 'number' ? err.details.status : undefined;
    // The agent names the request field; the ones that come from CNI_* variables are code 4.
    const fromEnv = err.code === 'INVALID_INPUT' && ['netns', 'containerID', 'ifName'].includes(String(err.details.field));
    return new CniError(fromEnv ? CNI_ERR.INVALID_ENV : cniCodeFor(err.code, status), err.message, membraneDetails(err), { cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new CniError(CNI_ERR.INTERNAL, msg, undefined, { cause: err });
}

function membraneDetails(err: MembraneError): string {
  const rest = { ...err.details };
  delete rest.status;
  const extra = Object.keys(rest).length > 0 ? ` ${safeJSON(rest)}` : '';
  return `membrane error ${err.code}${extra}`;
}

function safeJSON(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** The spec's error object for `err`, reported under `cniVersion`. */
export function cniErrorJSON(err: CniError, cniVersion: string): CniErrorJSON {
  const out: CniErrorJSON = { cniVersion, code: err.code, msg: err.message };
  if (err.details !== undefined && err.details !== '') out.details = err.details;
  return out;
}

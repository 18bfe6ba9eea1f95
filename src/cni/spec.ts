// Parsing of a CNI invocation (pure): the CNI_* environment and the network
// configuration on stdin become a typed request spec, or a CniError carrying
// the spec's error code.
import { DEFAULT_SOCKET, type AttachmentRef } from '../agent/api-types.ts';
import { CNI_ERR, CniError } from './errors.ts';

/** CNI spec versions this plugin speaks, oldest first. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type CniCommand = (typeof CNI_COMMANDS)[number];

/**
 * Variables each command needs set and non-empty. CNI_PATH is left out on
 * purpose: the spec lists it for CHECK and GC, but this plugin delegates to
 * no other plugin, so insisting on it would only reject hand-made calls.
 * DEL must work without CNI_NETNS (the namespace may already be gone).
 */
export const REQUIRED_ENV: Readonly<Record<CniCommand, readonly string[]>> = {
  ADD: ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME'],
  CHECK: ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  STATUS: ['CNI_COMMAND'],
  GC: ['CNI_COMMAND'],
  VERSION: ['CNI_COMMAND'],
};

/** The oldest spec version in which each command exists. */
export const MIN_VERSION: Readonly<Record<CniCommand, CniVersion>> = {
  ADD: '0.3.0',
  DEL: '0.3.0',
  CHECK: '0.4.0',
  STATUS: '1.1.0',
  GC: '1.1.0',
  VERSION: '0.3.0',
};

/** The environment as the runtime passes it (process.env fits). */
export type CniEnv = Readonly<Record<string, string | undefined>>;

/** The network configuration fields this plugin reads; `raw` keeps everything. */
export interface NetworkConfig {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** Overrides the agent socket path. */
  agentSocket?: string;
  prevResult?: Record<string, unknown>;
  runtimeConfig?: Record<string, unknown>;
  /** GC only: attachments the runtime still knows about. */
  validAttachments?: AttachmentRef[];
  raw: Record<string, unknown>;
}

interface BaseSpec {
  cniVersion: CniVersion;
  config: NetworkConfig;
  /** Agent socket: config `agentSocket`, else MEMBRANE_SOCKET, else the default. */
  socketPath: string;
  /** CNI_ARGS as key/value pairs. */
  args: Record<string, string>;
  /** CNI_PATH split on ':'. */
  path: string[];
}

export interface AttachmentSpec extends BaseSpec {
  command: 'ADD' | 'DEL' | 'CHECK';
  containerID: string;
  ifName: string;
  /** Path of the network namespace; '' on a DEL whose namespace is gone. */
  netns: string;
  podNamespace?: string;
  podName?: string;
}

export interface StatusSpec extends BaseSpec {
  command: 'STATUS';
}

export interface GcSpec extends BaseSpec {
  command: 'GC';
  validAttachments: AttachmentRef[];
}

export interface VersionSpec {
  command: 'VERSION';
}

export type CniRequestSpec = VersionSpec | AttachmentSpec | StatusSpec | GcSpec;

// --- versions ---------------------------------------------------------------

/** Parses "x.y.z" into numbers; undefined when it is not a plain semver triple. */
function versionTuple(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Compares two "x.y.z" versions: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const x = versionTuple(a);
  const y = versionTuple(b);
  if (!x || !y) throw new Error(`not a version: ${x ? b : a}`);
  for (let i = 0; i < 3; i++) {
    const d = (x[i] as number) - (y[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Checks the configuration's cniVersion against the supported list. */
export function negotiateVersion(v: unknown): CniVersion {
  const supported = SUPPORTED_VERSIONS.join(', ');
  if (v === undefined || v === null || v === '') {
    throw new CniError(
      CNI_ERR.INCOMPATIBLE_VERSION,
      'incompatible CNI versions: the network configuration has no cniVersion',
      `supported versions: ${supported}`,
    );
  }
  if (typeof v !== 'string') {
    throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, 'cniVersion: must be a string', `got ${JSON.stringify(v)}`);
  }
  if (!isSupportedVersion(v)) {
    throw new CniError(
      CNI_ERR.INCOMPATIBLE_VERSION,
      `incompatible CNI versions: config is "${v}"`,
      `supported versions: ${supported}`,
    );
  }
  return v;
}

/** Rejects a command the negotiated version does not have (CHECK < 0.4.0, STATUS/GC < 1.1.0). */
export function requireVersionFor(command: CniCommand, version: CniVersion): void {
  const min = MIN_VERSION[command];
  if (compareVersions(version, min) < 0) {
    throw new CniError(
      CNI_ERR.INCOMPATIBLE_VERSION,
      `config version ${version} does not allow ${command}`,
      `${command} needs cniVersion ${min} or newer`,
    );
  }
}

// --- environment ------------------------------------------------------------

function envValue(env: CniEnv, name: string): string {
  return env[name] ?? '';
}

/** CNI_COMMAND, validated. */
export function parseCommand(env: CniEnv): CniCommand {
  const cmd = envValue(env, 'CNI_COMMAND');
  if (cmd === '') {
    throw new CniError(CNI_ERR.INVALID_ENV, 'required env variables [CNI_COMMAND] missing');
  }
  if (!(CNI_COMMANDS as readonly string[]).includes(cmd)) {
    throw new CniError(
      CNI_ERR.INVALID_ENV,
      `unknown CNI_COMMAND: ${cmd}`,
      `CNI_COMMAND must be one of ${CNI_COMMANDS.join(', ')}`,
    );
  }
  return cmd as CniCommand;
}

/** Names of required variables that are absent or empty for `command`. */
export function missingEnv(command: CniCommand, env: CniEnv): string[] {
  return REQUIRED_ENV[command].filter((name) => envValue(env, name) === '');
}

/** CNI_ARGS "K1=V1;K2=V2" into a record; empty segments are skipped. */
export function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) {
      throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: invalid pair "${part}"`, 'CNI_ARGS must be K1=V1;K2=V2');
    }
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The spec's container-ID rule: alphanumeric first, then alphanumerics, '_', '.', '-'. */
export function validateContainerID(id: string): void {
  if (!ID_RE.test(id)) {
    throw new CniError(CNI_ERR.INVALID_ENV, 'CNI_CONTAINERID: invalid characters in container ID', id);
  }
}

/** Linux interface-name rules: 1-15 bytes, not "." or "..", no '/', ':' or whitespace. */
export function validateIfName(name: string): void {
  let reason = '';
  if (name === '') reason = 'is empty';
  else if (Buffer.byteLength(name) > 15) reason = 'is longer than 15 characters';
  else if (name === '.' || name === '..') reason = 'must not be "." or ".."';
  else if (/[/:\s]/.test(name)) reason = "must not contain '/', ':' or whitespace";
  if (reason) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_IFNAME: interface name ${reason}`, name);
}

/**
 * CNI_NETNS for ADD and CHECK: an absolute path without white space (what
 * the agent accepts). DEL ignores the namespace, so it is not checked there.
 */
export function validateNetns(netns: string): void {
  let reason = '';
  if (!netns.startsWith('/')) reason = 'must be an absolute path to a network namespace';
  else if (/\s/.test(netns)) reason = 'must not contain white space';
  if (reason) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_NETNS: ${reason}`, netns);
}

// --- network configuration ---------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** stdin as a JSON object, or CNI error 6. */
export function decodeConfig(stdinText: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdinText);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CniError(CNI_ERR.DECODE_FAILURE, `error decoding network config from stdin: ${why}`);
  }
  if (!isObject(parsed)) {
    throw new CniError(CNI_ERR.DECODE_FAILURE, 'error decoding network config from stdin: not a JSON object');
  }
  return parsed;
}

/** The configuration's cniVersion when stdin holds a supported one (used to label error replies). */
export function peekVersion(stdinText: string): CniVersion | undefined {
  try {
    const v = (JSON.parse(stdinText) as { cniVersion?: unknown } | null)?.cniVersion;
    return isSupportedVersion(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function optionalObject(raw: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, `${key}: must be an object`);
  return v;
}

function requiredName(raw: Record<string, unknown>, key: 'name' | 'type'): string {
  const v = raw[key];
  if (typeof v !== 'string' || v === '') {
    throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, `missing network ${key}`, `"${key}" must be a non-empty string`);
  }
  return v;
}

/**
 * The GC list. libcni 1.2 sends it as `cni.dev/valid-attachments` (and also
 * `cni.dev/attachments`, the key in an earlier draft); either is accepted.
 */
export function parseValidAttachments(raw: Record<string, unknown>): AttachmentRef[] | undefined {
  const key = 'cni.dev/valid-attachments' in raw ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, `${key}: must be an array`);
  return v.map((item: unknown, i) => {
    if (!isObject(item) || typeof item.containerID !== 'string' || typeof item.ifname !== 'string') {
      throw new CniError(
        CNI_ERR.INVALID_NETWORK_CONFIG,
        `${key}[${i}]: must be {"containerID": string, "ifname": string}`,
        JSON.stringify(item),
      );
    }
    return { containerID: item.containerID, ifName: item.ifname };
  });
}

/** Decodes and validates the network configuration (codes 6, 1, 7). */
export function parseNetworkConfig(stdinText: string): NetworkConfig {
  const raw = decodeConfig(stdinText);
  const cniVersion = negotiateVersion(raw.cniVersion);
  const name = requiredName(raw, 'name');
  if (!ID_RE.test(name)) {
    throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, 'invalid characters in network name', name);
  }
  const type = requiredName(raw, 'type');
  const config: NetworkConfig = { cniVersion, name, type, raw };
  const sock = raw.agentSocket;
  if (sock !== undefined) {
    if (typeof sock !== 'string' || sock === '') {
      throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, 'agentSocket: must be a non-empty string (a unix socket path)');
    }
    config.agentSocket = sock;
  }
  const prevResult = optionalObject(raw, 'prevResult');
  if (prevResult) config.prevResult = prevResult;
  const runtimeConfig = optionalObject(raw, 'runtimeConfig');
  if (runtimeConfig) config.runtimeConfig = runtimeConfig;
  const valid = parseValidAttachments(raw);
  if (valid) config.validAttachments = valid;
  return config;
}

/** Socket precedence: config `agentSocket`, env MEMBRANE_SOCKET, DEFAULT_SOCKET. */
export function resolveSocket(config: NetworkConfig | undefined, env: CniEnv): string {
  return config?.agentSocket ?? (envValue(env, 'MEMBRANE_SOCKET') || DEFAULT_SOCKET);
}

// --- the whole request -------------------------------------------------------

/**
 * Parses one invocation. Checks run in this order, so the first problem found
 * decides the code: CNI_COMMAND (4), other required variables (4, naming all
 * that are missing), CNI_ARGS and ID/interface syntax (4), stdin (6), version
 * (1), configuration fields (7 / 2), then command-specific needs.
 */
export function parseRequest(env: CniEnv, stdinText: string): CniRequestSpec {
  const command = parseCommand(env);
  if (command === 'VERSION') return { command };

  const missing = missingEnv(command, env);
  if (missing.length > 0) {
    throw new CniError(CNI_ERR.INVALID_ENV, `required env variables [${missing.join(',')}] missing`);
  }
  const args = parseCniArgs(envValue(env, 'CNI_ARGS'));
  const path = envValue(env, 'CNI_PATH')
    .split(':')
    .filter((p) => p !== '');
  const attachment = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  if (attachment) {
    validateContainerID(envValue(env, 'CNI_CONTAINERID'));
    validateIfName(envValue(env, 'CNI_IFNAME'));
    if (command !== 'DEL') validateNetns(envValue(env, 'CNI_NETNS'));
  }

  const config = parseNetworkConfig(stdinText);
  requireVersionFor(command, config.cniVersion);
  const base: BaseSpec = {
    cniVersion: config.cniVersion,
    config,
    socketPath: resolveSocket(config, env),
    args,
    path,
  };

  switch (command) {
    case 'STATUS':
      return { ...base, command };
    case 'GC': {
      if (!config.validAttachments) {
        // Refuse rather than treat a missing list as "nothing is valid".
        throw new CniError(
          CNI_ERR.INVALID_NETWORK_CONFIG,
          'GC needs cni.dev/valid-attachments in the network configuration',
        );
      }
      return { ...base, command, validAttachments: config.validAttachments };
    }
    case 'ADD':
    case 'DEL':
    case 'CHECK': {
      const containerID = envValue(env, 'CNI_CONTAINERID');
      const ifName = envValue(env, 'CNI_IFNAME');
      if (command === 'ADD' && config.raw.ipam !== undefined) {
        throw new CniError(
          CNI_ERR.UNSUPPORTED_FIELD,
          `unsupported field "ipam": ${JSON.stringify(config.raw.ipam)}`,
          'the Membrane agent allocates pod addresses itself; remove "ipam" from the configuration',
        );
      }
      if (command === 'CHECK' && !config.prevResult) {
        throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, 'CHECK needs prevResult in the network configuration');
      }
      const spec: AttachmentSpec = {
        ...base,
        command,
        containerID,
        ifName,
        netns: envValue(env, 'CNI_NETNS'),
      };
      const podNamespace = args.K8S_POD_NAMESPACE;
      const podName = args.K8S_POD_NAME;
      if (podNamespace) spec.podNamespace = podNamespace;
      if (podName) spec.podName = podName;
      return spec;
    }
  }
}

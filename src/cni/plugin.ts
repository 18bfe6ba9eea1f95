// Executes one CNI invocation against the Membrane agent. All the work
// (netns, veth, addresses, eBPF) happens in the agent; this only translates
// between the CNI protocol and the agent's REST API.
import type { EndpointCreateRequest, EndpointJSON, GcRequest, GcResponse } from '../agent/api-types.ts';
import { AgentClient } from '../agent/client.ts';
import { MembraneError } from '../errors.ts';
import { CNI_ERR, CniError, cniErrorJSON, toCniError } from './errors.ts';
import { buildAddResult, diffAttachment, expectedFromPrevResult } from './result.ts';
import {
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
  parseRequest,
  peekVersion,
  type AttachmentSpec,
  type CniEnv,
  type GcSpec,
  type StatusSpec,
} from './spec.ts';

/** The four calls the plugin makes; AgentClient implements them, tests fake them. */
export interface AgentApi {
  get<T>(path: string): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  delete<T>(path: string, body?: unknown): Promise<T>;
}

/** Builds a client for the socket the configuration selects. */
export type AgentFactory = (socketPath: string) => AgentApi;

export interface CniOutput {
  /** What to print on stdout (empty when the command prints nothing). */
  stdout: string;
  exitCode: number;
}

/** GET /v1/endpoints/{id}/{if}/check answer; `endpoint` is compared with prevResult when present. */
export interface EndpointCheckResponse {
  ok: boolean;
  message?: string;
  endpoint?: EndpointJSON;
}

/** The VERSION reply. */
export function versionInfo(): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** /v1/endpoints/{containerID}/{ifName}, segments URL-encoded. */
export function endpointPath(containerID: string, ifName: string): string {
  return `/v1/endpoints/${encodeURIComponent(containerID)}/${encodeURIComponent(ifName)}`;
}

function json(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

function defaultFactory(socketPath: string): AgentApi {
  return new AgentClient({ socketPath });
}

/**
 * Runs one invocation. `env` is the process environment, `stdinText` the
 * network configuration. `client` is an agent client (or a factory given the
 * socket path); by default an AgentClient on the configured socket.
 * Never throws: failures become a CNI error object and exit code 1.
 */
export async function runCni(
  env: CniEnv,
  stdinText: string,
  client?: AgentApi | AgentFactory,
): Promise<CniOutput> {
  try {
    const spec = parseRequest(env, stdinText);
    if (spec.command === 'VERSION') return { stdout: json(versionInfo()), exitCode: 0 };
    const agent =
      typeof client === 'function' ? client(spec.socketPath) : (client ?? defaultFactory(spec.socketPath));
    switch (spec.command) {
      case 'ADD':
        return await cmdAdd(spec, agent);
      case 'DEL':
        return await cmdDel(spec, agent);
      case 'CHECK':
        return await cmdCheck(spec, agent);
      case 'STATUS':
        return await cmdStatus(spec, agent);
      case 'GC':
        return await cmdGc(spec, agent);
    }
  } catch (err) {
    const e = toCniError(err);
    return { stdout: json(cniErrorJSON(e, peekVersion(stdinText) ?? LATEST_VERSION)), exitCode: 1 };
  }
}

async function cmdAdd(spec: AttachmentSpec, agent: AgentApi): Promise<CniOutput> {
  const req: EndpointCreateRequest = {
    containerID: spec.containerID,
    ifName: spec.ifName,
    netns: spec.netns,
  };
  if (spec.podNamespace !== undefined) req.podNamespace = spec.podNamespace;
  if (spec.podName !== undefined) req.podName = spec.podName;
  const ep = await agent.put<EndpointJSON>('/v1/endpoints', req);
  if (!ep || typeof ep.ipv4 !== 'string' || typeof ep.hostIfName !== 'string') {
    throw new CniError(CNI_ERR.INTERNAL, 'the agent answered PUT /v1/endpoints without an endpoint');
  }
  return { stdout: json(buildAddResult(ep, spec, spec.cniVersion)), exitCode: 0 };
}

async function cmdDel(spec: AttachmentSpec, agent: AgentApi): Promise<CniOutput> {
  try {
    await agent.delete(endpointPath(spec.containerID, spec.ifName));
  } catch (err) {
    // Already gone is success: DEL must be idempotent.
    if (!(err instanceof MembraneError && err.code === 'NOT_FOUND')) throw err;
  }
  return { stdout: '', exitCode: 0 };
}

async function cmdCheck(spec: AttachmentSpec, agent: AgentApi): Promise<CniOutput> {
  // parseRequest guarantees prevResult for CHECK.
  const expected = expectedFromPrevResult(spec.config.prevResult ?? {}, spec.ifName, spec.netns);
  const res = await agent.get<EndpointCheckResponse | undefined>(
    `${endpointPath(spec.containerID, spec.ifName)}/check`,
  );
  if (!res || res.ok !== true) {
    throw new CniError(
      CNI_ERR.ATTACHMENT_MISMATCH,
      `agent check failed for ${spec.containerID}/${spec.ifName}${res?.message ? `: ${res.message}` : ''}`,
    );
  }
  if (res.endpoint) {
    const diffs = diffAttachment(expected, res.endpoint);
    if (diffs.length > 0) {
      throw new CniError(
        CNI_ERR.ATTACHMENT_MISMATCH,
        `${spec.containerID}/${spec.ifName} differs from prevResult: ${diffs.join('; ')}`,
      );
    }
  }
  return { stdout: '', exitCode: 0 };
}

async function cmdStatus(_spec: StatusSpec, agent: AgentApi): Promise<CniOutput> {
  try {
    await agent.get('/v1/healthz');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const code = err instanceof MembraneError ? err.code : 'INTERNAL';
    throw new CniError(CNI_ERR.PLUGIN_NOT_AVAILABLE, `membrane agent not ready: ${why}`, `membrane error ${code}`, {
      cause: err,
    });
  }
  return { stdout: '', exitCode: 0 };
}

async function cmdGc(spec: GcSpec, agent: AgentApi): Promise<CniOutput> {
  const body: GcRequest = { validAttachments: spec.validAttachments };
  await agent.post<GcResponse>('/v1/endpoints/gc', body);
  return { stdout: '', exitCode: 0 };
}

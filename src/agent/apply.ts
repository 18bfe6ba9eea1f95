// `membrane apply` / `membrane delete` on the agent side: the whole manifest
// is parsed and validated first, then checked against what the store holds
// (ClusterIPs and NodePorts: in range, not another Service's; allocated when
// not given); then every change is committed in one store transaction, or
// none is. Apply answers once the datapath holds the change.
import { InputError } from '../errors.ts';
import { AggregateInputError, parseManifests } from '../k8s/documents.ts';
import type { KubeObject } from '../k8s/registry.ts';
import type { ServiceSpec } from '../k8s/service.ts';
import { allocateServices, type IncomingService } from '../service/allocate.ts';
import type { Agent } from './daemon.ts';
import { SERVICES_PREFIX, storeKey } from './objects.ts';

export interface ManifestRequest {
  /** The manifest text (YAML or JSON, several documents). */
  manifest: string;
  /** Shown in messages, e.g. the file name. */
  source?: string;
}

export interface ObjectResult {
  kind: string;
  namespace?: string;
  name: string;
  action: 'created' | 'configured' | 'unchanged' | 'deleted' | 'not found';
}

function readRequest(body: unknown): Required<ManifestRequest> {
  const r = body as Partial<ManifestRequest> | undefined;
  if (typeof r?.manifest !== 'string') throw new InputError('manifest', 'must be the manifest text');
  return { manifest: r.manifest, source: typeof r.source === 'string' ? r.source : '<request>' };
}

export interface ApplyResponse {
  results: ObjectResult[];
  /** Set when the objects were stored but the datapath could not be programmed (it is retried). */
  warnings?: string[];
}

/**
 * The stored form of each object: Services get their ClusterIP and
 * NodePorts filled (allocated, or kept from the stored Service). Throws an
 * AggregateInputError naming document, field and reason for every conflict.
 */
export function storedSpecs(agent: Pick<Agent, 'store' | 'config'>, objects: readonly KubeObject[], source: string): unknown[] {
  const specs: unknown[] = objects.map((o) => o.spec);
  const incoming: IncomingService[] = [];
  const at: number[] = [];
  objects.forEach((o, i) => {
    if (o.kind !== 'Service') return;
    const inc: IncomingService = { spec: o.spec, document: o.source?.document ?? `Service ${o.namespace ?? 'default'}/${o.name}` };
    if (o.source?.line !== undefined) inc.line = o.source.line;
    incoming.push(inc);
    at.push(i);
  });
  if (incoming.length === 0) return specs;
  const existing = agent.store.list<ServiceSpec>(SERVICES_PREFIX).map(([, v]) => v);
  const { specs: allocated, problems } = allocateServices(existing, incoming, { serviceCidr: agent.config.serviceCidr, nodePortRange: agent.config.nodePortRange });
  if (problems.length > 0) throw new AggregateInputError(source, problems);
  allocated.forEach((s, j) => (specs[at[j]!] = s));
  return specs;
}

export async function applyManifest(agent: Agent, body: unknown): Promise<ApplyResponse> {
  const req = readRequest(body);
  const { objects } = parseManifests(req.manifest, req.source);
  const specs = storedSpecs(agent, objects, req.source);
  const results: ObjectResult[] = [];
  const puts: Array<[string, unknown]> = [];
  objects.forEach((o, i) => {
    const key = storeKey(o);
    const old = agent.store.get(key);
    const spec = specs[i];
    const action = old === undefined ? 'created' : JSON.stringify(old) === JSON.stringify(spec) ? 'unchanged' : 'configured';
    if (action !== 'unchanged') puts.push([key, spec]);
    results.push({ kind: o.kind, ...(o.namespace ? { namespace: o.namespace } : {}), name: o.name, action });
  });
  await agent.store.commit({ put: puts });
  return { results, ...(await datapathWarnings(agent, puts.length)) };
}

/** Waits for the load balancer to take the change in; a failure becomes a warning (the objects are stored, the sync is retried). */
async function datapathWarnings(agent: Agent, changes: number): Promise<{ warnings?: string[] }> {
  if (changes === 0) return {};
  await agent.services.settled();
  await agent.policy.settled();
  const warnings: string[] = [];
  const lbError = agent.services.status().error;
  if (lbError) warnings.push(`stored, but the load balancer could not be programmed yet (retrying): ${lbError}`);
  const policyError = agent.policy.status().error;
  if (policyError) warnings.push(`stored, but the policy could not be programmed yet (retried on the next change): ${policyError}`);
  return warnings.length > 0 ? { warnings } : {};
}

export async function deleteManifest(agent: Agent, body: unknown): Promise<ApplyResponse> {
  const req = readRequest(body);
  const { objects } = parseManifests(req.manifest, req.source);
  const results: ObjectResult[] = [];
  const dels: string[] = [];
  for (const o of objects) {
    const key = storeKey(o);
    const found = agent.store.get(key) !== undefined;
    if (found) dels.push(key);
    results.push({ kind: o.kind, ...(o.namespace ? { namespace: o.namespace } : {}), name: o.name, action: found ? 'deleted' : 'not found' });
  }
  await agent.store.commit({ delete: dels });
  return { results, ...(await datapathWarnings(agent, dels.length)) };
}

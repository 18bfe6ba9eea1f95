// `membrane apply` / `membrane delete` on the agent side: the whole manifest
// is parsed and validated first; then every change is committed in one
// store transaction, or none is.
import { InputError } from '../errors.ts';
import { parseManifests } from '../k8s/documents.ts';
import type { Agent } from './daemon.ts';
import { storeKey } from './objects.ts';

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

/**
 * Kinds this agent acts on. Others may validate (the manifest parser knows
 * Services and EndpointSlices) but are refused until the agent serves them,
 * so that `apply` never reports success for something that has no effect.
 */
const SERVED_KINDS = new Set(['Pod', 'Namespace']);

function parseServed(req: ManifestRequest) {
  const { objects } = parseManifests(req.manifest, req.source ?? '<request>');
  const unserved = objects.filter((o) => !SERVED_KINDS.has(o.kind));
  if (unserved.length > 0) {
    const o = unserved[0]!;
    throw new InputError('kind', `${o.kind} is valid but this agent does not serve it yet (it serves ${[...SERVED_KINDS].join(', ')}); nothing was applied`, {
      document: o.source?.document ?? `${o.kind} ${o.name}`,
    });
  }
  return objects;
}

function readRequest(body: unknown): ManifestRequest {
  const r = body as Partial<ManifestRequest> | undefined;
  if (typeof r?.manifest !== 'string') throw new InputError('manifest', 'must be the manifest text');
  return { manifest: r.manifest, source: typeof r.source === 'string' ? r.source : '<request>' };
}

export async function applyManifest(agent: Agent, body: unknown): Promise<{ results: ObjectResult[] }> {
  const objects = parseServed(readRequest(body));
  const results: ObjectResult[] = [];
  const puts: Array<[string, unknown]> = [];
  for (const o of objects) {
    const key = storeKey(o);
    const old = agent.store.get(key);
    const action = old === undefined ? 'created' : JSON.stringify(old) === JSON.stringify(o.spec) ? 'unchanged' : 'configured';
    if (action !== 'unchanged') puts.push([key, o.spec]);
    results.push({ kind: o.kind, ...(o.namespace ? { namespace: o.namespace } : {}), name: o.name, action });
  }
  await agent.store.commit({ put: puts });
  return { results };
}

export async function deleteManifest(agent: Agent, body: unknown): Promise<{ results: ObjectResult[] }> {
  const objects = parseServed(readRequest(body));
  const results: ObjectResult[] = [];
  const dels: string[] = [];
  for (const o of objects) {
    const key = storeKey(o);
    const found = agent.store.get(key) !== undefined;
    if (found) dels.push(key);
    results.push({ kind: o.kind, ...(o.namespace ? { namespace: o.namespace } : {}), name: o.name, action: found ? 'deleted' : 'not found' });
  }
  await agent.store.commit({ delete: dels });
  return { results };
}

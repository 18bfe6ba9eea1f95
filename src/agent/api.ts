// The agent's REST API. Routes are documented in docs/api.md.
import type { AttachmentRef, EndpointCreateRequest, GcRequest } from './api-types.ts';
import { InputError, MembraneError } from '../errors.ts';
import { MB_METRIC_EVENT_LOST, DROP_REASONS } from '../datapath/abi.ts';
import type { Agent } from './daemon.ts';
import { Router, StreamResponse } from './http.ts';
import { applyManifest, deleteManifest } from './apply.ts';
import { readTraceRequest } from '../policy/manager.ts';
import { parseFlowQuery } from '../observe/filter.ts';
import { flowStream } from './flow-stream.ts';
import { METRICS_CONTENT_TYPE, renderMetrics } from '../observe/metrics.ts';

export const VERSION = '0.1.0';

export function buildApi(agent: Agent): Router {
  const r = new Router();
  const ref = (p: Record<string, string>): AttachmentRef => ({ containerID: p.containerID!, ifName: p.ifName! });

  r.on('GET', '/v1/healthz', () => ({ status: 'ok' }));
  r.on('GET', '/v1/status', () => status(agent));

  r.on('GET', '/v1/endpoints', () => agent.endpoints.list());
  r.on('GET', '/v1/endpoints/:ref', ({ params }) => {
    const ep = agent.endpoints.find(params.ref!);
    if (!ep) throw new MembraneError('NOT_FOUND', `no endpoint '${params.ref}' (give an id, container id, host interface or namespace/pod) — see 'membrane endpoint list'`);
    return { ...ep, policy: agent.policy.realized(ep) };
  });
  r.on('PUT', '/v1/endpoints/:ref/config', async ({ params, body }) => {
    const audit = (body as { policyAuditMode?: unknown } | undefined)?.policyAuditMode;
    if (typeof audit !== 'boolean') throw new InputError('policyAuditMode', 'must be true or false');
    const ep = await agent.endpoints.setPolicyAuditMode(params.ref!, audit);
    await agent.policy.settled();
    return { ...ep, policy: agent.policy.realized(ep) };
  });
  // Endpoint changes reach the services' selector backends.
  r.on('PUT', '/v1/endpoints', async ({ body }) => {
    if (typeof body !== 'object' || body === null) throw new InputError('body', 'expected an EndpointCreateRequest object');
    const ep = await agent.endpoints.create(body as EndpointCreateRequest);
    agent.services.endpointsChanged();
    return ep;
  });
  r.on('DELETE', '/v1/endpoints/:containerID/:ifName', async ({ params }) => {
    const deleted = await agent.endpoints.delete(ref(params));
    agent.services.endpointsChanged();
    return { deleted };
  });
  r.on('GET', '/v1/endpoints/:containerID/:ifName/check', async ({ params }) => {
    await agent.endpoints.check(ref(params));
    return { ok: true, endpoint: agent.endpoints.get(ref(params)) };
  });
  r.on('POST', '/v1/endpoints/gc', async ({ body }) => {
    const valid = (body as GcRequest | undefined)?.validAttachments;
    if (!Array.isArray(valid)) throw new InputError('validAttachments', 'must be an array of {containerID, ifName}');
    const removed = await agent.endpoints.gc(valid);
    if (removed.length > 0) agent.services.endpointsChanged();
    return { removed };
  });

  r.on('GET', '/v1/services', () => agent.services.list());
  r.on('GET', '/v1/services/backends/state', () => agent.services.backendStates());
  r.on('PUT', '/v1/services/backends/state', ({ body }) => agent.services.setBackendState(body));
  r.on('GET', '/v1/services/:namespace/:name', ({ params }) => {
    const svc = agent.services.get(params.namespace!, params.name!);
    if (!svc) throw new MembraneError('NOT_FOUND', `no service ${params.namespace}/${params.name} — see 'membrane service list'`);
    return svc;
  });

  r.on('POST', '/v1/apply', ({ body }) => applyManifest(agent, body));
  r.on('POST', '/v1/delete', ({ body }) => deleteManifest(agent, body));
  r.on('GET', '/v1/pods', () => agent.store.list('pods/').map(([, v]) => v));

  r.on('GET', '/v1/policies', () => agent.policy.policies());
  r.on('POST', '/v1/policy/trace', ({ body }) => agent.policy.trace(readTraceRequest(body)));
  r.on('GET', '/v1/identities', () => agent.policy.identities());
  r.on('GET', '/v1/identities/:id', ({ params }) => {
    const id = Number(params.id);
    if (!Number.isInteger(id) || id < 0) throw new InputError('id', `'${params.id}' is not an identity number`);
    return agent.policy.identity(id);
  });

  // Flows as NDJSON, one FlowRecord per line (Hubble's GetFlowsResponse in
  // JSON). The buffered flows that match (last/since/all), then with
  // follow=true every new one until the client goes; a follow without
  // last/since/all sends only new flows.
  r.on('GET', '/v1/flows', ({ query }) => {
    const q = parseFlowQuery(query);
    const history = !q.follow || query.has('last') || query.has('since') || query.has('all');
    return flowStream(agent.flows, q, { history });
  });

  // Prometheus metrics, also here for agents whose loopback is another netns's (`membrane ui` forwards it).
  r.on('GET', '/metrics', async () => {
    const text = await renderMetrics(agent.metrics);
    return new StreamResponse(METRICS_CONTENT_TYPE, (sink) => void sink.write(text));
  });

  // Policy verdicts and deny drops carry their rule's name (the datapath knows only its id).
  r.on('GET', '/v1/events', ({ query }) =>
    agent.events.last(Number(query.get('last') ?? 100)).map((e) => {
      if (!e.ruleId) return e;
      const rule = agent.policy.ruleName(e.ruleId);
      return rule ? { ...e, rule } : e;
    }),
  );
  return r;
}

function status(agent: Agent) {
  const eps = agent.endpoints.list();
  const forwarded = { packets: 0n, bytes: 0n };
  const drops: Record<string, string> = {};
  let lost = 0n;
  for (const [k, perCpu] of agent.datapath.metrics.entriesPerCpu()) {
    const packets = perCpu.reduce((s, v) => s + v.packets, 0n);
    const bytes = perCpu.reduce((s, v) => s + v.bytes, 0n);
    if (k.reason === 0) {
      forwarded.packets += packets;
      forwarded.bytes += bytes;
    } else if (k.reason === MB_METRIC_EVENT_LOST) {
      lost += packets;
    } else {
      const name = DROP_REASONS[k.reason] ?? `code ${k.reason}`;
      drops[name] = (BigInt(drops[name] ?? '0') + packets).toString();
    }
  }
  return {
    node: { name: agent.config.nodeName, podCidr: agent.ipam.cidr.text, gateway: agent.ipam.gateway, masquerade: agent.config.masquerade },
    agent: {
      version: VERSION,
      pid: process.pid,
      node: process.version,
      startedAt: agent.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - agent.startedAt.getTime()) / 1000),
      socket: agent.config.socket,
      stateDir: agent.config.stateDir,
      pinDir: agent.config.pinDir,
    },
    features: agent.features,
    endpoints: { total: eps.length, ready: eps.filter((e) => e.state === 'ready').length },
    ipam: { cidr: agent.ipam.cidr.text, allocated: agent.ipam.allocated, capacity: agent.ipam.capacity },
    maps: agent.datapath.mapFill(),
    services: agent.services.status(),
    policy: agent.policy.status(),
    observability: {
      aggregation: agent.config.monitorAggregation,
      aggregationIntervalSeconds: agent.config.monitorAggregationInterval,
      events: agent.config.bpfEvents,
      flows: { buffered: agent.flows.ring.size, capacity: agent.flows.ring.capacity, seen: agent.flows.ring.total },
      metrics: agent.listeners.metrics ? `http://${agent.listeners.metrics}/metrics` : '',
      ui: agent.listeners.ui ? `http://${agent.listeners.ui}/` : '',
    },
    datapath: {
      forwarded: { packets: forwarded.packets.toString(), bytes: forwarded.bytes.toString() },
      drops,
      eventsLost: lost.toString(),
      eventsReceived: agent.events.total,
    },
  };
}

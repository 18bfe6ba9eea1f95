import type { Feature } from '../datapath/probes.ts';
import type { MapFill } from '../datapath/datapath.ts';
import type { PolicyStatus } from '../policy/manager.ts';
import { type Command, agentClient } from './command.ts';
import { bytes, outputFormat, printJson, table } from './output.ts';

interface StatusJSON {
  node: { name: string; podCidr: string; gateway: string; masquerade: boolean };
  agent: { version: string; pid: number; node: string; uptimeSeconds: number; socket: string; stateDir: string; pinDir: string };
  features: Feature[];
  endpoints: { total: number; ready: number };
  ipam: { cidr: string; allocated: number; capacity: number };
  maps: MapFill[];
  policy: PolicyStatus;
  datapath: { forwarded: { packets: string; bytes: string }; drops: Record<string, string>; eventsLost: string; eventsReceived: number };
  observability: {
    aggregation: string;
    aggregationIntervalSeconds: number;
    events: { trace: boolean; drop: boolean; policyVerdict: boolean };
    flows: { buffered: number; capacity: number; seen: number };
    metrics: string;
    ui: string;
  };
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'Show agent health, kernel features, endpoints and map fill levels',
  usage: 'membrane status [-o table|json]',
  options: { output: { type: 'string', short: 'o', value: 'FORMAT', help: 'table or json', default: 'table' } },
  async run({ values }) {
    const fmt = outputFormat(values.output);
    const client = agentClient(values);
    const s = await client.get<StatusJSON>('/v1/status');
    if (fmt === 'json') return printJson(s);
    const out: string[] = [];
    out.push(`Agent:      ok (membrane ${s.agent.version}, pid ${s.agent.pid}, up ${s.agent.uptimeSeconds}s, node ${s.agent.node})`);
    out.push(`Node:       ${s.node.name}  pod CIDR ${s.node.podCidr}  gateway ${s.node.gateway}  masquerade ${s.node.masquerade ? 'on' : 'off'}`);
    out.push(`Endpoints:  ${s.endpoints.ready}/${s.endpoints.total} ready   IPAM ${s.ipam.allocated}/${s.ipam.capacity} addresses in use`);
    const p = s.policy;
    out.push(`Policy:     ${p.policies} ${p.policies === 1 ? 'policy' : 'policies'}, ${p.endpointsEnforced} endpoints enforced, ${p.entries} policy entries, ${p.identities} identities${p.lastSyncMs !== undefined ? `, last sync ${p.lastSyncMs} ms` : ''}${p.error ? `   ERROR: ${p.error}` : ''}`);
    out.push(`Datapath:   ${s.datapath.forwarded.packets} packets (${bytes(BigInt(s.datapath.forwarded.bytes))}) forwarded, ${Object.values(s.datapath.drops).reduce((a, b) => a + Number(b), 0)} dropped, ${s.datapath.eventsLost} events lost`);
    for (const [reason, n] of Object.entries(s.datapath.drops)) out.push(`              drop ${reason}: ${n}`);
    const o = s.observability;
    const kinds = Object.entries(o.events).filter(([, on]) => on).map(([k]) => (k === 'policyVerdict' ? 'policy-verdict' : k));
    out.push(`Flows:      ${o.flows.buffered}/${o.flows.capacity} buffered (${o.flows.seen} seen), events ${kinds.length > 0 ? kinds.join(', ') : 'off'}, aggregation ${o.aggregation}`);
    out.push(`            metrics ${o.metrics || 'off'}   UI ${o.ui || 'off'}`);
    out.push(`State:      ${s.agent.stateDir}   pins ${s.agent.pinDir}   socket ${s.agent.socket}`);
    out.push('', 'Kernel features:');
    out.push(table(['feature', 'ok', 'detail'], s.features.map((f) => [f.name, f.ok ? 'yes' : f.required ? 'NO' : 'no', f.detail])).trimEnd().replace(/^/gm, '  '));
    out.push('', 'Maps:');
    out.push(table(['map', 'entries', 'max', 'fill'], s.maps.map((m) => [m.name, m.entries, m.maxEntries, `${((100 * m.entries) / m.maxEntries).toFixed(1)}%`])).trimEnd().replace(/^/gm, '  '));
    process.stdout.write(`${out.join('\n')}\n`);
  },
};

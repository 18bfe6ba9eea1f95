// `membrane service list|get|backend-state`: the services as the agent
// programs them — frontends, type, backends with their state.
import type { BackendStateResponse, ServiceJSON } from '../agent/api-types.ts';
import { InputError } from '../errors.ts';
import { type Command, OUTPUT_OPTION, agentClient } from './command.ts';
import { outputFormat, printJson, table } from './output.ts';



/** "2 active, 1 terminating" over every port's backends (each address:port once). */
export function backendSummary(s: ServiceJSON): string {
  const seen = new Map<string, string>();
  for (const p of s.ports) for (const b of p.backends) seen.set(`${b.address}:${b.port}/${b.protocol}`, b.state);
  if (seen.size === 0) return '<none>';
  const counts = new Map<string, number>();
  for (const st of seen.values()) counts.set(st, (counts.get(st) ?? 0) + 1);
  return ['active', 'terminating', 'maintenance'].filter((st) => counts.has(st)).map((st) => `${counts.get(st)} ${st}`).join(', ');
}

/** PORT(S) as kubectl shows them: 80:30080/TCP,53/UDP */
export function portsSummary(s: ServiceJSON): string {
  return s.ports.map((p) => `${p.port}${p.nodePort !== undefined ? `:${p.nodePort}` : ''}/${p.protocol}`).join(',') || '<none>';
}

export function renderServiceList(services: readonly ServiceJSON[]): string {
  if (services.length === 0) return "No services. Apply some with 'membrane apply -f FILE'.\n";
  return table(
    ['name', 'type', 'cluster-ip', 'external-ip', 'port(s)', 'backends'],
    services.map((s) => [
      `${s.namespace}/${s.name}`,
      s.type,
      s.headless ? 'None' : (s.clusterIP ?? '<pending>'),
      [...s.externalIPs, ...s.loadBalancerIPs].join(',') || (s.type === 'LoadBalancer' ? '<pending>' : '<none>'),
      portsSummary(s),
      backendSummary(s),
    ]),
  );
}

function indent(text: string, by = '  '): string {
  return text.trimEnd().split('\n').map((l) => `${by}${l}`).join('\n') + '\n';
}

export function renderService(s: ServiceJSON): string {
  const policy = [s.externalTrafficPolicy ? `external ${s.externalTrafficPolicy}` : undefined, `internal ${s.internalTrafficPolicy}`].filter(Boolean).join(', ');
  const rows: Array<[string, string]> = [
    ['Name', `${s.namespace}/${s.name}`],
    ['Type', s.type],
    ['ClusterIP', s.headless ? 'None (headless: not load-balanced)' : (s.clusterIP ?? '<pending>')],
  ];
  if (s.externalIPs.length > 0) rows.push(['External IPs', s.externalIPs.join(', ')]);
  if (s.type === 'LoadBalancer') rows.push(['LB IPs', s.loadBalancerIPs.join(', ') || '<pending>']);
  rows.push(['Selector', Object.entries(s.selector).map(([k, v]) => `${k}=${v}`).join(',') || '<none>']);
  rows.push(['Affinity', s.sessionAffinity === 'ClientIP' ? `ClientIP (${s.sessionAffinityTimeoutSeconds ?? 0}s)` : 'None']);
  rows.push(['Traffic', policy]);
  rows.push(['Forwarding', s.forwardingMode === 'dsr' ? 'DSR (external traffic)' : 'SNAT (external traffic)']);
  let out = rows.map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`).join('\n') + '\n';

  out += '\nFrontends:\n';
  if (s.frontends.length === 0) out += '  <none>\n';
  else {
    const lines: Array<Array<string | number>> = [];
    for (const f of s.frontends) {
      const scopes = [['internal', f.internal], ...(f.external ? [['external', f.external] as const] : [])] as const;
      for (const [name, sc] of scopes) {
        lines.push([`${f.address}:${f.port}/${f.protocol}`, f.type, name, f.revNatId, sc.flags.join(',') || '-', sc.backends.length === 0 ? '<none: rejected>' : sc.backends.join(' ')]);
      }
    }
    out += indent(table(['frontend', 'type', 'scope', 'rev-nat', 'flags', 'backends (new connections)'], lines));
  }

  out += '\nBackends:\n';
  const rowsB: Array<Array<string | number>> = [];
  for (const p of s.ports) {
    for (const b of p.backends) {
      rowsB.push([p.name || String(p.port), `${b.address}:${b.port}/${b.protocol}`, b.state, b.local ? 'local' : (b.nodeName ?? 'remote'), b.pod ?? '-', b.source, b.backendId ?? '-']);
    }
  }
  out += rowsB.length === 0 ? '  <none>\n' : indent(table(['port', 'address', 'state', 'node', 'pod', 'source', 'id'], rowsB));
  if (s.warnings?.length) out += `\nWarnings:\n${s.warnings.map((w) => `  ${w}`).join('\n')}\n`;
  return out;
}

const list: Command = {
  name: 'list',
  summary: 'List the services this node load-balances',
  usage: 'membrane service list [-o table|json]',
  options: OUTPUT_OPTION,
  async run({ values }) {
    const fmt = outputFormat(values.output);
    const services = await agentClient(values).get<ServiceJSON[]>('/v1/services');
    if (fmt === 'json') return printJson(services);
    process.stdout.write(renderServiceList(services));
  },
};

const get: Command = {
  name: 'get',
  summary: 'Show one service: frontends, flags, backends with their state',
  usage: 'membrane service get NAMESPACE/NAME [-o table|json]',
  options: OUTPUT_OPTION,
  async run({ values, positionals }) {
    const ref = positionals[0];
    const m = ref ? /^([^/]+)\/([^/]+)$/.exec(ref) : null;
    if (!m) throw new InputError('NAMESPACE/NAME', `${ref === undefined ? 'missing' : `'${ref}' is not NAMESPACE/NAME`}: e.g. 'membrane service get default/web' — see 'membrane service list'`);
    const fmt = outputFormat(values.output);
    const s = await agentClient(values).get<ServiceJSON>(`/v1/services/${encodeURIComponent(m[1]!)}/${encodeURIComponent(m[2]!)}`);
    if (fmt === 'json') return printJson(s);
    process.stdout.write(renderService(s));
  },
};

const backendState: Command = {
  name: 'backend-state',
  summary: 'Put a backend into maintenance (no new connections) or back to active',
  usage: 'membrane service backend-state ADDR:PORT active|maintenance',
  description: `
A backend in maintenance keeps its established connections but gets no new
ones, in every service that has it. The mark is stored and survives agent
restarts; 'active' removes it.`,
  options: OUTPUT_OPTION,
  async run({ values, positionals }) {
    const [address, state] = positionals;
    if (!address) throw new InputError('ADDR:PORT', "missing: give the backend's address and port, e.g. 10.200.0.5:8080");
    if (state !== 'active' && state !== 'maintenance') throw new InputError('STATE', `${state === undefined ? 'missing' : `'${state}'`}: give 'active' or 'maintenance'`);
    const r = await agentClient(values).put<BackendStateResponse>('/v1/services/backends/state', { address, state });
    if (outputFormat(values.output) === 'json') return printJson(r);
    process.stdout.write(`backend ${r.address} ${r.state}${r.services.length > 0 ? ` (services: ${r.services.join(', ')})` : ''}\n`);
  },
};

export const serviceCommand: Command = {
  name: 'service',
  summary: 'Inspect services and their backends',
  usage: 'membrane service list|get|backend-state',
  sub: [list, get, backendState],
};

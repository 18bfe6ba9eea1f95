import type { EndpointJSON, RealizedPolicyJSON } from '../agent/api-types.ts';
import { InputError } from '../errors.ts';
import { type Command, agentClient } from './command.ts';
import { age, formatLabels, outputFormat, printJson, table } from './output.ts';

const outputOpt = { output: { type: 'string' as const, short: 'o', value: 'FORMAT', help: 'table, wide or json', default: 'table' } };


const list: Command = {
  name: 'list',
  summary: 'List the endpoints on this node',
  usage: 'membrane endpoint list [-o table|wide|json]',
  options: outputOpt,
  async run({ values }) {
    const fmt = outputFormat(values.output);
    const eps = await agentClient(values).get<EndpointJSON[]>('/v1/endpoints');
    if (fmt === 'json') return printJson(eps);
    if (eps.length === 0) {
      process.stdout.write("No endpoints. Create some with 'membrane sandbox up' or through the CNI plugin.\n");
      return;
    }
    const wide = fmt === 'wide';
    const headers = ['id', 'pod', 'ipv4', 'state', 'host-if', 'age', 'labels', ...(wide ? ['container', 'netns', 'pod-mac'] : [])];
    process.stdout.write(
      table(
        headers,
        eps.map((e) => [
          e.id,
          e.podName ? `${e.podNamespace}/${e.podName}` : '-',
          e.ipv4,
          e.state,
          e.hostIfName,
          age(e.createdAt),
          formatLabels(e.labels),
          ...(wide ? [e.containerID.slice(0, 12), e.netns, e.podMAC] : []),
        ]),
      ),
    );
  },
};

const get: Command = {
  name: 'get',
  summary: 'Show one endpoint (by id, namespace/pod, container id or host interface)',
  usage: 'membrane endpoint get REF [-o table|json]',
  options: outputOpt,
  async run({ values, positionals }) {
    const ref = positionals[0];
    if (!ref) throw new InputError('REF', "missing: give an endpoint id, namespace/pod, container id or host interface — see 'membrane endpoint list'");
    const fmt = outputFormat(values.output);
    const e = await agentClient(values).get<EndpointJSON>(`/v1/endpoints/${encodeURIComponent(ref)}`);
    if (fmt === 'json') return printJson(e);
    const rows: Array<[string, string]> = [
      ['ID', String(e.id)],
      ['Pod', e.podName ? `${e.podNamespace}/${e.podName}` : '-'],
      ['State', e.state],
      ['IPv4', `${e.ipv4}/${e.prefixLength} via ${e.gateway}`],
      ['Labels', formatLabels(e.labels)],
      ['Container', e.containerID],
      ['Interface', `${e.ifName} (${e.podMAC}) in ${e.netns}`],
      ['Host side', `${e.hostIfName} ifindex ${e.hostIfIndex} (${e.hostMAC})`],
      ['Created', `${e.createdAt} (${age(e.createdAt)} ago)`],
      ['Identity', e.identity !== undefined ? String(e.identity) : '-'],
    ];
    process.stdout.write(rows.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`).join('\n') + '\n');
    if (e.policy) process.stdout.write(realizedPolicyText(e.policy));
  },
};

/** The realized policy of an endpoint: enforcement per direction, then the map entries as a table. */
export function realizedPolicyText(p: RealizedPolicyJSON): string {
  const mode = (on: boolean) => (on ? 'enforced (default deny)' : 'not enforced (all allowed)');
  const out = [
    '',
    'Policy:',
    `  Ingress:  ${mode(p.ingressEnforced)}`,
    `  Egress:   ${mode(p.egressEnforced)}`,
    `  Audit:    ${p.auditMode ? 'on (denials are reported, not dropped)' : 'off'}`,
    `  Selected by: ${p.policies.join(', ') || '-'}`,
  ];
  if (p.entries.length === 0) return `${out.join('\n')}\n`;
  const rows = p.entries.map((x) => [x.direction, x.verdict, x.identity === 0 ? 'any' : String(x.identity), x.peer, x.protocol, x.port, x.rule]);
  return `${out.join('\n')}\n\n${table(['direction', 'verdict', 'identity', 'peer', 'protocol', 'port', 'rule'], rows)}`;
}

const config: Command = {
  name: 'config',
  summary: 'Change an endpoint setting: PolicyAuditMode=Enabled|Disabled',
  usage: 'membrane endpoint config REF PolicyAuditMode=Enabled|Disabled',
  description: 'With PolicyAuditMode enabled, traffic the endpoint\'s policy would deny passes and is reported with verdict AUDIT.',
  async run({ values, positionals }) {
    const [ref, setting] = positionals;
    if (!ref || !setting) throw new InputError('arguments', `give an endpoint and a setting — usage: ${config.usage}`);
    const m = /^PolicyAuditMode=(Enabled|Disabled)$/i.exec(setting);
    if (!m) throw new InputError('setting', `'${setting}' is not a known setting: use PolicyAuditMode=Enabled or PolicyAuditMode=Disabled`);
    const enabled = m[1]!.toLowerCase() === 'enabled';
    const e = await agentClient(values).put<EndpointJSON>(`/v1/endpoints/${encodeURIComponent(ref)}/config`, { policyAuditMode: enabled });
    process.stdout.write(`endpoint ${e.id} (${e.podName ? `${e.podNamespace}/${e.podName}` : e.containerID.slice(0, 12)}): PolicyAuditMode=${enabled ? 'Enabled' : 'Disabled'}\n`);
  },
};

export const endpointCommand: Command = {
  name: 'endpoint',
  summary: 'Inspect endpoints (pods attached to this node)',
  usage: 'membrane endpoint list|get|config',
  sub: [list, get, config],
};

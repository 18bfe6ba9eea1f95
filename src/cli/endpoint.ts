import { AgentClient } from '../agent/client.ts';
import type { EndpointJSON } from '../agent/api-types.ts';
import { InputError } from '../errors.ts';
import type { Command, ParsedArgs } from './command.ts';
import { age, formatLabels, outputFormat, printJson, table } from './output.ts';

const outputOpt = { output: { type: 'string' as const, short: 'o', value: 'FORMAT', help: 'table, wide or json', default: 'table' } };

function client(values: ParsedArgs['values']): AgentClient {
  return new AgentClient(typeof values.socket === 'string' ? { socketPath: values.socket } : {});
}

const list: Command = {
  name: 'list',
  summary: 'List the endpoints on this node',
  usage: 'membrane endpoint list [-o table|wide|json]',
  options: outputOpt,
  async run({ values }) {
    const fmt = outputFormat(values.output);
    const eps = await client(values).get<EndpointJSON[]>('/v1/endpoints');
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
    const e = await client(values).get<EndpointJSON>(`/v1/endpoints/${encodeURIComponent(ref)}`);
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
    ];
    process.stdout.write(rows.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`).join('\n') + '\n');
  },
};

export const endpointCommand: Command = {
  name: 'endpoint',
  summary: 'Inspect endpoints (pods attached to this node)',
  usage: 'membrane endpoint list|get',
  sub: [list, get],
};

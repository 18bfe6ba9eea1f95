// `membrane policy get|validate|trace`: the policies the agent holds, a
// manifest checked without applying it, and why traffic between two
// endpoints is allowed or denied (naming the rule).
import type { PolicyJSON, TraceRequest, TraceResponse } from '../agent/api-types.ts';
import { InputError } from '../errors.ts';
import { parseManifests, readManifestText } from '../k8s/documents.ts';
import { type Command, OUTPUT_OPTION, agentClient } from './command.ts';
import { outputFormat, printJson, table } from './output.ts';



const get: Command = {
  name: 'get',
  summary: 'List the policies, or show one (NAMESPACE/NAME, or NAME for a clusterwide policy)',
  usage: 'membrane policy get [NAMESPACE/NAME] [-o table|json]',
  options: OUTPUT_OPTION,
  async run({ values, positionals }) {
    const fmt = outputFormat(values.output);
    let all = await agentClient(values).get<PolicyJSON[]>('/v1/policies');
    const want = positionals[0];
    if (want) {
      all = all.filter((p) => (p.namespace ? `${p.namespace}/${p.name}` : p.name) === want);
      if (all.length === 0) throw new InputError('NAME', `no policy '${want}' — see 'membrane policy get'`);
    }
    if (fmt === 'json') return printJson(want ? (all.length === 1 ? all[0] : all) : all);
    if (all.length === 0) {
      process.stdout.write("No policies: every endpoint allows all traffic. Apply NetworkPolicy or CiliumNetworkPolicy manifests with 'membrane apply -f FILE'.\n");
      return;
    }
    process.stdout.write(
      table(
        ['kind', 'namespace', 'name', 'default-deny', 'rules', 'endpoints'],
        all.map((p) => [p.kind, p.namespace ?? '-', p.name, p.defaultDeny.join(',') || '-', p.rules, p.endpoints.join(',') || '<none on this node>']),
      ),
    );
  },
};

const validate: Command = {
  name: 'validate',
  summary: 'Check a manifest file (policies and any other kind) without applying it',
  usage: 'membrane policy validate -f FILE [-o table|json]',
  description: 'Exits 0 when every document is valid; otherwise prints every problem (document, field, reason) and exits 1. Needs no agent.',
  options: {
    filename: { type: 'string', short: 'f', value: 'FILE', help: "manifest file (YAML or JSON; '-' for stdin)" },
    ...OUTPUT_OPTION,
  },
  async run({ values }) {
    const file = values.filename;
    if (typeof file !== 'string') throw new InputError('-f', 'missing: give a manifest file with -f FILE');
    const fmt = outputFormat(values.output);
    const { text, sourceName } = await readManifestText(file);
    const { objects } = parseManifests(text, sourceName); // throws with every problem
    const summary = objects.map((o) => ({ kind: o.kind, ...(o.namespace ? { namespace: o.namespace } : {}), name: o.name }));
    if (fmt === 'json') return printJson({ valid: true, objects: summary });
    for (const o of summary) process.stdout.write(`${o.kind.toLowerCase()}/${o.namespace ? `${o.namespace}/` : ''}${o.name} valid\n`);
    process.stdout.write(`${sourceName}: ${summary.length} ${summary.length === 1 ? 'object' : 'objects'}, no problems\n`);
  },
};

/** `80/TCP`, `53/udp`, `8080` (TCP). */
export function parsePortProto(text: string): { port: number; protocol: TraceRequest['protocol'] } {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(text.trim());
  const port = Number(m?.[1]);
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InputError('--port', `'${text}' is not PORT[/PROTOCOL] with PORT 1-65535 and PROTOCOL TCP, UDP or SCTP (e.g. 80/TCP)`);
  }
  return { port, protocol: (m[2]?.toUpperCase() ?? 'TCP') as TraceRequest['protocol'] };
}

const trace: Command = {
  name: 'trace',
  summary: 'Explain whether traffic from one endpoint to another is allowed, and by which rule',
  usage: 'membrane policy trace --from NS/POD --to NS/POD --port 80/TCP [-o table|json]',
  description: `--from and --to take a pod (NAMESPACE/POD), an endpoint id, or an IPv4 address
(the node, the world, a CIDR). The verdict is computed from the entries the
datapath holds, with the datapath's own lookup: egress of the source, then
ingress of the destination. Exit status 0 when allowed (or audited), 1 when denied.`,
  options: {
    from: { type: 'string', value: 'REF', help: 'source: NAMESPACE/POD, endpoint id or IPv4 address' },
    to: { type: 'string', value: 'REF', help: 'destination: NAMESPACE/POD, endpoint id or IPv4 address' },
    port: { type: 'string', value: 'PORT[/PROTO]', help: 'destination port and protocol, e.g. 80/TCP' },
    ...OUTPUT_OPTION,
  },
  async run({ values }) {
    const need = (k: 'from' | 'to' | 'port') => {
      const v = values[k];
      if (typeof v !== 'string' || v === '') throw new InputError(`--${k}`, `missing — usage: ${trace.usage}`);
      return v;
    };
    const req: TraceRequest = { from: need('from'), to: need('to'), ...parsePortProto(need('port')) };
    const fmt = outputFormat(values.output);
    const r = await agentClient(values).post<TraceResponse>('/v1/policy/trace', req);
    if (fmt === 'json') printJson(r);
    else process.stdout.write(`${r.explanation.join('\n')}\n`);
    return r.verdict === 'denied' ? 1 : 0;
  },
};

export const policyCommand: Command = {
  name: 'policy',
  summary: 'Network policies: list, validate, trace verdicts',
  usage: 'membrane policy get|validate|trace',
  sub: [get, validate, trace],
};

// `membrane bpf lb list` / `membrane bpf ct list`: the load balancer's
// pinned maps read directly (root, no agent needed), like `cilium bpf lb list`.
import { DEFAULT_PIN_DIR } from '../datapath/datapath.ts';
import { dumpConntrack, dumpLoadBalancer, type CtEntryDump, type LbDump } from '../service/lbdump.ts';
import { type Command, OUTPUT_OPTION } from './command.ts';
import { bytes, outputFormat, printJson, table } from './output.ts';

const pinOpt = { 'pin-dir': { type: 'string' as const, value: 'DIR', help: 'bpffs directory of the pinned maps', default: DEFAULT_PIN_DIR } };

export function renderLbList(d: LbDump): string {
  if (d.frontends.length === 0) return 'No frontends in the load balancer maps.\n';
  const rows: Array<Array<string | number>> = [];
  for (const f of d.frontends) {
    const head = [`${f.address}:${f.port}/${f.protocol}`, f.scope === 'external' ? 'ext' : 'int', f.revNatId, f.flags.join(',') || '-', f.maglev ? `${f.maglev.entries} (id ${f.maglev.mapId})` : '-'];
    const bes = f.backends.map((b) => ('address' in b ? `${b.address}:${b.port} #${b.id} ${b.state}${b.flags.length ? ` ${b.flags.join(',')}` : ''}` : `#${b.id} missing`));
    if (bes.length === 0) bes.push(f.flags.includes('local') && f.scope === 'external' ? '<none: dropped>' : '<none: rejected>');
    bes.forEach((b, i) => rows.push([...(i === 0 ? head : ['', '', '', '', '']), b]));
    for (const p of f.problems ?? []) rows.push(['', '', '', '', '', `! ${p}`]);
  }
  let out = table(['frontend', 'scope', 'rev-nat', 'flags', 'maglev', 'backends (slot order)'], rows);
  const idle = d.backends.filter((b) => b.state !== 'active');
  if (idle.length > 0) {
    out += '\nBackends without new connections (kept for established ones):\n';
    out += table(['id', 'address', 'state', 'flags'], idle.map((b) => [b.id, `${b.address}:${b.port}/${b.protocol}`, b.state, b.flags.join(',') || '-']))
      .split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');
  }
  return out;
}

function age(s: number): string {
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

export function renderCtList(entries: readonly CtEntryDump[]): string {
  if (entries.length === 0) return 'No connections in the conntrack map.\n';
  return table(
    ['proto', 'dir', 'tuple', 'client', 'frontend', 'backend', 'nat', 'flags', 'packets', 'bytes', 'age'],
    entries.map((e) => [e.protocol, e.direction, `${e.source} -> ${e.destination}`, e.client, e.frontend, `${e.backend} #${e.backendId}`, e.nat, e.flags.join(',') || '-', e.packets, bytes(BigInt(e.bytes)), age(e.ageSeconds)]),
  );
}

const lbList: Command = {
  name: 'list',
  summary: 'List frontends and their backends from the pinned maps',
  usage: 'membrane bpf lb list [--pin-dir DIR] [-o table|json]',
  description: 'Reads mb_lb4_svc, mb_lb4_backend, mb_lb4_revnat and mb_lb4_maglev directly (needs root, not the agent).',
  options: { ...pinOpt, ...OUTPUT_OPTION },
  async run({ values }) {
    const fmt = outputFormat(values.output);
    const d = dumpLoadBalancer(String(values['pin-dir']));
    if (fmt === 'json') return printJson(d);
    process.stdout.write(renderLbList(d));
  },
};

const ctList: Command = {
  name: 'list',
  summary: 'List the per-packet load balancer\'s connections (both directions)',
  usage: 'membrane bpf ct list [--pin-dir DIR] [-o table|json]',
  description: 'Reads mb_ct4 directly (needs root, not the agent). Each connection has a fwd entry (client -> frontend) and a rev entry (backend -> NAT address).',
  options: { ...pinOpt, ...OUTPUT_OPTION },
  async run({ values }) {
    const fmt = outputFormat(values.output);
    const entries = dumpConntrack(String(values['pin-dir']));
    if (fmt === 'json') return printJson(entries);
    process.stdout.write(renderCtList(entries));
  },
};

export const bpfCommand: Command = {
  name: 'bpf',
  summary: 'Read the datapath\'s pinned maps directly (debugging)',
  usage: 'membrane bpf lb|ct list',
  sub: [
    { name: 'lb', summary: 'Service load balancer maps', usage: 'membrane bpf lb list', sub: [lbList] },
    { name: 'ct', summary: 'Conntrack of the per-packet load balancer', usage: 'membrane bpf ct list', sub: [ctList] },
  ],
};

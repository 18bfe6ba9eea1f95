// `membrane identity list|get`: security identities (label sets, reserved
// and CIDR identities) and the local endpoints that carry them.
import type { IdentityJSON } from '../agent/api-types.ts';
import { InputError } from '../errors.ts';
import { type Command, OUTPUT_OPTION, agentClient } from './command.ts';
import { formatLabels, outputFormat, printJson, table } from './output.ts';



const list: Command = {
  name: 'list',
  summary: 'List the identities (reserved, endpoint label sets, CIDRs)',
  usage: 'membrane identity list [--kind reserved|endpoint|cidr] [-o table|json]',
  options: { kind: { type: 'string', value: 'KIND', help: 'only this kind: reserved, endpoint or cidr' }, ...OUTPUT_OPTION },
  async run({ values }) {
    const fmt = outputFormat(values.output);
    const kind = values.kind;
    if (kind !== undefined && kind !== 'reserved' && kind !== 'endpoint' && kind !== 'cidr') throw new InputError('--kind', `'${String(kind)}' is not reserved, endpoint or cidr`);
    const ids = (await agentClient(values).get<IdentityJSON[]>('/v1/identities')).filter((i) => kind === undefined || i.kind === kind);
    if (fmt === 'json') return printJson(ids);
    process.stdout.write(table(['id', 'kind', 'labels', 'endpoints'], ids.map((i) => [i.id, i.kind, formatLabels(i.labels), i.endpoints.join(',') || '-'])));
  },
};

const get: Command = {
  name: 'get',
  summary: 'Show one identity by its number',
  usage: 'membrane identity get ID [-o table|json]',
  options: OUTPUT_OPTION,
  async run({ values, positionals }) {
    const id = positionals[0];
    if (!id || !/^\d+$/.test(id)) throw new InputError('ID', `${id === undefined ? 'missing' : `'${id}' is not a number`}: give an identity number — see 'membrane identity list'`);
    const fmt = outputFormat(values.output);
    const i = await agentClient(values).get<IdentityJSON>(`/v1/identities/${id}`);
    if (fmt === 'json') return printJson(i);
    const rows: Array<[string, string]> = [
      ['ID', String(i.id)],
      ['Kind', i.kind],
      ['Labels', Object.entries(i.labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join('\n            ') || '<none>'],
      ['Endpoints', i.endpoints.join(', ') || '-'],
    ];
    process.stdout.write(rows.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`).join('\n') + '\n');
  },
};

export const identityCommand: Command = {
  name: 'identity',
  summary: 'Security identities and their labels',
  usage: 'membrane identity list|get',
  sub: [list, get],
};

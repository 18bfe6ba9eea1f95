import type { ObjectResult } from '../agent/apply.ts';
import { InputError, MembraneError } from '../errors.ts';
import { parseManifests, readManifestText } from '../k8s/documents.ts';
import { supportedKinds } from '../k8s/registry.ts';
import { type Command, type ParsedArgs, agentClient } from './command.ts';
import { outputFormat, printJson } from './output.ts';

const options = {
  filename: { type: 'string' as const, short: 'f', value: 'FILE', help: "manifest file (YAML or JSON, several documents; '-' for stdin)" },
  output: { type: 'string' as const, short: 'o', value: 'FORMAT', help: 'table or json', default: 'table' },
};

async function send(path: '/v1/apply' | '/v1/delete', values: ParsedArgs['values']): Promise<number> {
  const file = values.filename;
  if (typeof file !== 'string') throw new InputError('-f', 'missing: give a manifest file with -f FILE');
  const fmt = outputFormat(values.output);
  const { text, sourceName } = await readManifestText(file);
  const client = agentClient(values);
  // The agent validates the whole file before it applies anything, so the
  // file is parsed once, there. Without an agent it is parsed here, so that
  // its errors still come back before the one about the agent.
  const answer = await client.post<{ results: ObjectResult[]; warnings?: string[] }>(path, { manifest: text, source: sourceName }).catch((err: unknown) => {
    if (err instanceof MembraneError && err.code === 'AGENT_UNREACHABLE') parseManifests(text, sourceName);
    throw err;
  });
  const { results, warnings = [] } = answer;
  if (fmt === 'json') printJson(results);
  else for (const r of results) process.stdout.write(`${r.kind.toLowerCase()}/${r.namespace ? `${r.namespace}/` : ''}${r.name} ${r.action}\n`);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  return 0;
}

export const applyCommand: Command = {
  name: 'apply',
  summary: 'Create or update objects from a manifest file',
  usage: 'membrane apply -f FILE',
  description: `Kinds: ${supportedKinds().join(', ')}. The whole file is validated before anything is applied; all changes are committed together.`,
  options,
  run: ({ values }) => send('/v1/apply', values),
};

export const deleteCommand: Command = {
  name: 'delete',
  summary: 'Delete the objects named in a manifest file',
  usage: 'membrane delete -f FILE',
  options,
  run: ({ values }) => send('/v1/delete', values),
};

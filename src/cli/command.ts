// Command definitions: every command knows its usage and options, so
// `--help` works everywhere and errors name the flag that was wrong.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AgentClient } from '../agent/client.ts';
import { InputError } from '../errors.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  default?: string | boolean;
  multiple?: boolean;
  help: string;
  /** Shown as --name VALUE */
  value?: string;
  /** A string option that may stand alone (`--is-reply`, as in hubble): then it means this value. */
  bare?: string;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  description?: string;
  options?: Record<string, OptionSpec>;
  /** Subcommands (e.g. `endpoint list`). */
  sub?: Command[];
  run?(args: ParsedArgs): Promise<number | void>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  socket: { type: 'string', value: 'PATH', help: 'agent API socket (default $MEMBRANE_SOCKET or /var/run/membrane/agent.sock)' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
};

export function parse(cmd: Command, argv: string[]): ParsedArgs {
  const options: ParseArgsConfig['options'] = {};
  for (const [k, o] of Object.entries({ ...GLOBAL_OPTIONS, ...(cmd.options ?? {}) })) {
    options[k] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}), ...(o.default !== undefined ? { default: o.default } : {}) };
  }
  // `--flag` of a `bare` option without a value of its own: the option's bare value.
  const all = { ...GLOBAL_OPTIONS, ...(cmd.options ?? {}) };
  argv = argv.map((a, i) => {
    const spec = a.startsWith('--') ? all[a.slice(2)] : undefined;
    const next = argv[i + 1];
    return spec?.bare !== undefined && (next === undefined || next.startsWith('-')) ? `${a}=${spec.bare}` : a;
  });
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as ParsedArgs['values'], positionals: r.positionals };
  } catch (err) {
    throw new InputError('arguments', `${(err as Error).message.replace(/\. To specify.*$/, '')} — see '${cmd.usage.split(' [')[0]} --help'`);
  }
}

export function helpText(cmd: Command): string {
  const lines = [`${cmd.summary}`, '', `Usage: ${cmd.usage}`];
  if (cmd.description) lines.push('', cmd.description.trim());
  if (cmd.sub?.length) {
    lines.push('', 'Commands:');
    const w = Math.max(...cmd.sub.map((s) => s.name.length));
    for (const s of cmd.sub) lines.push(`  ${s.name.padEnd(w)}  ${s.summary}`);
  }
  const opts = { ...(cmd.options ?? {}), ...GLOBAL_OPTIONS };
  lines.push('', 'Options:');
  const labels = Object.entries(opts).map(([k, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${k}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, o] as const);
  const w = Math.max(...labels.map(([l]) => l.length));
  for (const [l, o] of labels) lines.push(`  ${l.padEnd(w)}  ${o.help}${o.default !== undefined && o.default !== false ? ` (default ${String(o.default)})` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** `-o table|json` (the default format of list commands). */
export const OUTPUT_OPTION = { output: { type: 'string' as const, short: 'o', value: 'FORMAT', help: 'table or json', default: 'table' } };

/** A client of the agent on --socket (or $MEMBRANE_SOCKET, or the default socket). */
export function agentClient(values: ParsedArgs['values']): AgentClient {
  return new AgentClient(typeof values.socket === 'string' ? { socketPath: values.socket } : {});
}

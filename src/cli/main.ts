// `membrane`: the command line.
import { MembraneError } from '../errors.ts';
import { agentCommand } from './agent.ts';
import { applyCommand, deleteCommand } from './apply.ts';
import { bpfCommand } from './bpf.ts';
import { helpText, parse, type Command } from './command.ts';
import { endpointCommand } from './endpoint.ts';
import { identityCommand } from './identity.ts';
import { policyCommand } from './policy.ts';
import { installCniCommand } from './install-cni.ts';
import { observeCommand } from './observe.ts';
import { sandboxCommand } from './sandbox.ts';
import { serviceCommand } from './service.ts';
import { statusCommand } from './status.ts';
import { uiCommand } from './ui.ts';

const root: Command = {
  name: 'membrane',
  summary: 'Membrane: eBPF networking, load balancing, policy and observability for containers',
  usage: 'membrane COMMAND [options]',
  description: "Run 'membrane COMMAND --help' for a command's options.",
  sub: [agentCommand, statusCommand, endpointCommand, serviceCommand, policyCommand, identityCommand, observeCommand, applyCommand, deleteCommand, bpfCommand, installCniCommand, sandboxCommand, uiCommand],
};

async function main(argv: string[]): Promise<number> {
  let cmd = root;
  let rest = argv;
  while (cmd.sub && rest[0] && !rest[0].startsWith('-')) {
    const next = cmd.sub.find((s) => s.name === rest[0]);
    if (!next) {
      process.stderr.write(`membrane: unknown command '${[...pathOf(cmd), rest[0]].join(' ')}'\n\n${helpText(cmd)}`);
      return 2;
    }
    cmd = next;
    rest = rest.slice(1);
  }
  if (rest.includes('--help') || rest.includes('-h') || !cmd.run) {
    process.stdout.write(helpText(cmd));
    return cmd.run || rest.includes('--help') || rest.includes('-h') || cmd === root ? 0 : 2;
  }
  const args = parse(cmd, rest);
  return (await cmd.run(args)) ?? 0;
}

function pathOf(cmd: Command): string[] {
  return cmd === root ? ['membrane'] : ['membrane', cmd.name];
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof MembraneError) {
      process.stderr.write(`Error: ${err.message}\n`);
      const log = err.details.verifierLog;
      if (typeof log === 'string' && log) process.stderr.write(`\nVerifier log:\n${log}\n`);
    } else {
      process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
      if (process.env.MEMBRANE_DEBUG) console.error(err);
    }
    process.exitCode = 1;
  },
);

// membrane-cni: the executable a container runtime calls (CNI spec 1.1.0).
// Reads the network configuration from stdin, runs the command named by
// CNI_COMMAND against the Membrane agent, prints the result or error JSON on
// stdout and exits. Keep the imports small: this runs on every pod ADD.
import { runCni } from './plugin.ts';
import { CNI_ERR } from './errors.ts';
import { LATEST_VERSION, SUPPORTED_VERSIONS } from './spec.ts';

const USAGE = `membrane-cni — the Membrane CNI plugin (CNI spec ${SUPPORTED_VERSIONS.join(', ')})

This program is meant to be called by a container runtime (containerd, CRI-O,
podman...), not by hand. The runtime passes the network configuration as JSON
on stdin and the request in environment variables; the plugin asks the local
Membrane agent to do the work and prints a CNI result or error on stdout.

Environment:
  CNI_COMMAND      ADD, DEL, CHECK, STATUS, GC or VERSION
  CNI_CONTAINERID  container ID (ADD, DEL, CHECK)
  CNI_NETNS        path of the container's network namespace (ADD, CHECK; optional for DEL)
  CNI_IFNAME       interface name inside the container, e.g. eth0 (ADD, DEL, CHECK)
  CNI_ARGS         extra K1=V1;K2=V2 pairs; K8S_POD_NAMESPACE and K8S_POD_NAME are used
  CNI_PATH         plugin search path (accepted, not needed)
  MEMBRANE_SOCKET  agent socket when the configuration has no "agentSocket"
                   (default /var/run/membrane/agent.sock)

Example network configuration (/etc/cni/net.d/10-membrane.conflist):
  {"cniVersion": "1.1.0", "name": "membrane",
   "plugins": [{"type": "membrane-cni"}, {"type": "portmap", "capabilities": {"portMappings": true}}]}

Try it:  CNI_COMMAND=VERSION membrane-cni </dev/null
`;

async function readStdin(): Promise<string> {
  // On a terminal nobody is going to type a configuration: don't wait for one.
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function finish(stdout: string, exitCode: number): void {
  if (stdout === '') {
    process.exit(exitCode);
  }
  process.stdout.write(stdout, () => process.exit(exitCode));
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    finish(USAGE, 0);
    return;
  }
  let stdinText: string;
  try {
    stdinText = await readStdin();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const reply = { cniVersion: LATEST_VERSION, code: CNI_ERR.IO_FAILURE, msg: `error reading stdin: ${msg}` };
    finish(`${JSON.stringify(reply)}\n`, 1);
    return;
  }
  const out = await runCni(process.env, stdinText);
  if (out.exitCode !== 0 && process.stdin.isTTY && !process.env.CNI_COMMAND) {
    process.stderr.write("membrane-cni is called by a container runtime; see 'membrane-cni --help'\n");
  }
  finish(out.stdout, out.exitCode);
}

void main(process.argv.slice(2));

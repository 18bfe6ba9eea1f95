import { InputError } from '../errors.ts';
import { SANDBOX_PODS, SANDBOX_SERVICE, sandboxDown, sandboxExists, sandboxUp } from '../sandbox/sandbox.ts';
import { Topology, sleep, type ProbeResult } from '../sandbox/topology.ts';
import { formatLabels, table } from './output.ts';
import type { Command, ParsedArgs } from './command.ts';
import { startUiProxy, type UiProxy } from './ui.ts';
import type { FlowRecord } from '../observe/flow-types.ts';
import { DEFAULT_SOCKET } from '../agent/api-types.ts';

const say = (s: string) => process.stdout.write(`  ${s}\n`);
const socketOf = (v: ParsedArgs['values']) => (typeof v.socket === 'string' ? v.socket : undefined);

const up: Command = {
  name: 'up',
  summary: 'Create the sandbox (node, agent, three labelled pods, a world host) and return',
  usage: 'membrane sandbox up',
  async run({ values }) {
    await sandboxUp(say, socketOf(values));
    process.stdout.write("\nSandbox is up. Try:\n  membrane status\n  membrane endpoint list\n  ip netns exec mbx-demo-frontend curl -s 10.200.0.3:8080\nRemove it with 'membrane sandbox down'.\n");
  },
};

const down: Command = {
  name: 'down',
  summary: 'Remove the sandbox and everything it made',
  usage: 'membrane sandbox down',
  async run() {
    await sandboxDown(say);
  },
};

const runCmd: Command = {
  name: 'run',
  summary: 'Create the sandbox, show live traffic between its pods until Ctrl-C, then remove it',
  usage: 'membrane sandbox run [--duration SECONDS]',
  options: { duration: { type: 'string', value: 'SECONDS', help: 'stop after this long (default: until Ctrl-C)' } },
  async run({ values }) {
    const duration = values.duration === undefined ? Infinity : Number(values.duration);
    if (!(duration > 0)) throw new InputError('--duration', `'${String(values.duration)}' is not a positive number of seconds`);
    if (sandboxExists()) {
      say('removing a sandbox left from an earlier run');
      await sandboxDown(say);
    }
    process.stdout.write('Setting up the Membrane sandbox\n');
    const t = await sandboxUp(say, socketOf(values));
    let stop = false;
    const onSig = () => {
      stop = true;
    };
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    let ui: UiProxy | undefined;
    try {
      const eps = await t.endpoints();
      process.stdout.write(`\nEndpoints (membrane endpoint list):\n${table(['id', 'pod', 'ipv4', 'host-if', 'labels'], eps.map((e) => [e.id, `${e.podNamespace}/${e.podName}`, e.ipv4, e.hostIfName, formatLabels(e.labels)])).trimEnd().replace(/^/gm, '  ')}\n`);
      // The agent's own UI listener is on the node netns's loopback; serve it here too.
      const socket = socketOf(values) ?? process.env.MEMBRANE_SOCKET ?? DEFAULT_SOCKET;
      ui = await startUiProxy(socket, '127.0.0.1:12000').catch(() => startUiProxy(socket, '127.0.0.1:0'));
      process.stdout.write(
        `\nWatch it (in another shell):\n` +
          `  web UI, service map and flows:  ${ui.url}\n` +
          `  Prometheus metrics:             ${ui.url}metrics\n` +
          `  flows as they happen:           membrane observe -f\n` +
          `  only what policy dropped:       membrane observe --verdict DROPPED --last 5\n`,
      );
      process.stdout.write(`\nLive traffic (every 2 s; Ctrl-C stops and removes the sandbox):\n`);
      const until = Date.now() + duration * 1000;
      let since = new Date().toISOString();
      while (!stop && Date.now() < until) {
        const line = await trafficRound(t);
        const next = new Date().toISOString();
        process.stdout.write(`${line}  | ${await flowSummary(t, since)}\n`);
        since = next;
        for (let i = 0; i < 20 && !stop; i++) await sleep(100);
      }
    } finally {
      await ui?.close();
      process.stdout.write('\nRemoving the sandbox\n');
      await sandboxDown(say);
    }
  },
};

/** One round of probes: every pod to every other pod over HTTP, and to the world host. */
async function trafficRound(t: Topology): Promise<string> {
  const pods = SANDBOX_PODS.map((p) => t.pods.get(`${p.namespace}/${p.name}`)!);
  const checks: Array<Promise<string>> = [];
  for (const from of pods) {
    for (const to of pods) {
      if (from === to) continue;
      // backend → backend is blocked by the sandbox's policy (demo/backend-ingress).
      const expectBlocked = from.name.startsWith('backend') && to.name.startsWith('backend');
      checks.push(t.probe(from.netnsName, 'http', to.ip, 8080, expectBlocked ? 500 : 1500).then((ok) => `${from.name}→${to.name} ${ok ? 'ok' : expectBlocked ? 'blocked' : 'FAIL'}`));
    }
  }
  const f = pods[0]!;
  checks.push(t.probe(f.netnsName, 'http', t.worldIp, 8080).then((ok) => `${f.name}→world ${ok ? 'ok (masqueraded)' : 'FAIL'}`));
  const svc = SANDBOX_SERVICE;
  const answer = (r: ProbeResult) => (r.ok ? `${r.pod?.split('/')[1]}` : 'FAIL');
  checks.push(t.probeJson(f.netnsName, 'http', svc.clusterIP, svc.port).then((r) => `${f.name}→svc/${svc.name} ${answer(r)}`));
  checks.push(t.probeJson(t.worldNs, 'http', t.nodeIp, svc.nodePort).then((r) => `world→nodeport ${answer(r)}`));
  const results = await Promise.all(checks);
  const st = await t.client.get<{ datapath: { forwarded: { packets: string }; drops: Record<string, string> } }>('/v1/status');
  const drops = Object.values(st.datapath.drops).reduce((a, b) => a + Number(b), 0);
  const policyDrops = Number(st.datapath.drops.POLICY_DENIED ?? 0) + Number(st.datapath.drops.POLICY_DENY ?? 0);
  return `${new Date().toISOString().slice(11, 19)}  ${results.join('  ')}  | datapath: ${st.datapath.forwarded.packets} forwarded, ${drops} dropped (${policyDrops} by policy)`;
}

/** The flows the agent saw since `since`: how many, by verdict, and why the dropped ones were dropped. */
async function flowSummary(t: Topology, since: string): Promise<string> {
  const verdicts = new Map<string, number>();
  const reasons = new Map<string, number>();
  for await (const line of t.client.lines(`/v1/flows?since=${encodeURIComponent(since)}`)) {
    const rec = JSON.parse(line) as FlowRecord;
    if (!('flow' in rec)) continue;
    verdicts.set(rec.flow.verdict, (verdicts.get(rec.flow.verdict) ?? 0) + 1);
    if (rec.flow.drop_reason_desc) reasons.set(rec.flow.drop_reason_desc, (reasons.get(rec.flow.drop_reason_desc) ?? 0) + 1);
  }
  const v = [...verdicts].map(([k, n]) => `${n} ${k.toLowerCase()}`).join(', ') || 'none';
  const r = [...reasons].map(([k, n]) => `${k} ×${n}`).join(', ');
  return `flows: ${v}${r ? ` (${r})` : ''}`;
}

export const sandboxCommand: Command = {
  name: 'sandbox',
  summary: 'A few labelled pods on this node to try Membrane with',
  usage: 'membrane sandbox up|down|run',
  description: `
The sandbox isolates a whole node in network namespaces (mbx-node, with a
world host in mbx-world on 198.18.0.0/24 (the benchmarking range)), runs an agent there on the default
socket, and creates the pods demo/frontend, demo/backend-1 and demo/backend-2
through the membrane-cni plugin, each serving HTTP on :8080, with a Service
demo/backend (ClusterIP 10.96.0.10:80, NodePort 30080) in front of the
backends and a NetworkPolicy demo/backend-ingress that lets the backends
take HTTP only from the frontend and the world. Nothing it does
can send a packet off this machine.`,
  sub: [up, down, runCmd],
};

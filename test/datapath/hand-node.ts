// A node built by hand for the datapath tests that load the programs without
// an agent (policy.test.ts, trace.test.ts): pods as netns + veth with a /32
// routed through the node, and a "world" netns behind an uplink veth. The
// tests attach the programs and write the maps themselves.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { run } from '../../src/endpoint/exec.ts';
import { NODE_BIN } from '../../src/sandbox/topology.ts';

/** Cleanups in registration order; the tests run them backwards. */
export type Cleanups = Array<() => void | Promise<void>>;

const quiet = (cmd: string, ...args: string[]) => () => run(cmd, args, { allowFail: true }).then(() => undefined);

async function ifindexOf(dev: string): Promise<number> {
  return (JSON.parse((await run('ip', ['-j', 'link', 'show', 'dev', dev])).stdout) as Array<{ ifindex: number }>)[0]!.ifindex;
}

export interface HandPodSpec {
  netns: string;
  hostIf: string;
  ip: string;
  nodeIp: string;
  mac: string;
  hostMac: string;
}

/** A pod: netns, veth (pod side eth0), its /32 routed through the node; returns the host veth's ifindex. */
export async function makeHandPod(p: HandPodSpec, cleanups: Cleanups): Promise<number> {
  await run('ip', ['netns', 'add', p.netns]);
  cleanups.push(quiet('ip', 'netns', 'del', p.netns));
  await run('ip', ['link', 'add', p.hostIf, 'address', p.hostMac, 'type', 'veth', 'peer', 'name', 'eth0', 'address', p.mac, 'netns', p.netns]);
  cleanups.push(quiet('ip', 'link', 'del', p.hostIf));
  await run('ip', ['-batch', '-'], {
    input: [
      `link set ${p.hostIf} up`,
      `route replace ${p.ip}/32 dev ${p.hostIf} scope link src ${p.nodeIp}`,
      `neigh replace ${p.ip} lladdr ${p.mac} dev ${p.hostIf} nud permanent`,
    ].join('\n') + '\n',
  });
  // The node forwards for its pods (bpf_lxc's FIB lookup for NodePort replies wants it on the veth).
  fs.writeFileSync(`/proc/sys/net/ipv4/conf/${p.hostIf}/forwarding`, '1');
  await run('ip', ['netns', 'exec', p.netns, 'sh', '-ec', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; exec ip -batch -'], {
    input: [
      'link set lo up',
      `addr add ${p.ip}/32 dev eth0`,
      'link set eth0 up',
      `route add ${p.nodeIp} dev eth0 scope link`,
      `route add default via ${p.nodeIp} dev eth0 src ${p.ip}`,
      `neigh replace ${p.nodeIp} lladdr ${p.hostMac} dev eth0 nud permanent`,
    ].join('\n') + '\n',
  });
  return ifindexOf(p.hostIf);
}

/** The world: a netns behind the uplink veth, the node at uplinkIp; returns the uplink's ifindex. */
export async function makeHandWorld(w: { netns: string; uplinkIf: string; uplinkIp: string; worldIp: string }, cleanups: Cleanups): Promise<number> {
  await run('ip', ['netns', 'add', w.netns]);
  cleanups.push(quiet('ip', 'netns', 'del', w.netns));
  await run('ip', ['link', 'add', w.uplinkIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', w.netns]);
  cleanups.push(quiet('ip', 'link', 'del', w.uplinkIf));
  await run('ip', ['addr', 'add', `${w.uplinkIp}/24`, 'dev', w.uplinkIf]);
  await run('ip', ['link', 'set', w.uplinkIf, 'up']);
  await run('ip', ['netns', 'exec', w.netns, 'sh', '-ec', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; exec ip -batch -'], {
    input: ['link set lo up', `addr add ${w.worldIp}/24 dev eth0`, 'link set eth0 up'].join('\n') + '\n',
  });
  return ifindexOf(w.uplinkIf);
}

export interface Answer {
  id: number;
  ok: boolean;
  error?: string;
  localPort?: number;
  sent?: number;
  echo?: string;
}

/** A child process in a netns (a node script) that answers JSON-line commands with their id, after a `ready` line. */
export class NetnsChild {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  #next = 1;
  #waiting = new Map<number, (a: Answer) => void>();
  #stderr = '';

  constructor(netns: string, args: string[]) {
    this.child = spawn('ip', ['netns', 'exec', netns, NODE_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    const timer = setTimeout(() => readyReject(new Error(`${args[0]} in ${netns} not ready: ${this.#stderr}`)), 15000);
    this.child.once('exit', (code) => {
      clearTimeout(timer);
      readyReject(new Error(`${args[0]} in ${netns} exited (${code}): ${this.#stderr}`));
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as Answer & { ready?: boolean };
      if (m.ready) {
        clearTimeout(timer);
        readyResolve();
        return;
      }
      this.#waiting.get(m.id)?.(m);
      this.#waiting.delete(m.id);
    });
  }

  command(fields: Record<string, unknown>): Promise<Answer> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ id, ...fields })}\n`);
    });
  }

  kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }
}

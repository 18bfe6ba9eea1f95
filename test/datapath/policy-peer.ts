// A "pod" of policy.test.ts, run inside its netns (node runs it as
// TypeScript): echo servers, and a client driven by JSON lines on stdin.
//
//   argv: TCP_PORTS UDP_PORTS   comma-separated ports to serve (echo: TCP per line, UDP per datagram)
//
// Prints {"ready":true} once every server listens, then one JSON line per
// command, with the command's id:
//   {"id":1,"op":"tcp","host":H,"port":P,"timeout":MS}   connect, send a line, wait for its echo
//   {"id":2,"op":"udp","host":H,"port":P,"timeout":MS}   send a datagram, wait for its echo
//   {"id":3,"op":"open","host":H,"port":P,"timeout":MS}  connect and keep the connection (conn = id)
//   {"id":4,"op":"send","conn":3,"timeout":MS}          a line over a kept connection, wait for its echo
//   {"id":5,"op":"close","conn":3}
// Answers: {"id":N,"ok":true,"localPort":P} or {"id":N,"ok":false,"error":"..."}.
import dgram from 'node:dgram';
import net from 'node:net';
import readline from 'node:readline';

const [tcpText = '', udpText = ''] = process.argv.slice(2);
const ports = (s: string) => s.split(',').filter(Boolean).map(Number);

interface Command {
  id: number;
  op: 'tcp' | 'udp' | 'open' | 'send' | 'close';
  host?: string;
  port?: number;
  conn?: number;
  timeout?: number;
}

function out(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
}

/** A connection that answers each line with the next echoed line. */
class Lines {
  readonly socket: net.Socket;
  #buf = '';
  #waiting: Array<(line: string) => void> = [];
  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buf += d.toString();
      let i: number;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        this.#waiting.shift()?.(line);
      }
    });
  }
  ask(line: string, timeout: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timeout')), timeout);
      this.#waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
      this.socket.write(`${line}\n`);
    });
  }
}

const kept = new Map<number, Lines>();

function connect(host: string, port: number, timeout: number): Promise<Lines> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('timeout'));
    }, timeout);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(new Lines(s));
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function udp(host: string, port: number, timeout: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('timeout'));
    }, timeout);
    s.on('error', (e) => {
      clearTimeout(timer);
      s.close();
      reject(e);
    });
    s.on('message', () => {
      clearTimeout(timer);
      const local = s.address().port;
      s.close();
      resolve(local);
    });
    s.send('ping', port, host);
  });
}

async function handle(c: Command): Promise<Record<string, unknown>> {
  const timeout = c.timeout ?? 2000;
  switch (c.op) {
    case 'tcp': {
      const l = await connect(c.host!, c.port!, timeout);
      try {
        const echo = await l.ask('ping', timeout);
        if (echo !== 'ping') throw new Error(`echo ${echo}`);
        return { localPort: l.socket.localPort };
      } finally {
        l.socket.destroy();
      }
    }
    case 'udp':
      return { localPort: await udp(c.host!, c.port!, timeout) };
    case 'open': {
      const l = await connect(c.host!, c.port!, timeout);
      l.socket.on('error', () => undefined);
      kept.set(c.id, l);
      return { localPort: l.socket.localPort };
    }
    case 'send': {
      const l = kept.get(c.conn!);
      if (!l) throw new Error(`no connection ${c.conn}`);
      const echo = await l.ask(`line ${c.id}`, timeout);
      return { echo };
    }
    case 'close':
      kept.get(c.conn!)?.socket.destroy();
      kept.delete(c.conn!);
      return {};
  }
}

const listening: Promise<void>[] = [];
for (const port of ports(tcpText)) {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  listening.push(new Promise((resolve) => server.listen(port, '0.0.0.0', resolve)));
}
for (const port of ports(udpText)) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  listening.push(new Promise((resolve) => s.bind(port, '0.0.0.0', resolve)));
}
await Promise.all(listening);
out({ ready: true });

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as Command;
  handle(c).then(
    (r) => out({ id: c.id, ok: true, ...r }),
    (e: Error) => out({ id: c.id, ok: false, error: e.message }),
  );
});
process.stdin.on('end', () => process.exit(0));

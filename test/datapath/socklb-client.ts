// A client for the socket-LB tests, run inside a pod or the node (netns and
// cgroup) with `node socklb-client.ts MODE HOST PORT ...`. Each mode does
// what one probe process cannot: many connections from one netns, several
// datagrams from one socket, a connected UDP socket, a connection held open
// across a backend change. It prints JSON lines; the last one is the result.
//
//   http-many HOST PORT N          N HTTP requests, one new connection each
//   udp-sockets HOST PORT S D      S unconnected sockets, D "who" datagrams each
//   udp-connected HOST PORT        connect(), one "who" datagram, getpeername
//   keepalive HOST PORT            one HTTP/1.1 connection, a request now and
//                                  one more per line on stdin ("next")
import dgram from 'node:dgram';
import http from 'node:http';
import readline from 'node:readline';

const [mode, host = '', portText = '0', a = '1', b = '1'] = process.argv.slice(2);
const port = Number(portText);

interface Answer {
  pod?: string;
  client?: string;
  peer?: string;
  peerPort?: number;
  localPort?: number;
  error?: string;
  code?: string;
}

function print(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

function failure(e: unknown): Answer {
  const err = e as Error & { code?: string };
  return { error: err.message, ...(err.code ? { code: err.code } : {}) };
}

function httpGet(agent: http.Agent | false): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', agent, timeout: 2000 }, (res) => {
      const sock = res.socket;
      const peer = { peer: sock.remoteAddress, peerPort: sock.remotePort, localPort: sock.localPort };
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          resolve({ ...(JSON.parse(body) as Answer), ...peer });
        } catch (e) {
          resolve(failure(e));
        }
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e) => resolve(failure(e)));
  });
}

/** One "who" datagram (and retries) on `s`, to host:port unless connected. */
function who(s: dgram.Socket, connected: boolean): Promise<Answer> {
  return new Promise((resolve) => {
    const payload = Buffer.from('who');
    const send = () => (connected ? s.send(payload) : s.send(payload, port, host)) as unknown;
    let timer: NodeJS.Timeout | undefined;
    const finish = (v: Answer) => {
      clearInterval(timer);
      s.removeListener('message', onMessage);
      s.removeListener('error', onError);
      resolve(v);
    };
    const onMessage = (m: Buffer, r: dgram.RemoteInfo) => {
      try {
        finish({ ...(JSON.parse(m.toString()) as Answer), peer: r.address, peerPort: r.port });
      } catch (e) {
        finish(failure(e));
      }
    };
    const onError = (e: Error) => finish(failure(e));
    s.on('message', onMessage);
    s.on('error', onError);
    let tries = 0;
    timer = setInterval(() => {
      if (++tries > 6) finish({ error: 'timeout', code: 'TIMEOUT' });
      else send();
    }, 300);
    send();
  });
}

async function main(): Promise<void> {
  if (mode === 'http-many') {
    const results: Answer[] = [];
    for (let i = 0; i < Number(a); i++) results.push(await httpGet(false));
    print({ results });
  } else if (mode === 'udp-sockets') {
    const sockets: Answer[][] = [];
    for (let i = 0; i < Number(a); i++) {
      const s = dgram.createSocket('udp4');
      const answers: Answer[] = [];
      for (let j = 0; j < Number(b); j++) answers.push(await who(s, false));
      s.close();
      sockets.push(answers);
    }
    print({ sockets });
  } else if (mode === 'udp-connected') {
    const s = dgram.createSocket('udp4');
    const connected = await new Promise<Answer | undefined>((resolve) => s.connect(port, host, (err?: Error) => resolve(err ? failure(err) : undefined)));
    if (connected) {
      print(connected);
    } else {
      const answer = await who(s, true);
      const remote = s.remoteAddress(); // getpeername(2)
      print({ ...answer, connectedTo: remote.address, connectedPort: remote.port });
    }
    s.close();
  } else if (mode === 'keepalive') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    print(await httpGet(agent));
    const rl = readline.createInterface({ input: process.stdin });
    for await (const line of rl) {
      if (line.trim() === 'next') print(await httpGet(agent));
      else break;
    }
    agent.destroy();
  } else {
    print({ error: `unknown mode ${mode}` });
    process.exitCode = 2;
  }
}

main().catch((e: unknown) => {
  print(failure(e));
  process.exitCode = 1;
});

// What a sandbox pod runs: an HTTP server on 8080 that answers with its own
// name and the address it saw the client as, the same over UDP on 8081
// ("who am I talking to"), and TCP and UDP echo on 7.
//
//   pod-server NAME [--serve PORT,PORT,...] [--bind ADDRESS]
//
// --serve also listens on each PORT over TCP and over UDP (the NetworkPolicy
// conformance model uses 80 and 81, like upstream's agnhost serve-hostname
// containers) and answers every TCP read and every datagram with one JSON
// line: {"pod":NAME,"port":PORT,"proto":"tcp"|"udp","client":ADDRESS}.
// --bind ADDRESS binds those ports to one address instead of all: a UDP
// socket bound to 0.0.0.0 answers from whatever source address the route
// back prefers, which on a host with several addresses (a node) is not
// always the address the client sent to.
// Started inside the pod's netns; prints "ready" once every socket listens;
// stopped with a signal.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';

const args = process.argv.slice(2);
const name = args[0] && !args[0].startsWith('--') ? args[0] : 'pod';
const serveAt = args.indexOf('--serve');
const servePorts = serveAt >= 0 ? (args[serveAt + 1] ?? '').split(',').filter(Boolean).map(Number) : [];
const bindAt = args.indexOf('--bind');
const bindAddress = bindAt >= 0 ? (args[bindAt + 1] ?? '') : '0.0.0.0';
if (!net.isIPv4(bindAddress)) {
  process.stderr.write(`pod-server: --bind takes an IPv4 address, got ${JSON.stringify(bindAddress)}\n`);
  process.exit(2);
}
for (const p of servePorts) {
  if (!Number.isInteger(p) || p < 1 || p > 65535) {
    process.stderr.write(`pod-server: --serve takes ports 1-65535 separated by commas, got ${JSON.stringify(args[serveAt + 1])}\n`);
    process.exit(2);
  }
}

let ready = 0;
const expected = 4 + 2 * servePorts.length;
const up = () => {
  if (++ready === expected) process.stdout.write('ready\n');
};

const httpServer = http.createServer((req, res) => {
  const body = JSON.stringify({ pod: name, client: req.socket.remoteAddress, path: req.url });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
httpServer.on('listening', up);
httpServer.listen(8080, '0.0.0.0');
const tcp = net.createServer((s) => s.pipe(s).on('error', () => s.destroy()));
tcp.on('listening', up);
tcp.listen(7, '0.0.0.0');
const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
udp.on('listening', up);
udp.bind(7, '0.0.0.0');
const who = dgram.createSocket('udp4');
who.on('message', (_msg, rinfo) => who.send(JSON.stringify({ pod: name, client: rinfo.address }), rinfo.port, rinfo.address));
who.on('listening', up);
who.bind(8081, '0.0.0.0');

/** The answer on a --serve port: who answered, where, to whom. */
function answer(port: number, proto: 'tcp' | 'udp', client: string | undefined): string {
  return `${JSON.stringify({ pod: name, port, proto, client })}\n`;
}

for (const port of servePorts) {
  const t = net.createServer((s) => {
    s.on('data', () => s.write(answer(port, 'tcp', s.remoteAddress)));
    s.on('error', () => s.destroy());
  });
  t.on('listening', up);
  t.listen(port, bindAddress);
  const u = dgram.createSocket('udp4');
  u.on('message', (_msg, rinfo) => u.send(answer(port, 'udp', rinfo.address), rinfo.port, rinfo.address));
  u.on('listening', up);
  u.bind(port, bindAddress);
}

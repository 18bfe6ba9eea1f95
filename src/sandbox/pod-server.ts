// What a sandbox pod runs: an HTTP server on 8080 that answers with its own
// name and the address it saw the client as, the same over UDP on 8081
// ("who am I talking to"), and TCP and UDP echo on 7.
// Started inside the pod's netns; stopped with a signal.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';

const name = process.argv[2] ?? 'pod';
const httpServer = http.createServer((req, res) => {
  const body = JSON.stringify({ pod: name, client: req.socket.remoteAddress, path: req.url });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
httpServer.listen(8080, '0.0.0.0');
const tcp = net.createServer((s) => s.pipe(s).on('error', () => s.destroy()));
tcp.listen(7, '0.0.0.0');
const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
udp.bind(7, '0.0.0.0');
const who = dgram.createSocket('udp4');
who.on('message', (_msg, rinfo) => who.send(JSON.stringify({ pod: name, client: rinfo.address }), rinfo.port, rinfo.address));
who.bind(8081, '0.0.0.0');

let ready = 0;
const up = () => {
  if (++ready === 4) process.stdout.write('ready\n');
};
httpServer.on('listening', up);
tcp.on('listening', up);
udp.on('listening', up);
who.on('listening', up);

// Sends hand-made Ethernet frames out of a device with an AF_PACKET socket,
// for trace.test.ts, which runs it inside a pod's netns (node runs it as
// TypeScript; Node itself has no raw sockets, and the test never enters a
// netns itself).
//
//   argv: IFNAME
//
// Prints {"ready":true}, then answers each JSON line on stdin:
//   {"id":1,"frames":["<hex>",...],"repeat":N}   send the frames in order, N times (default 1)
// with {"id":1,"ok":true,"sent":K} or {"id":1,"ok":false,"error":"..."}.
import koffi from 'koffi';
import readline from 'node:readline';

const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_ALL_BE = 0x0300; // htons(ETH_P_ALL = 3)

const libc = koffi.load('libc.so.6');
const socket = libc.func('int socket(int, int, int)');
const bind = libc.func('int bind(int, void *, int)');
const write = libc.func('long write(int, void *, unsigned long)');
const ifNameToIndex = libc.func('unsigned int if_nametoindex(const char *)');

const ifname = process.argv[2] ?? 'eth0';
const ifindex = ifNameToIndex(ifname) as number;
if (!ifindex) throw new Error(`no device ${ifname}`);
const fd = socket(AF_PACKET, SOCK_RAW, ETH_P_ALL_BE) as number;
if (fd < 0) throw new Error('socket(AF_PACKET) failed');
// struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8]
const sll = Buffer.alloc(20);
sll.writeUInt16LE(AF_PACKET, 0);
sll.writeUInt16LE(ETH_P_ALL_BE, 2);
sll.writeInt32LE(ifindex, 4);
if ((bind(fd, sll, sll.length) as number) < 0) throw new Error('bind(AF_PACKET) failed');

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as { id: number; frames: string[]; repeat?: number };
  const frames = c.frames.map((h) => Buffer.from(h, 'hex'));
  let sent = 0;
  try {
    for (let i = 0; i < (c.repeat ?? 1); i++) {
      for (const f of frames) {
        if (Number(write(fd, f, f.length)) !== f.length) throw new Error(`write failed after ${sent} frames`);
        sent++;
      }
    }
    process.stdout.write(`${JSON.stringify({ id: c.id, ok: true, sent })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ id: c.id, ok: false, sent, error: String(err) })}\n`);
  }
});

// `membrane install-cni`: puts the plugin where container runtimes look for
// it and writes the network configuration list.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../kvstore/atomic-file.ts';
import type { Command } from './command.ts';

/** Where Debian's containernetworking-plugins live. */
export const SYSTEM_PLUGIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
const CHAINABLE: Record<string, Record<string, unknown>> = {
  portmap: { type: 'portmap', capabilities: { portMappings: true }, snat: true },
  bandwidth: { type: 'bandwidth', capabilities: { bandwidth: true } },
};

export interface ConflistSpec {
  name: string;
  cniVersion: string;
  chain: string[];
  socket?: string;
}

/** The conflist Membrane installs. Pure. */
export function conflist(s: ConflistSpec): Record<string, unknown> {
  return {
    cniVersion: s.cniVersion,
    name: s.name,
    plugins: [{ type: 'membrane-cni', ...(s.socket ? { agentSocket: s.socket } : {}) }, ...s.chain.map((c) => CHAINABLE[c]!)],
  };
}

export const installCniCommand: Command = {
  name: 'install-cni',
  summary: 'Install the CNI plugin binary and a network configuration list',
  usage: 'membrane install-cni [--conf-dir DIR] [--bin-dir DIR] [--chain portmap,bandwidth]',
  description: `
Writes <bin-dir>/membrane-cni (a launcher for this installation's plugin) and
<conf-dir>/05-membrane.conflist. With --chain, the named plugins from
Debian's containernetworking-plugins run after Membrane in the same
attachment (they are linked into <bin-dir> when they are elsewhere), and the
conflist uses CNI version 1.0.0, the newest those plugins speak.`,
  options: {
    'conf-dir': { type: 'string', value: 'DIR', help: 'CNI configuration directory', default: '/etc/cni/net.d' },
    'bin-dir': { type: 'string', value: 'DIR', help: 'CNI plugin directory', default: '/opt/cni/bin' },
    chain: { type: 'string', value: 'LIST', help: `plugins to chain after Membrane (${Object.keys(CHAINABLE).join(', ')})`, default: '' },
    name: { type: 'string', value: 'NAME', help: 'network name', default: 'membrane' },
  },
  async run({ values }) {
    const confDir = String(values['conf-dir']);
    const binDir = String(values['bin-dir']);
    const chain = String(values.chain).split(',').map((s) => s.trim()).filter(Boolean);
    for (const c of chain) if (!CHAINABLE[c]) throw new InputError('--chain', `'${c}' is not a plugin Membrane knows how to chain (${Object.keys(CHAINABLE).join(', ')})`);
    const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const node = fs.existsSync(path.join(here, '.tools/node/bin/node')) ? path.join(here, '.tools/node/bin/node') : process.execPath;
    const shim = `#!/bin/sh\n# Membrane CNI plugin (installed by 'membrane install-cni' from ${here})\nexec ${node} ${path.join(here, 'dist/cni/main.js')} "$@"\n`;
    const binPath = path.join(binDir, 'membrane-cni');
    writeFileAtomic(binPath, shim, 0o755);
    for (const c of chain) {
      const target = path.join(binDir, c);
      if (fs.existsSync(target)) continue;
      const src = SYSTEM_PLUGIN_DIRS.map((d) => path.join(d, c)).find((p) => fs.existsSync(p));
      if (!src) throw new InputError('--chain', `plugin '${c}' not found in ${SYSTEM_PLUGIN_DIRS.join(' or ')} — apt-get install containernetworking-plugins`);
      fs.symlinkSync(src, target);
    }
    const confPath = path.join(confDir, '05-membrane.conflist');
    const socket = typeof values.socket === 'string' ? values.socket : undefined;
    writeJsonAtomic(confPath, conflist({ name: String(values.name), cniVersion: chain.length ? '1.0.0' : '1.1.0', chain, ...(socket ? { socket } : {}) }));
    fs.chmodSync(confPath, 0o644);
    process.stdout.write(`installed ${binPath}\nwrote ${confPath}\n`);
  },
};

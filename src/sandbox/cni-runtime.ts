// A container runtime's side of CNI, as libcni does it: execute the plugins
// of a network configuration list in order for ADD (feeding each the
// previous result) and in reverse for DEL, with capabilities passed as
// runtimeConfig. The sandbox and the tests drive Membrane through this, so
// pods are made exactly as a real runtime would make them.
import fs from 'node:fs';
import path from 'node:path';
import { MembraneError } from '../errors.ts';
import { run } from '../endpoint/exec.ts';

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> }>;
}

export interface Attachment {
  containerID: string;
  netns: string;
  ifName: string;
  args?: Record<string, string>;
  /** Capability values, e.g. { portMappings: [...], bandwidth: {...} }. */
  capabilities?: Record<string, unknown>;
}

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CniRuntimeOptions {
  /** Directories searched for plugin binaries (CNI_PATH). */
  path: string[];
  /** Run plugins inside this netns (the node's), via nsenter. */
  nodeNetns?: string;
  env?: Record<string, string>;
}

export class CniError extends MembraneError {
  readonly cniCode: number;
  readonly plugin: string;
  constructor(plugin: string, cniCode: number, msg: string, details?: string) {
    super('INTERNAL', `CNI plugin ${plugin} failed (code ${cniCode}): ${msg}${details ? ` — ${details}` : ''}`);
    this.cniCode = cniCode;
    this.plugin = plugin;
  }
}

export class CniRuntime {
  readonly opts: CniRuntimeOptions;
  constructor(opts: CniRuntimeOptions) {
    this.opts = opts;
  }

  /** Runs one plugin binary with a command, env and stdin config. */
  exec(type: string, command: string, att: Partial<Attachment>, config: unknown): Promise<PluginRun> {
    const bin = this.opts.path.map((d) => path.join(d, type)).find((p) => fs.existsSync(p));
    if (!bin) return Promise.reject(new MembraneError('NOT_FOUND', `CNI plugin '${type}' not found in ${this.opts.path.join(':')}`));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_PATH: this.opts.path.join(':'),
      ...(att.containerID ? { CNI_CONTAINERID: att.containerID } : {}),
      ...(att.netns !== undefined ? { CNI_NETNS: att.netns } : {}),
      ...(att.ifName ? { CNI_IFNAME: att.ifName } : {}),
      ...(att.args ? { CNI_ARGS: Object.entries(att.args).map(([k, v]) => `${k}=${v}`).join(';') } : {}),
      ...(this.opts.env ?? {}),
    };
    const [cmd, args] = this.opts.nodeNetns ? ['nsenter', [`--net=${this.opts.nodeNetns}`, '--', bin]] : [bin, []];
    return run(cmd, args, { env, input: typeof config === 'string' ? config : JSON.stringify(config), allowFail: true });
  }

  #pluginConfig(list: Conflist, plugin: Conflist['plugins'][number], att: Partial<Attachment>, prevResult?: unknown): Record<string, unknown> {
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
      if (on && att.capabilities?.[cap] !== undefined) runtimeConfig[cap] = att.capabilities[cap];
    }
    const { capabilities: _caps, ...rest } = plugin;
    return {
      ...rest,
      cniVersion: list.cniVersion,
      name: list.name,
      ...(Object.keys(runtimeConfig).length ? { runtimeConfig } : {}),
      ...(prevResult !== undefined ? { prevResult } : {}),
    };
  }

  #fail(type: string, r: PluginRun): never {
    let parsed: { code?: number; msg?: string; details?: string } = {};
    try {
      parsed = JSON.parse(r.stdout);
    } catch {
      // not JSON: report raw output
    }
    throw new CniError(type, parsed.code ?? r.code, parsed.msg ?? (r.stdout.trim() || r.stderr.trim() || `exit ${r.code}`), parsed.details);
  }

  async add(list: Conflist, att: Attachment): Promise<unknown> {
    let prev: unknown;
    for (const p of list.plugins) {
      const r = await this.exec(p.type, 'ADD', att, this.#pluginConfig(list, p, att, prev));
      if (r.code !== 0) this.#fail(p.type, r);
      prev = JSON.parse(r.stdout);
    }
    return prev;
  }

  async check(list: Conflist, att: Attachment, prevResult: unknown): Promise<void> {
    for (const p of list.plugins) {
      const r = await this.exec(p.type, 'CHECK', att, this.#pluginConfig(list, p, att, prevResult));
      if (r.code !== 0) this.#fail(p.type, r);
    }
  }

  async del(list: Conflist, att: Attachment, prevResult?: unknown): Promise<void> {
    const errors: unknown[] = [];
    for (const p of [...list.plugins].reverse()) {
      const r = await this.exec(p.type, 'DEL', att, this.#pluginConfig(list, p, att, prevResult));
      if (r.code !== 0) {
        try {
          this.#fail(p.type, r);
        } catch (e) {
          errors.push(e);
        }
      }
    }
    if (errors.length) throw errors[0];
  }
}

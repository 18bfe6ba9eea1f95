// Flow filters with Hubble's semantics: a flag's repeated values are ORed,
// different flags ANDed, and the either-side flags (pod, namespace, label,
// identity, ip, port, service) match the source OR the destination.
// Query parameter names are the `membrane observe` flag names.
import { InputError } from '../errors.ts';
import { RESERVED_IDS, type ReservedName } from '../identity/types.ts';
import { ip4ToInt } from '../net/ip4.ts';
import { CILIUM_MSG_DROP, CILIUM_MSG_POLICY_VERDICT, CILIUM_MSG_TRACE, DROP_REASON_NAMES, TRACE_SUBTYPE_NAMES } from './flow.ts';
import type { Flow, FlowEndpoint, FlowRecord, FlowService } from './flow-types.ts';

export type FilterSide = 'source' | 'destination' | 'either';

/** A label requirement: `k8s:app=web` (source-qualified), `app=web` (any source), `app` (exists), `!app` (absent), `app in (a,b)`. */
export interface LabelRequirement {
  key: string;
  /** Label source (`k8s`, `reserved`, …); undefined: any. */
  source?: string;
  op: 'exists' | 'absent' | 'in' | 'notin';
  values: string[];
}
/** All requirements must hold. */
export type LabelSelector = LabelRequirement[];

/** One flag family; its values are ORed. A flow passes a filter list when it passes every filter. */
export type FlowFilter =
  | { kind: 'pod'; side: FilterSide; values: { namespace: string; podPrefix: string }[] }
  | { kind: 'namespace'; side: FilterSide; values: string[] }
  | { kind: 'label'; side: FilterSide; values: LabelSelector[] }
  | { kind: 'identity'; side: FilterSide; values: number[] }
  | { kind: 'ip'; side: FilterSide; values: { base: number; mask: number; text: string }[] }
  | { kind: 'port'; side: FilterSide; values: number[] }
  | { kind: 'service'; side: FilterSide; values: { namespace: string; name: string }[] }
  | { kind: 'protocol'; values: string[] }
  | { kind: 'verdict'; values: string[] }
  | { kind: 'drop-reason'; values: string[] }
  | { kind: 'type'; values: { type: number; subType?: number }[] }
  | { kind: 'traffic-direction'; values: string[] }
  | { kind: 'is-reply'; value: boolean };

export interface FlowQuery {
  filters: FlowFilter[];
  /** Only the last n matching flows of the buffer (undefined: no limit). */
  last?: number;
  /** Only flows at or after this time (ms since the epoch). */
  since?: number;
  /** Only flows before this time (ms since the epoch). */
  until?: number;
  /** Keep streaming new flows after the buffered ones. */
  follow: boolean;
}

const SIDED = ['pod', 'namespace', 'label', 'identity', 'ip', 'port', 'service'] as const;
type SidedKind = (typeof SIDED)[number];
const PLAIN = ['protocol', 'verdict', 'drop-reason', 'type', 'traffic-direction', 'is-reply'] as const;
const CONTROL = ['last', 'since', 'until', 'follow', 'all'] as const;

/** Flag names accepted as query parameters (= `membrane observe` long flags). */
export const FLOW_QUERY_PARAMS: readonly string[] = Object.freeze([
  ...SIDED.flatMap((k) => [k, `from-${k}`, `to-${k}`]),
  ...PLAIN,
  ...CONTROL,
]);

const VERDICTS = ['FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED'];
const PROTOCOLS: Record<string, string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP', icmp: 'ICMPv4', icmpv4: 'ICMPv4' };
const EVENT_TYPES: Record<string, number> = { drop: CILIUM_MSG_DROP, trace: CILIUM_MSG_TRACE, 'policy-verdict': CILIUM_MSG_POLICY_VERDICT };
const TRACE_SUBTYPES: Record<string, number> = Object.fromEntries(Object.entries(TRACE_SUBTYPE_NAMES).map(([n, name]) => [name, Number(n)]));
const DROP_CODES: Record<string, number> = Object.fromEntries(Object.entries(DROP_REASON_NAMES).map(([n, name]) => [name, Number(n)]));

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const RFC3339 = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** `30s`, `5m`, `1h30m`, `500ms`, `2d` → ms; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return ms;
}

/** A time for `since`/`until`: RFC 3339 (or a date) or a duration before `now`; ms since the epoch. */
export function parseTime(param: string, text: string, now: number): number {
  const d = parseDuration(text);
  if (d !== undefined) return now - d;
  // An unencoded `+02:00` offset arrives as ` 02:00`.
  text = text.replace(/(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$/, '$1+$2');
  if (RFC3339.test(text)) {
    // Date.parse keeps milliseconds; longer fractions are cut to them.
    const t = Date.parse(text.replace(/(\.\d{3})\d+/, '$1').replace(' ', 'T'));
    if (!Number.isNaN(t)) return t;
  }
  throw new InputError(param, `'${text}' is neither an RFC 3339 time (2024-11-22T10:01:02Z) nor a duration (30s, 5m, 1h30m)`);
}

function parseBool(param: string, text: string): boolean {
  const t = text.toLowerCase();
  if (t === '' || t === 'true' || t === '1' || t === 'yes') return true;
  if (t === 'false' || t === '0' || t === 'no') return false;
  throw new InputError(param, `'${text}' is not true or false`);
}

function parseCount(param: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new InputError(param, `'${text}' is not a non-negative integer`);
  return Number(text);
}

/** `[NS/]NAME`: no namespace → `defaultNs`. */
function splitRef(param: string, text: string, defaultNs: string): { namespace: string; name: string } {
  if (text === '') throw new InputError(param, 'empty; expected [NAMESPACE/]NAME or NAMESPACE/');
  const i = text.indexOf('/');
  if (i < 0) return { namespace: defaultNs, name: text };
  const namespace = text.slice(0, i);
  const name = text.slice(i + 1);
  if (namespace === '' || name.includes('/')) throw new InputError(param, `'${text}' is not [NAMESPACE/]NAME`);
  return { namespace, name };
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/:-]*$/;

function splitKey(param: string, raw: string): { key: string; source?: string } {
  const key = raw.trim();
  if (!LABEL_KEY.test(key)) throw new InputError(param, `'${raw}' is not a label key`);
  const i = key.indexOf(':');
  return i < 0 ? { key } : { source: key.slice(0, i), key: key.slice(i + 1) };
}

/** Kubernetes label-selector syntax, with Cilium's optional `source:` on keys. */
export function parseLabelSelector(param: string, text: string): LabelSelector {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  const out: LabelSelector = [];
  for (const raw of parts) {
    const p = raw.trim();
    if (p === '') throw new InputError(param, `'${text}': empty label requirement`);
    let m: RegExpMatchArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p))) {
      const values = m[3]!.split(',').map((v) => v.trim());
      out.push({ ...splitKey(param, m[1]!), op: m[2] === 'in' ? 'in' : 'notin', values });
    } else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(p))) {
      out.push({ ...splitKey(param, m[1]!), op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!.trim()] });
    } else if (p.startsWith('!')) {
      out.push({ ...splitKey(param, p.slice(1)), op: 'absent', values: [] });
    } else {
      out.push({ ...splitKey(param, p), op: 'exists', values: [] });
    }
  }
  return out;
}

function parseIdentity(param: string, text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const name = text.startsWith('reserved:') ? text.slice('reserved:'.length) : text;
  const id = RESERVED_IDS[name as ReservedName];
  if (id !== undefined) return id;
  throw new InputError(param, `'${text}' is not an identity number nor a reserved identity (${Object.keys(RESERVED_IDS).join(', ')})`);
}

function parseCidr(param: string, text: string): { base: number; mask: number; text: string } {
  const [addr, len, extra] = text.split('/');
  const bits = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (extra !== undefined || !(bits >= 0 && bits <= 32)) throw new InputError(param, `'${text}' is not an IPv4 address or CIDR`);
  let n: number;
  try {
    n = ip4ToInt(addr ?? '');
  } catch {
    throw new InputError(param, `'${text}' is not an IPv4 address or CIDR`);
  }
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (n & mask) >>> 0, mask, text };
}

function parsePort(param: string, text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new InputError(param, `'${text}' is not a port (0-65535)`);
  return Number(text);
}

function parseType(param: string, text: string): { type: number; subType?: number } {
  const i = text.indexOf(':');
  const name = (i < 0 ? text : text.slice(0, i)).toLowerCase();
  const sub = i < 0 ? undefined : text.slice(i + 1);
  const type = /^\d+$/.test(name) ? Number(name) : EVENT_TYPES[name];
  if (type === undefined) throw new InputError(param, `'${text}': unknown event type '${name}' (trace, drop, policy-verdict, or a number)`);
  if (sub === undefined) return { type };
  let subType: number | undefined;
  if (/^\d+$/.test(sub)) subType = Number(sub);
  else if (type === CILIUM_MSG_TRACE) subType = TRACE_SUBTYPES[sub.toLowerCase()];
  else if (type === CILIUM_MSG_DROP) subType = DROP_CODES[sub.toUpperCase()];
  if (subType === undefined) {
    const known = type === CILIUM_MSG_TRACE ? Object.keys(TRACE_SUBTYPES).join(', ') : type === CILIUM_MSG_DROP ? 'a drop reason name or code' : 'a number';
    throw new InputError(param, `'${text}': unknown sub-type '${sub}' (${known})`);
  }
  return { type, subType };
}

function parseDropReason(param: string, text: string): string {
  if (/^\d+$/.test(text)) {
    const name = DROP_REASON_NAMES[Number(text)];
    if (!name) throw new InputError(param, `'${text}' is not a drop reason code Membrane reports (${Object.keys(DROP_REASON_NAMES).join(', ')})`);
    return name;
  }
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(text)) throw new InputError(param, `'${text}' is not a drop reason name (e.g. POLICY_DENIED)`);
  return text.toUpperCase();
}

/** Parses GET /v1/flows' query; an InputError names the bad parameter. `now` is for relative `since` ("5m"). */
export function parseFlowQuery(params: URLSearchParams, now: number = Date.now()): FlowQuery {
  for (const key of new Set(params.keys())) {
    if (!FLOW_QUERY_PARAMS.includes(key)) throw new InputError(key, `unknown parameter; accepted: ${FLOW_QUERY_PARAMS.join(', ')}`);
  }
  const one = (name: string): string | undefined => {
    const all = params.getAll(name);
    if (all.length > 1) throw new InputError(name, 'given more than once');
    return all[0];
  };
  const q: FlowQuery = { filters: [], follow: false };
  const follow = one('follow');
  if (follow !== undefined) q.follow = parseBool('follow', follow);
  const last = one('last');
  const all = one('all');
  if (all !== undefined && parseBool('all', all)) {
    if (last !== undefined) throw new InputError('all', 'cannot be combined with last');
  } else if (last !== undefined) q.last = parseCount('last', last);
  const since = one('since');
  if (since !== undefined) q.since = parseTime('since', since, now);
  const until = one('until');
  if (until !== undefined) q.until = parseTime('until', until, now);

  // A pod or service without namespace is in the `namespace` parameter's namespace when exactly one is given, else in `default` (hubble).
  const namespaces = params.getAll('namespace');
  const defaultNs = namespaces.length === 1 && namespaces[0] ? namespaces[0] : 'default';

  for (const kind of SIDED) {
    for (const [prefix, side] of [['', 'either'], ['from-', 'source'], ['to-', 'destination']] as const) {
      const param = `${prefix}${kind}`;
      const texts = params.getAll(param);
      if (texts.length === 0) continue;
      q.filters.push(sidedFilter(kind as SidedKind, side, param, texts, defaultNs));
    }
  }
  const list = (p: string) => params.getAll(p);
  if (list('protocol').length) {
    q.filters.push({
      kind: 'protocol',
      values: list('protocol').map((t) => {
        const p = PROTOCOLS[t.toLowerCase()];
        if (!p) throw new InputError('protocol', `'${t}' is not a protocol Membrane sees (tcp, udp, sctp, icmp)`);
        return p;
      }),
    });
  }
  if (list('verdict').length) {
    q.filters.push({
      kind: 'verdict',
      values: list('verdict').map((t) => {
        const v = t.toUpperCase();
        if (!VERDICTS.includes(v)) throw new InputError('verdict', `'${t}' is not a verdict (${VERDICTS.join(', ')})`);
        return v;
      }),
    });
  }
  if (list('drop-reason').length) q.filters.push({ kind: 'drop-reason', values: list('drop-reason').map((t) => parseDropReason('drop-reason', t)) });
  if (list('type').length) q.filters.push({ kind: 'type', values: list('type').map((t) => parseType('type', t)) });
  if (list('traffic-direction').length) {
    q.filters.push({
      kind: 'traffic-direction',
      values: list('traffic-direction').map((t) => {
        const d = t.toUpperCase();
        if (d !== 'INGRESS' && d !== 'EGRESS') throw new InputError('traffic-direction', `'${t}' is not ingress or egress`);
        return d;
      }),
    });
  }
  const reply = one('is-reply');
  if (reply !== undefined) q.filters.push({ kind: 'is-reply', value: parseBool('is-reply', reply) });
  return q;
}

function sidedFilter(kind: SidedKind, side: FilterSide, param: string, texts: string[], defaultNs: string): FlowFilter {
  switch (kind) {
    case 'pod':
      return {
        kind, side, values: texts.map((t) => {
          const r = splitRef(param, t, defaultNs);
          return { namespace: r.namespace, podPrefix: r.name };
        }),
      };
    case 'namespace':
      return {
        kind, side, values: texts.map((t) => {
          if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(t)) throw new InputError(param, `'${t}' is not a namespace name`);
          return t;
        }),
      };
    case 'label':
      return { kind, side, values: texts.map((t) => parseLabelSelector(param, t)) };
    case 'identity':
      return { kind, side, values: texts.map((t) => parseIdentity(param, t)) };
    case 'ip':
      return { kind, side, values: texts.map((t) => parseCidr(param, t)) };
    case 'port':
      return { kind, side, values: texts.map((t) => parsePort(param, t)) };
    case 'service':
      return { kind, side, values: texts.map((t) => splitRef(param, t, defaultNs)) };
  }
}

// --- matching -------------------------------------------------------------------

/** Flow labels parsed once per (shared, frozen) label array. */
const parsedLabels = new WeakMap<readonly string[], Map<string, { source: string; value: string }[]>>();

function labelsOf(ep: FlowEndpoint): Map<string, { source: string; value: string }[]> {
  const list = ep.labels ?? [];
  let m = parsedLabels.get(list);
  if (!m) {
    m = new Map();
    for (const l of list) {
      const c = l.indexOf(':');
      const eq = l.indexOf('=', c + 1);
      const source = c < 0 || (eq >= 0 && c > eq) ? '' : l.slice(0, c);
      const key = eq < 0 ? l.slice(source ? c + 1 : 0) : l.slice(source ? c + 1 : 0, eq);
      const value = eq < 0 ? '' : l.slice(eq + 1);
      const arr = m.get(key) ?? [];
      arr.push({ source, value });
      m.set(key, arr);
    }
    parsedLabels.set(list, m);
  }
  return m;
}

function matchSelector(ep: FlowEndpoint, sel: LabelSelector): boolean {
  const labels = labelsOf(ep);
  for (const r of sel) {
    const found = (labels.get(r.key) ?? []).filter((l) => r.source === undefined || r.source === 'any' || l.source === r.source);
    switch (r.op) {
      case 'exists':
        if (found.length === 0) return false;
        break;
      case 'absent':
        if (found.length > 0) return false;
        break;
      case 'in':
        if (!found.some((l) => r.values.includes(l.value))) return false;
        break;
      case 'notin':
        if (found.some((l) => r.values.includes(l.value))) return false;
        break;
    }
  }
  return true;
}

function ports(f: Flow): [number, number] | undefined {
  const l = f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP;
  return l ? [l.source_port, l.destination_port] : undefined;
}

function matchSide(f: Flow, filter: Extract<FlowFilter, { side: FilterSide }>, source: boolean): boolean {
  const ep = source ? f.source : f.destination;
  switch (filter.kind) {
    case 'pod':
      return ep.pod_name !== undefined && filter.values.some((v) => ep.namespace === v.namespace && ep.pod_name!.startsWith(v.podPrefix));
    case 'namespace':
      return ep.namespace !== undefined && filter.values.includes(ep.namespace);
    case 'label':
      return filter.values.some((sel) => matchSelector(ep, sel));
    case 'identity':
      return ep.identity !== undefined && filter.values.includes(ep.identity);
    case 'ip': {
      let n: number;
      try {
        n = ip4ToInt(source ? f.IP.source : f.IP.destination);
      } catch {
        return false;
      }
      return filter.values.some((c) => ((n & c.mask) >>> 0) === c.base);
    }
    case 'port': {
      const p = ports(f);
      return p !== undefined && filter.values.includes(source ? p[0] : p[1]);
    }
    case 'service': {
      const s: FlowService | undefined = source ? f.source_service : f.destination_service;
      return s !== undefined && filter.values.some((v) => s.namespace === v.namespace && (v.name === '' || s.name === v.name));
    }
  }
}

function matchOne(f: Flow, filter: FlowFilter): boolean {
  switch (filter.kind) {
    case 'protocol':
      return f.l4 !== undefined && filter.values.some((p) => p in f.l4!);
    case 'verdict':
      return filter.values.includes(f.verdict);
    case 'drop-reason':
      return f.drop_reason_desc !== undefined && filter.values.includes(f.drop_reason_desc);
    case 'type':
      return filter.values.some((t) => f.event_type.type === t.type && (t.subType === undefined || f.event_type.sub_type === t.subType));
    case 'traffic-direction':
      return filter.values.includes(f.traffic_direction);
    case 'is-reply':
      return f.is_reply === filter.value;
    default:
      if (filter.side === 'source') return matchSide(f, filter, true);
      if (filter.side === 'destination') return matchSide(f, filter, false);
      return matchSide(f, filter, true) || matchSide(f, filter, false);
  }
}

export function matchFlow(flow: Flow, filters: readonly FlowFilter[]): boolean {
  for (const f of filters) if (!matchOne(flow, f)) return false;
  return true;
}

/** lost_events records always pass (as in Hubble). */
export function matchRecord(rec: FlowRecord, filters: readonly FlowFilter[]): boolean {
  return 'flow' in rec ? matchFlow(rec.flow, filters) : true;
}

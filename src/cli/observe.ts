// `membrane observe`: the agent's flows, as `hubble observe` shows them —
// the last flows of the agent's buffer, or a live stream (-f), filtered with
// Hubble's flags, printed compact (one line per flow), as JSON (exactly the
// API's records, for jq) or as a table.
import { InputError, MembraneError } from '../errors.ts';
import { reservedName } from '../identity/types.ts';
import { parseFlowQuery } from '../observe/filter.ts';
import type { Flow, FlowRecord } from '../observe/flow-types.ts';
import { type Command, type OptionSpec, type ParsedArgs, agentClient } from './command.ts';
import { table } from './output.ts';

/** Filter flags: each is a query parameter of GET /v1/flows with the same name. */
export const FILTER_FLAGS: Record<string, OptionSpec> = {
  pod: { type: 'string', multiple: true, value: '[NS/]NAME', help: 'flows from or to this pod (a name prefix; NS defaults to "default")' },
  'from-pod': { type: 'string', multiple: true, value: '[NS/]NAME', help: 'flows from this pod' },
  'to-pod': { type: 'string', multiple: true, value: '[NS/]NAME', help: 'flows to this pod' },
  namespace: { type: 'string', short: 'n', multiple: true, value: 'NS', help: 'flows from or to pods of this namespace' },
  'from-namespace': { type: 'string', multiple: true, value: 'NS', help: 'flows from pods of this namespace' },
  'to-namespace': { type: 'string', multiple: true, value: 'NS', help: 'flows to pods of this namespace' },
  label: { type: 'string', short: 'l', multiple: true, value: 'SELECTOR', help: 'flows from or to endpoints with these labels (app=web, k8s:app=web, app, !app; comma = and)' },
  'from-label': { type: 'string', multiple: true, value: 'SELECTOR', help: 'flows from endpoints with these labels' },
  'to-label': { type: 'string', multiple: true, value: 'SELECTOR', help: 'flows to endpoints with these labels' },
  identity: { type: 'string', multiple: true, value: 'ID', help: 'flows from or to this security identity (number, or a reserved name: host, world, …)' },
  'from-identity': { type: 'string', multiple: true, value: 'ID', help: 'flows from this identity' },
  'to-identity': { type: 'string', multiple: true, value: 'ID', help: 'flows to this identity' },
  ip: { type: 'string', multiple: true, value: 'IP[/LEN]', help: 'flows from or to this address or CIDR' },
  'from-ip': { type: 'string', multiple: true, value: 'IP[/LEN]', help: 'flows from this address or CIDR' },
  'to-ip': { type: 'string', multiple: true, value: 'IP[/LEN]', help: 'flows to this address or CIDR' },
  port: { type: 'string', multiple: true, value: 'PORT', help: 'flows from or to this L4 port' },
  'from-port': { type: 'string', multiple: true, value: 'PORT', help: 'flows from this L4 port' },
  'to-port': { type: 'string', multiple: true, value: 'PORT', help: 'flows to this L4 port' },
  protocol: { type: 'string', multiple: true, value: 'PROTO', help: 'tcp, udp, icmp (icmpv4), sctp' },
  verdict: { type: 'string', multiple: true, value: 'VERDICT', help: 'FORWARDED, DROPPED or AUDIT' },
  'drop-reason': { type: 'string', multiple: true, value: 'REASON', help: 'drop reason, as in drop_reason_desc (e.g. POLICY_DENIED)' },
  type: { type: 'string', multiple: true, value: 'TYPE', help: 'trace, drop, policy-verdict, or TYPE:SUBTYPE (trace:to-endpoint, drop:POLICY_DENIED)' },
  service: { type: 'string', multiple: true, value: 'NS/NAME', help: 'flows from or to this service' },
  'from-service': { type: 'string', multiple: true, value: 'NS/NAME', help: 'flows from this service' },
  'to-service': { type: 'string', multiple: true, value: 'NS/NAME', help: 'flows to this service' },
  'traffic-direction': { type: 'string', multiple: true, value: 'DIR', help: 'ingress or egress' },
  'is-reply': { type: 'string', value: 'true|false', bare: 'true', help: 'only replies (--is-reply, --is-reply true) or only requests (--is-reply false)' },
};

export const OBSERVE_OPTIONS: Record<string, OptionSpec> = {
  follow: { type: 'boolean', short: 'f', help: 'keep printing new flows until Ctrl-C' },
  last: { type: 'string', value: 'N', help: 'the last N matching flows of the buffer (default 20 unless --since, --all or -f)' },
  since: { type: 'string', value: 'DURATION|TIME', help: 'flows since a duration ago (30s, 5m, 1h30m) or an RFC 3339 time' },
  all: { type: 'boolean', help: 'every matching flow in the buffer' },
  ...FILTER_FLAGS,
  output: { type: 'string', short: 'o', value: 'FORMAT', help: 'compact (one line per flow), json (one record per line, as the API sends it) or table', default: 'compact' },
};

export type ObserveFormat = 'compact' | 'json' | 'table';

/** The last flows shown when neither --last, --since, --all nor --follow is given (as hubble). */
export const DEFAULT_LAST = 20;

export function observeFormat(v: unknown): ObserveFormat {
  const s = String(v ?? 'compact');
  if (s === 'compact' || s === 'json' || s === 'table') return s;
  throw new InputError('--output', `'${s}' is not an output format: write compact, json or table`);
}

function strings(v: ParsedArgs['values'][string]): string[] {
  if (v === undefined || typeof v === 'boolean') return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * The query of GET /v1/flows for the flags given, checked here with the
 * agent's own parser so a mistake names the flag before anything is sent.
 */
export function observeQuery(values: ParsedArgs['values'], now = Date.now()): URLSearchParams {
  const p = new URLSearchParams();
  const last = strings(values.last)[0];
  if (last !== undefined) {
    if (!/^\d+$/.test(last) || Number(last) < 1) throw new InputError('--last', `'${last}' is not a number of flows: write a whole number ≥ 1, e.g. --last 100`);
    if (values.all === true) throw new InputError('--last', 'give --last N or --all, not both');
    p.set('last', String(Number(last)));
  }
  const since = strings(values.since)[0];
  if (since !== undefined) p.set('since', since);
  if (values.all === true) p.set('all', 'true');
  if (values.follow === true) p.set('follow', 'true');
  if (last === undefined && since === undefined && values.all !== true && values.follow !== true) p.set('last', String(DEFAULT_LAST));
  for (const name of Object.keys(FILTER_FLAGS)) for (const v of strings(values[name])) p.append(name, v);
  try {
    parseFlowQuery(p, now);
  } catch (err) {
    throw flagError(err);
  }
  return p;
}

/** An error about a query parameter, renamed after its flag. */
export function flagError(err: unknown): unknown {
  if (!(err instanceof MembraneError) || err.code !== 'INVALID_INPUT') return err;
  const field = typeof err.details.field === 'string' ? err.details.field : undefined;
  const reason = typeof err.details.reason === 'string' ? err.details.reason : err.message;
  if (!field || field.startsWith('-')) return err;
  return new InputError(`--${field}`, `${reason} — see 'membrane observe --help'`);
}

// --- formatting -----------------------------------------------------------

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Nov 22 10:01:02.123` (UTC), as hubble prints times (Go's StampMilli). */
export function stampMilli(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return 'N/A';
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}`;
}

function ports(f: Flow): [number, number] {
  const l4 = f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP;
  return l4 ? [l4.source_port, l4.destination_port] : [0, 0];
}

/** ns/pod, else ns/service, else the address; `:port` when there is one. */
function host(ip: string, port: number, ep: Flow['source'], svc: Flow['source_service']): string {
  const name = ep.pod_name ? `${ep.namespace ? `${ep.namespace}/` : ''}${ep.pod_name}` : svc ? `${svc.namespace}/${svc.name}` : ip;
  return port ? `${name}:${port}` : name;
}

export function hostNames(f: Flow): [string, string] {
  const [sp, dp] = ports(f);
  return [host(f.IP.source, sp, f.source, f.source_service), host(f.IP.destination, dp, f.destination, f.destination_service)];
}

/** `(ID:300)`, or a reserved identity's name: `(world)`. */
export function identityTag(id: number | undefined): string {
  const n = id ?? 0;
  if (n === 0) return '(unknown)';
  const reserved = n === 8 ? 'ingress' : reservedName(n);
  return reserved ? `(${reserved})` : `(ID:${n})`;
}

/** Cilium's drop reason texts (pkg/monitor/api), by Cilium's code. */
export const DROP_REASON_TEXT: Record<number, string> = {
  130: 'Invalid source mac',
  131: 'Invalid destination mac',
  132: 'Invalid source ip',
  133: 'Policy denied',
  134: 'Invalid packet',
  135: 'CT: Truncated or invalid header',
  136: 'Fragmentation needed',
  137: 'CT: Unknown L4 protocol',
  138: "CT: Can't create entry from packet",
  139: 'Unsupported L3 protocol',
  140: 'Missed tail call',
  141: 'Error writing to packet',
  142: 'Unknown L4 protocol',
  150: 'Unknown L3 target address',
  151: 'Stale or unroutable IP',
  152: 'No matching local container found',
  155: 'CT: Map insertion failed',
  158: 'Service backend not found',
  163: 'Unknown connection tracking state',
  164: 'Local host is unreachable',
  166: 'Unsupported L2 protocol',
  167: 'No mapping for NAT masquerade',
  168: 'Unsupported protocol for NAT masquerade',
  169: 'FIB lookup failed',
  171: 'Invalid identity',
  172: 'Unknown sender',
  181: 'Policy denied by denylist',
};

function dropText(f: Flow): string {
  const code = f.drop_reason ?? f.event_type.sub_type ?? 0;
  const text = DROP_REASON_TEXT[code];
  if (text) return text;
  const desc = f.drop_reason_desc;
  return desc ? desc.charAt(0) + desc.slice(1).toLowerCase().replaceAll('_', ' ') : `Drop reason ${code}`;
}

/** Cilium's policy match type names (policy_match_type). */
const MATCH_NAMES: Record<number, string> = { 0: 'none', 1: 'L3-Only', 2: 'L3-L4', 3: 'L4-Only', 4: 'all' };

/** The TYPE column: the observation point, the drop reason, or `policy-verdict:MATCH DIRECTION`. */
export function flowType(f: Flow): string {
  switch (f.event_type.type) {
    case 4:
      return (f.trace_observation_point ?? 'UNKNOWN_POINT').toLowerCase().replaceAll('_', '-');
    case 1:
      return dropText(f);
    case 5:
      return `policy-verdict:${MATCH_NAMES[f.policy_match_type ?? 0] ?? String(f.policy_match_type)} ${f.traffic_direction}`;
    default:
      return 'UNKNOWN';
  }
}

/** The VERDICT column; policy verdicts say ALLOWED / DENIED / AUDITED, as hubble. */
export function verdictText(f: Flow): string {
  if (f.event_type.type !== 5) return f.verdict;
  return f.verdict === 'FORWARDED' ? 'ALLOWED' : f.verdict === 'DROPPED' ? 'DENIED' : f.verdict === 'AUDIT' ? 'AUDITED' : f.verdict;
}

function lostLine(r: Extract<FlowRecord, { lost_events: unknown }>): string {
  const l = r.lost_events;
  return `${stampMilli(r.time)}: EVENTS LOST: ${l.source}${l.cpu ? ` CPU(${l.cpu.value})` : ''} ${l.num_events_lost}`;
}

/**
 * One line per record, as `hubble observe` (compact) prints it:
 * `TIME: SRC (ID) -> DST (ID) TYPE VERDICT (SUMMARY)`; a reply is shown
 * from its destination's side with `<-`, a flow of unknown direction with `<>`.
 */
export function formatCompact(r: FlowRecord): string {
  if ('lost_events' in r) return lostLine(r);
  const f = r.flow;
  let [src, dst] = hostNames(f);
  let [srcId, dstId] = [identityTag(f.source.identity), identityTag(f.destination.identity)];
  let arrow = '->';
  if (f.is_reply === undefined) arrow = '<>';
  else if (f.is_reply) {
    [src, dst, srcId, dstId] = [dst, src, dstId, srcId];
    arrow = '<-';
  }
  return `${stampMilli(f.time)}: ${src} ${srcId} ${arrow} ${dst} ${dstId} ${flowType(f)} ${verdictText(f)} (${f.Summary})`;
}

export const TABLE_HEADERS = ['timestamp', 'source', 'destination', 'type', 'verdict', 'summary'];

export function tableRow(r: FlowRecord): string[] {
  if ('lost_events' in r) return [stampMilli(r.time), '', '', 'EVENTS LOST', r.lost_events.source, `${r.lost_events.num_events_lost} events lost`];
  const f = r.flow;
  const [src, dst] = hostNames(f);
  return [stampMilli(f.time), src, dst, flowType(f), verdictText(f), f.Summary];
}

/** A table of the rows (hubble's -o table columns). */
export function formatTable(records: readonly FlowRecord[]): string {
  return table(TABLE_HEADERS, records.map(tableRow));
}

/** Streamed rows (follow): fixed widths, since later rows are not known yet. */
const STREAM_WIDTHS = [19, 32, 32, 22, 10];
export function streamTableLine(cells: readonly string[]): string {
  return cells.map((c, i) => (i < STREAM_WIDTHS.length ? c.padEnd(STREAM_WIDTHS[i]!) : c)).join('   ').trimEnd();
}

// --- the command ----------------------------------------------------------

/** Writes to stdout, waiting while the pipe is full; false once stdout is closed (e.g. `| head`). */
function out(text: string): Promise<boolean> {
  if (process.stdout.destroyed || !process.stdout.writable) return Promise.resolve(false);
  if (process.stdout.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      process.stdout.off('drain', onDrain);
      process.stdout.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    process.stdout.once('drain', onDrain);
    process.stdout.once('close', onClose);
  });
}

export const observeCommand: Command = {
  name: 'observe',
  summary: 'Show the flows of this node: forwarded, dropped and policy verdicts, live with -f',
  usage: 'membrane observe [-f] [--last N|--since DURATION|--all] [filters] [-o compact|json|table]',
  description: `
Prints flows from the agent's flow buffer (the last 20 by default), or keeps
printing new ones with -f, like 'hubble observe'. Flows are enriched with pods,
namespaces, labels, identities and services.

Filters: a flag given twice matches either value; different flags must all
match; --pod, --namespace, --label, --identity, --ip, --port and --service
match the source or the destination, their from-/to- forms only one side.

Output: compact (default) prints one line per flow:
  Nov 22 10:01:02.123: demo/frontend:41234 (ID:300) -> demo/backend-1:80 (ID:301) to-endpoint FORWARDED (TCP Flags: SYN)
  Nov 22 10:01:03.456: demo/backend-1:50122 (ID:301) -> demo/backend-2:8080 (ID:301) Policy denied DROPPED (TCP Flags: SYN)
replies are shown from the other side with '<-', flows of unknown direction
with '<>'; json prints one record per
line exactly as GET /v1/flows sends it (jq '.flow.source.pod_name'); table
aligns columns.

Examples:
  membrane observe                                  # the last 20 flows
  membrane observe -f --pod demo/frontend           # follow one pod's flows
  membrane observe --verdict DROPPED --last 100     # recent drops
  membrane observe --type drop --drop-reason POLICY_DENIED -n demo
  membrane observe --to-service demo/backend --protocol tcp --to-port 8080
  membrane observe --type trace:to-endpoint --from-label app=frontend
  membrane observe --since 5m -o json | jq -c '.flow | {src: .source.pod_name, dst: .destination.pod_name, verdict}'`,
  options: OBSERVE_OPTIONS,
  async run({ values }) {
    const fmt = observeFormat(values.output);
    const query = observeQuery(values);
    const client = agentClient(values);
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stdout.once('error', stop); // EPIPE: the reader went away
    const rows: FlowRecord[] = [];
    const follow = values.follow === true;
    let header = false;
    try {
      for await (const line of client.lines(`/v1/flows?${query.toString()}`, { signal: ac.signal })) {
        let text: string;
        if (fmt === 'json') text = line;
        else {
          const rec = JSON.parse(line) as FlowRecord;
          if (fmt === 'compact') text = formatCompact(rec);
          else if (!follow) {
            rows.push(rec);
            continue;
          } else {
            text = `${header ? '' : `${streamTableLine(TABLE_HEADERS.map((h) => h.toUpperCase()))}\n`}${streamTableLine(tableRow(rec))}`;
            header = true;
          }
        }
        if (!(await out(`${text}\n`))) break;
      }
    } catch (err) {
      throw flagError(err);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    if (fmt === 'table' && !follow) {
      if (rows.length === 0) process.stderr.write('No flows matched.\n');
      else await out(formatTable(rows));
    }
    return 0;
  },
};

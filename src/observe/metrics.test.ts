import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { MB_CT_DIR_FWD, MB_CT_DIR_REV, MB_DIR_EGRESS, MB_DIR_INGRESS, MB_DROP_POLICY, MB_METRIC_EVENT_LOST } from '../datapath/abi.ts';
import type { Agent } from '../agent/daemon.ts';
import { agentMetricsSource, LbTraffic, MAX_SERIES_PER_FAMILY, METRICS_CONTENT_TYPE, renderMetrics, startMetricsServer, type FlowCounts, type LabeledCounts, type LbConntrackEntry, type MetricsSource } from './metrics.ts';

const counts = <L extends string>(entries: Array<[Record<L, string>, number]>): LabeledCounts<L> => ({ entries: () => entries });

/** A fake agent: every value settable by the test. */
function fakeSource() {
  const state = {
    counters: [
      { reason: 0, dir: MB_DIR_EGRESS, packets: 40n, bytes: 4000n },
      { reason: MB_DROP_POLICY, dir: MB_DIR_INGRESS, packets: 3n, bytes: 180n },
      { reason: MB_DROP_POLICY, dir: MB_DIR_EGRESS, packets: 2n, bytes: 120n },
      { reason: 1, dir: MB_DIR_EGRESS, packets: 1n, bytes: 60n },
      { reason: MB_METRIC_EVENT_LOST, dir: 0, packets: 7n, bytes: 0n },
    ],
    ct: [] as LbConntrackEntry[],
    flows: {
      flows: counts([
        [{ type: 'Trace', subtype: 'to-endpoint', verdict: 'FORWARDED', protocol: 'TCP' }, 10],
        [{ type: 'Drop', subtype: '', verdict: 'DROPPED', protocol: 'TCP' }, 3],
      ]),
      policyVerdicts: counts([[{ direction: 'ingress', match: 'l3-l4', action: 'forwarded' }, 4]]),
      newConnections: counts([[{ namespace: 'demo', service: 'web', backend: '10.1.0.5:8080' }, 4]]),
      // The pipeline's own count of datapath losses is left out: mb_metrics has them all.
      lostEvents: counts([[{ source: 'HUBBLE_RING_BUFFER' }, 2], [{ source: 'PERF_EVENT_RING_BUFFER' }, 5]]),
    } as FlowCounts | undefined,
    fail: false,
  };
  const source: MetricsSource = {
    datapathCounters: () => {
      if (state.fail) throw new Error('map read failed');
      return state.counters;
    },
    mapFill: () => [
      { name: 'mb_ct4', entries: 25, maxEntries: 100 },
      { name: 'mb_policy', entries: 0, maxEntries: 1 << 20 },
    ],
    lbConntrack: () => state.ct,
    lbNames: () => ({
      service: (id) => (id === 1 ? { namespace: 'demo', name: 'web' } : undefined),
      backend: (id) => ({ 7: '10.1.0.5:8080', 8: '10.1.0.6:8080' } as Record<number, string>)[id],
    }),
    flowCounts: () => state.flows,
  };
  return { state, source };
}

/** `name{labels} value` lines of one scrape, as a map from `name{labels}` to the number. */
function parse(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

const ct = (id: string, dir: number, backendId: number, packets: bigint, bytes: bigint): LbConntrackEntry => ({ id, dir, revNatId: 1, backendId, packets, bytes });

test('datapath counters: drops by reason and direction, forwarded by direction, lost events by source', async () => {
  const { source } = fakeSource();
  const m = parse(await renderMetrics(source));
  assert.equal(m.get('membrane_drop_count_total{reason="POLICY_DENIED",direction="INGRESS"}'), 3);
  assert.equal(m.get('membrane_drop_count_total{reason="POLICY_DENIED",direction="EGRESS"}'), 2);
  assert.equal(m.get('membrane_drop_bytes_total{reason="POLICY_DENIED",direction="INGRESS"}'), 180);
  assert.equal(m.get('membrane_drop_count_total{reason="INVALID_SOURCE_IP",direction="EGRESS"}'), 1);
  assert.equal(m.get('membrane_forward_count_total{direction="EGRESS"}'), 40);
  assert.equal(m.get('membrane_forward_bytes_total{direction="EGRESS"}'), 4000);
  assert.equal(m.get('membrane_lost_events_total{source="PERF_EVENT_RING_BUFFER"}'), 7);
  assert.equal(m.get('membrane_lost_events_total{source="HUBBLE_RING_BUFFER"}'), 2);
  assert.ok(![...m.keys()].some((k) => k.includes('reason="UNKNOWN_255"')), 'lost events are no drop reason');
});

test('flow counters, policy verdicts and service connections pass through with their labels', async () => {
  const { source, state } = fakeSource();
  let m = parse(await renderMetrics(source));
  assert.equal(m.get('membrane_flows_processed_total{type="Trace",subtype="to-endpoint",verdict="FORWARDED",protocol="TCP"}'), 10);
  assert.equal(m.get('membrane_flows_processed_total{type="Drop",subtype="",verdict="DROPPED",protocol="TCP"}'), 3);
  assert.equal(m.get('membrane_policy_verdicts_total{direction="ingress",match="l3-l4",action="forwarded"}'), 4);
  assert.equal(m.get('membrane_service_connections_total{namespace="demo",service="web",backend="10.1.0.5:8080"}'), 4);
  // Counts are the source's (absolute), not added up scrape after scrape.
  state.flows!.newConnections = counts([[{ namespace: 'demo', service: 'web', backend: '10.1.0.5:8080' }, 6]]);
  m = parse(await renderMetrics(source));
  assert.equal(m.get('membrane_service_connections_total{namespace="demo",service="web",backend="10.1.0.5:8080"}'), 6);
  // No pipeline: the families are there (HELP/TYPE), with no series.
  state.flows = undefined;
  const text = await renderMetrics(source);
  assert.match(text, /# TYPE membrane_flows_processed_total counter/);
  assert.ok(!/^membrane_flows_processed_total\{/m.test(text));
});

test('map fill: pressure 0..1, entries and capacity per map', async () => {
  const m = parse(await renderMetrics(fakeSource().source));
  assert.equal(m.get('membrane_bpf_map_pressure{map_name="mb_ct4"}'), 0.25);
  assert.equal(m.get('membrane_bpf_map_entries{map_name="mb_ct4"}'), 25);
  assert.equal(m.get('membrane_bpf_map_capacity{map_name="mb_ct4"}'), 100);
  assert.equal(m.get('membrane_bpf_map_pressure{map_name="mb_policy"}'), 0);
});

test('agent health: prom-client default metrics under membrane_agent_', async () => {
  const text = await renderMetrics(fakeSource().source);
  for (const name of ['membrane_agent_process_cpu_seconds_total', 'membrane_agent_process_resident_memory_bytes', 'membrane_agent_nodejs_eventloop_lag_seconds', 'membrane_agent_nodejs_heap_size_used_bytes']) {
    assert.match(text, new RegExp(`^${name} `, 'm'), name);
  }
  // Every sample line belongs to a membrane_ family.
  for (const line of text.split('\n')) if (line && !line.startsWith('#')) assert.match(line, /^membrane_/);
});

test('per-packet LB traffic: counters from conntrack entries that come and go', async () => {
  const { source, state } = fakeSource();
  const key = (dir: string) => `membrane_service_lb_packets_total{namespace="demo",service="web",backend="10.1.0.5:8080",direction="${dir}"}`;
  state.ct = [ct('a', MB_CT_DIR_FWD, 7, 5n, 500n), ct('a', MB_CT_DIR_REV, 7, 4n, 800n)];
  let m = parse(await renderMetrics(source));
  assert.equal(m.get(key('original')), 5);
  assert.equal(m.get(key('reply')), 4);
  assert.equal(m.get('membrane_service_lb_bytes_total{namespace="demo",service="web",backend="10.1.0.5:8080",direction="reply"}'), 800);
  // The connection grows; a second one starts.
  state.ct = [ct('a', MB_CT_DIR_FWD, 7, 8n, 800n), ct('a', MB_CT_DIR_REV, 7, 6n, 1200n), ct('b', MB_CT_DIR_FWD, 7, 1n, 60n)];
  m = parse(await renderMetrics(source));
  assert.equal(m.get(key('original')), 9);
  assert.equal(m.get(key('reply')), 6);
  // Both gone (evicted): the counters stay; a new connection on tuple a starts from its own count.
  state.ct = [];
  m = parse(await renderMetrics(source));
  assert.equal(m.get(key('original')), 9);
  state.ct = [ct('a', MB_CT_DIR_FWD, 7, 2n, 120n), ct('c', MB_CT_DIR_FWD, 8, 3n, 180n), { ...ct('d', MB_CT_DIR_FWD, 99, 1n, 60n), revNatId: 42 }];
  m = parse(await renderMetrics(source));
  assert.equal(m.get(key('original')), 11);
  assert.equal(m.get('membrane_service_lb_packets_total{namespace="demo",service="web",backend="10.1.0.6:8080",direction="original"}'), 3);
  assert.equal(m.get('membrane_service_lb_packets_total{namespace="",service="unknown",backend="unknown",direction="original"}'), 1, 'ids no longer programmed');
});

test('an entry whose count went down is a new connection on the same tuple', () => {
  const lb = new LbTraffic();
  const names = { service: () => ({ namespace: 'n', name: 's' }), backend: () => 'b' };
  lb.update([ct('a', MB_CT_DIR_FWD, 1, 10n, 100n)], names);
  lb.update([ct('a', MB_CT_DIR_FWD, 1, 3n, 30n)], names);
  assert.equal([...lb.packets.values()][0]!.value, 13);
  lb.update([ct('a', MB_CT_DIR_FWD, 2, 5n, 50n)], names);
  assert.equal([...lb.packets.values()][0]!.value, 18, 'another backend: another connection');
});

test('label cardinality is bounded: label sets beyond the cap fold into _other', async () => {
  const { source, state } = fakeSource();
  state.flows!.newConnections = counts(Array.from({ length: MAX_SERIES_PER_FAMILY + 50 }, (_, i) => [{ namespace: 'ns', service: `s${i}`, backend: '10.0.0.1:80' }, 1]));
  const m = parse(await renderMetrics(source));
  const series = [...m.keys()].filter((k) => k.startsWith('membrane_service_connections_total{'));
  assert.equal(series.length, MAX_SERIES_PER_FAMILY + 1);
  assert.equal(m.get('membrane_service_connections_total{namespace="_other",service="_other",backend="_other"}'), 50);
});

async function get(url: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http.request(url, { method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    }).on('error', reject).end();
  });
}

test('the HTTP server: GET /metrics on the bound port, 404 elsewhere, 500 with the reason when the source fails', async () => {
  const { source, state } = fakeSource();
  const srv = await startMetricsServer(source, '127.0.0.1:0');
  try {
    assert.match(srv.address, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(srv.address, '127.0.0.1:0');
    const ok = await get(`http://${srv.address}/metrics`);
    assert.equal(ok.status, 200);
    assert.equal(ok.type, METRICS_CONTENT_TYPE);
    assert.match(ok.body, /^membrane_drop_count_total\{reason="POLICY_DENIED",direction="INGRESS"\} 3$/m);
    assert.equal((await get(`http://${srv.address}/`)).status, 404);
    assert.equal((await get(`http://${srv.address}/metrics`, 'POST')).status, 404);
    state.fail = true;
    const bad = await get(`http://${srv.address}/metrics`);
    assert.equal(bad.status, 500);
    assert.match(bad.body, /map read failed/);
  } finally {
    await srv.close();
  }
  await assert.rejects(startMetricsServer(source, 'nonsense'), /not HOST:PORT/);
});

// The agent fits what agentMetricsSource reads (a compile-time check).
export const agentFits: (a: Agent) => MetricsSource = agentMetricsSource;

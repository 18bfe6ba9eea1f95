// Membrane UI: the flow table (api/flows, NDJSON, follow) and the service map
// (api/servicemap, polled), both narrowed by one filter bar that takes the
// `membrane observe` flags. Plain JS, no build step; every URL is relative so
// the page works on its own port and under /ui/ on the agent's socket.
'use strict';

const MAX_ROWS = 500; // rows kept in the table
const INITIAL_LAST = 200; // buffered flows shown on (re)connect
const MAP_REFRESH_MS = 1500;
const RECONNECT_MS = 2000;
const SVG_NS = 'http://www.w3.org/2000/svg';
const SHORT_FLAGS = { n: 'namespace', l: 'label' };
const BOOLEAN_FLAGS = new Set(['is-reply', 'all']);
/** Parameters the page sets itself. */
const PAGE_PARAMS = new Set(['follow']);

const $ = (id) => document.getElementById(id);

const state = {
  /** Filters from the bar (URLSearchParams). */
  filters: new URLSearchParams(),
  paused: false,
  /** AbortController of the running stream. */
  stream: null,
  counts: { FORWARDED: 0, DROPPED: 0, AUDIT: 0 },
  rows: 0,
  /** Records waiting for the next frame, and its request id. */
  pending: [],
  frame: 0,
  nodeName: '',
  mapKey: '',
  mapTimer: 0,
};

// ---------------------------------------------------------------- filters

/** Splits the bar's text into words; "double quotes" keep spaces. */
function words(text) {
  const out = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m;
  while ((m = re.exec(text)) !== null) out.push(m[1] !== undefined ? m[1] : m[2]);
  return out;
}

/**
 * The bar's text → query parameters. Accepts `--pod demo/web`, `--pod=demo/web`,
 * `-n demo`, and `pod=demo/web`; names are the CLI's long flags.
 */
function parseFilterText(text) {
  const params = new URLSearchParams();
  const ws = words(text);
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i];
    let name;
    let value;
    if (w.startsWith('--') || /^-[a-z]$/.test(w) || /^-[a-z]=/.test(w)) {
      const body = w.startsWith('--') ? w.slice(2) : w.slice(1);
      const eq = body.indexOf('=');
      name = eq >= 0 ? body.slice(0, eq) : body;
      if (w[1] !== '-') name = SHORT_FLAGS[name] || name;
      if (eq >= 0) value = body.slice(eq + 1);
      else if (i + 1 < ws.length && !ws[i + 1].startsWith('-')) value = ws[++i];
      else if (BOOLEAN_FLAGS.has(name)) value = 'true';
      else throw new Error(`--${name} needs a value`);
    } else {
      const eq = w.indexOf('=');
      if (eq <= 0) throw new Error(`'${w}' is not a filter: write NAME=VALUE or --NAME VALUE (e.g. verdict=DROPPED)`);
      name = w.slice(0, eq);
      value = w.slice(eq + 1);
    }
    if (!name) throw new Error(`'${w}' has no filter name`);
    if (PAGE_PARAMS.has(name)) continue;
    params.append(name, value);
  }
  return params;
}

function showFilterError(message) {
  const el = $('filter-error');
  el.textContent = message || '';
  el.hidden = !message;
  $('filter-input').setAttribute('aria-invalid', message ? 'true' : 'false');
}

function applyFilterText(text) {
  let params;
  try {
    params = parseFilterText(text);
  } catch (err) {
    showFilterError(err.message);
    return;
  }
  showFilterError('');
  state.filters = params;
  const hash = text.trim() ? `#filter=${encodeURIComponent(text.trim())}` : '';
  history.replaceState(null, '', hash || location.pathname + location.search);
  syncVerdictButtons();
  restart();
}

function syncVerdictButtons() {
  const verdicts = state.filters.getAll('verdict').map((v) => v.toUpperCase());
  for (const b of document.querySelectorAll('.quick button')) {
    const v = b.dataset.verdict;
    const pressed = v === '' ? verdicts.length === 0 : verdicts.length === 1 && verdicts[0] === v;
    b.setAttribute('aria-pressed', String(pressed));
  }
}

/** Replaces the verdict words of the bar with one (or none). */
function setVerdict(verdict) {
  const input = $('filter-input');
  const ws = words(input.value);
  const kept = [];
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i];
    if (w === '--verdict') {
      i++;
      continue;
    }
    if (w.startsWith('--verdict=') || w.startsWith('verdict=')) continue;
    kept.push(/\s/.test(w) ? `"${w}"` : w);
  }
  if (verdict) kept.push(`verdict=${verdict}`);
  input.value = kept.join(' ');
  applyFilterText(input.value);
}

/** Query string of the stream: the filters, the last flows unless the filters bound them, follow. */
function flowQuery() {
  const p = new URLSearchParams(state.filters);
  if (!p.has('last') && !p.has('since') && !p.has('all')) p.set('last', String(INITIAL_LAST));
  p.set('follow', 'true');
  return p.toString();
}

// ---------------------------------------------------------------- live state

function setLive(s, text) {
  $('live-state').dataset.state = s;
  $('live-text').textContent = text || { live: 'live', paused: 'paused', error: 'error', connecting: 'connecting…' }[s];
}

function restart() {
  if (state.stream) state.stream.abort();
  state.stream = null;
  clearTable();
  refreshMap(true);
  if (!state.paused) void runStream();
}

async function runStream() {
  const ctl = new AbortController();
  state.stream = ctl;
  setLive('connecting');
  let retry = true;
  try {
    const resp = await fetch(`api/flows?${flowQuery()}`, { signal: ctl.signal, headers: { accept: 'application/x-ndjson' } });
    if (!resp.ok) {
      const body = await resp.json().catch(() => null);
      const message = (body && body.error && body.error.message) || `${resp.status} ${resp.statusText}`;
      if (resp.status === 400) {
        showFilterError(message);
        retry = false;
      }
      setLive('error', message);
      return;
    }
    setLive('live');
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      const batch = [];
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line) batch.push(JSON.parse(line));
      }
      if (batch.length > 0 && state.stream === ctl) queueRecords(batch);
    }
  } catch (err) {
    if (ctl.signal.aborted) return;
    setLive('error', `stream failed: ${err.message}`);
  } finally {
    if (!ctl.signal.aborted && state.stream === ctl && retry && !state.paused) {
      setLive('connecting', 'reconnecting…');
      setTimeout(() => {
        if (state.stream === ctl && !state.paused) restart();
      }, RECONNECT_MS);
    }
  }
}

// ---------------------------------------------------------------- flow table

function reservedName(ep) {
  const l = (ep.labels || []).find((x) => x.startsWith('reserved:'));
  return l ? l.slice('reserved:'.length) : undefined;
}

/** `demo/frontend`, `world`, or the address. */
function endpointName(ep, ip) {
  if (ep.pod_name) return ep.namespace ? `${ep.namespace}/${ep.pod_name}` : ep.pod_name;
  return reservedName(ep) || ip;
}

function ports(flow) {
  const l4 = flow.l4 || {};
  for (const proto of ['TCP', 'UDP', 'SCTP']) {
    if (l4[proto]) return { proto, sport: l4[proto].source_port, dport: l4[proto].destination_port };
  }
  if (l4.ICMPv4) return { proto: 'ICMPv4' };
  return { proto: '' };
}

const POINTS = {
  FROM_ENDPOINT: 'from-endpoint', TO_ENDPOINT: 'to-endpoint', TO_STACK: 'to-stack', FROM_NETWORK: 'from-network', TO_NETWORK: 'to-network',
};

function typeText(flow) {
  const t = flow.event_type && flow.event_type.type;
  let s;
  if (t === 1) s = 'drop';
  else if (t === 4) s = `trace · ${POINTS[flow.trace_observation_point] || 'unknown'}`;
  else if (t === 5) s = `policy-verdict · ${(flow.traffic_direction || '').toLowerCase()}`;
  else s = `type ${t}`;
  return flow.is_reply === true ? `${s} · reply` : s;
}

function timeText(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'title' || k === 'role' || k === 'tabindex') e.setAttribute(k, String(v));
    else e[k] = v;
  }
  for (const c of children) if (c !== undefined && c !== null) e.append(c);
  return e;
}

function endpointCell(ep, ip, port, service) {
  const meta = [port !== undefined ? `${ip}:${port}` : ip];
  if (ep.identity !== undefined) meta.push(`ID:${ep.identity}`);
  return el('td', { class: 'ep' },
    endpointName(ep, ip),
    el('span', { class: 'ip' }, meta.join(' ')),
    service ? el('span', { class: 'ip' }, `service ${service.namespace}/${service.name}`) : undefined);
}

function flowRow(rec) {
  if (rec.lost_events) {
    const le = rec.lost_events;
    return el('tr', { class: 'lost', 'data-testid': 'flow-row', 'data-verdict': 'LOST' },
      el('td', { class: 'time', title: rec.time }, timeText(rec.time)),
      el('td', { colSpan: 7 }, `${le.num_events_lost} events lost (${le.source})`));
  }
  const f = rec.flow;
  const p = ports(f);
  const src = endpointName(f.source, f.IP.source);
  const dst = endpointName(f.destination, f.IP.destination);
  const row = el('tr', {
    class: 'new', tabindex: 0, 'data-testid': 'flow-row', 'data-verdict': f.verdict, 'data-source': src, 'data-destination': dst,
    'data-type': (f.event_type && f.event_type.type) || '', 'aria-expanded': 'false',
  },
  el('td', { class: 'time', title: f.time }, timeText(f.time)),
  endpointCell(f.source, f.IP.source, p.sport, f.source_service),
  endpointCell(f.destination, f.IP.destination, p.dport, f.destination_service),
  el('td', { class: 'mono' }, p.dport !== undefined ? `${p.dport}/${p.proto}` : p.proto),
  el('td', {}, typeText(f)),
  el('td', {}, el('span', { class: `badge ${f.verdict}` }, f.verdict)),
  el('td', { class: 'mono' }, f.drop_reason_desc || ''),
  el('td', {}, f.Summary || ''));
  row._record = rec;
  return row;
}

function toggleDetail(row) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains('detail')) {
    next.remove();
    row.setAttribute('aria-expanded', 'false');
    return;
  }
  const pre = el('pre', {}, JSON.stringify(row._record, null, 2));
  row.after(el('tr', { class: 'detail' }, el('td', { colSpan: 8 }, pre)));
  row.setAttribute('aria-expanded', 'true');
}

function clearTable() {
  $('flow-rows').replaceChildren();
  state.counts = { FORWARDED: 0, DROPPED: 0, AUDIT: 0 };
  state.rows = 0;
  state.pending = [];
  updateCounts();
}

/**
 * Records wait for the next animation frame and go into the table together:
 * a busy node costs one table update per frame, and a hidden tab (no frames)
 * keeps only the newest MAX_ROWS waiting.
 */
function queueRecords(records) {
  for (const rec of records) {
    if (rec.flow && rec.flow.verdict in state.counts) state.counts[rec.flow.verdict]++;
    if (rec.node_name) state.nodeName = rec.node_name;
  }
  state.pending.push(...records);
  if (state.pending.length > MAX_ROWS) state.pending.splice(0, state.pending.length - MAX_ROWS);
  if (!state.frame) state.frame = requestAnimationFrame(flushRecords);
}

function flushRecords() {
  state.frame = 0;
  const records = state.pending;
  state.pending = [];
  if (state.nodeName) $('node-name').textContent = state.nodeName;
  const body = $('flow-rows');
  const frag = document.createDocumentFragment();
  for (let i = records.length - 1; i >= 0; i--) frag.append(flowRow(records[i]));
  body.prepend(frag);
  state.rows += records.length;
  while (state.rows > MAX_ROWS && body.lastElementChild) {
    const last = body.lastElementChild;
    if (!last.classList.contains('detail')) state.rows--;
    last.remove();
  }
  updateCounts();
}

function updateCounts() {
  $('count-forwarded').textContent = String(state.counts.FORWARDED);
  $('count-dropped').textContent = String(state.counts.DROPPED);
  $('count-audit').textContent = String(state.counts.AUDIT);
  $('flow-count').textContent = `${state.rows} flow${state.rows === 1 ? '' : 's'}${state.rows >= MAX_ROWS ? ' (newest kept)' : ''}`;
}

// ---------------------------------------------------------------- service map

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null) e.append(c);
  return e;
}

const NODE_W = 180;
const NODE_H = 48;
const COL_GAP = 170;
const ROW_GAP = 36;
const MARGIN = 40;
const MARGIN_TOP = 80; // room for self loops above the top row

/** Columns by longest path from the sources (cycles broken by a DFS), rows ordered by their predecessors. */
function layout(map) {
  const ids = map.nodes.map((n) => n.id);
  const out = new Map(ids.map((id) => [id, []]));
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const e of map.edges) {
    if (e.source === e.destination) continue;
    out.get(e.source).push(e.destination);
    indeg.set(e.destination, indeg.get(e.destination) + 1);
  }
  const back = new Set();
  const mark = new Map();
  const visit = (u) => {
    mark.set(u, 1);
    for (const v of out.get(u)) {
      if (mark.get(v) === 1) back.add(`${u}\n${v}`);
      else if (!mark.get(v)) visit(v);
    }
    mark.set(u, 2);
  };
  for (const id of [...ids].sort((a, b) => indeg.get(a) - indeg.get(b) || (a < b ? -1 : 1))) if (!mark.get(id)) visit(id);
  const rank = new Map(ids.map((id) => [id, 0]));
  for (let round = 0; round < ids.length; round++) {
    let changed = false;
    for (const [u, vs] of out) {
      for (const v of vs) {
        if (back.has(`${u}\n${v}`)) continue;
        if (rank.get(u) + 1 > rank.get(v)) {
          rank.set(v, rank.get(u) + 1);
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  // A node nobody talks to sits just left of the nearest node it talks to
  // (its edges then do not cross other columns).
  for (const id of ids) {
    if (indeg.get(id) > 0 || out.get(id).length === 0) continue;
    const next = Math.min(...out.get(id).filter((v) => !back.has(`${id}\n${v}`)).map((v) => rank.get(v)));
    if (Number.isFinite(next) && next > 0) rank.set(id, next - 1);
  }
  const columns = [];
  for (const id of ids) (columns[rank.get(id)] ||= []).push(id);
  const row = new Map();
  const preds = new Map(ids.map((id) => [id, []]));
  for (const [u, vs] of out) for (const v of vs) preds.get(v).push(u);
  columns.forEach((col, c) => {
    const key = (id) => {
      const ps = preds.get(id).filter((p) => row.has(p));
      return ps.length ? ps.reduce((s, p) => s + row.get(p), 0) / ps.length : Number.MAX_SAFE_INTEGER;
    };
    if (c > 0) col.sort((a, b) => key(a) - key(b) || (a < b ? -1 : 1));
    col.forEach((id, i) => row.set(id, i));
  });
  const tallest = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  const height = MARGIN + MARGIN_TOP + tallest * NODE_H + (tallest - 1) * ROW_GAP;
  const pos = new Map();
  columns.forEach((col, c) => {
    if (!col) return;
    const colHeight = col.length * NODE_H + (col.length - 1) * ROW_GAP;
    const top = MARGIN_TOP + (height - MARGIN_TOP - MARGIN - colHeight) / 2;
    col.forEach((id, i) => pos.set(id, { x: MARGIN + c * (NODE_W + COL_GAP), y: top + i * (NODE_H + ROW_GAP), col: c }));
  });
  const width = MARGIN * 2 + columns.length * NODE_W + (columns.length - 1) * COL_GAP;
  return { pos, width: Math.max(width, 400), height: Math.max(height, 160) };
}

const VERDICTS = [['forwarded', 'FORWARDED'], ['dropped', 'DROPPED'], ['audit', 'AUDIT']];

function strokeWidth(count) {
  return Math.min(12, 1.5 + 1.6 * Math.log2(1 + count));
}

function bezierAt(p, t) {
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const c = 3 * u * t * t;
  const d = t * t * t;
  return { x: a * p[0].x + b * p[1].x + c * p[2].x + d * p[3].x, y: a * p[0].y + b * p[1].y + c * p[2].y + d * p[3].y };
}

/** The four control points of an edge from a to b (node boxes), shifted sideways by `off`. */
function edgeCurve(a, b, off, self) {
  let p;
  if (self) {
    const lift = 46 + Math.abs(off) * 1.5;
    const x1 = a.x + NODE_W * 0.7;
    const x2 = a.x + NODE_W * 0.3;
    p = [{ x: x1, y: a.y }, { x: x1 + 18, y: a.y - lift }, { x: x2 - 18, y: a.y - lift }, { x: x2, y: a.y }];
    return p;
  }
  if (b.col > a.col) {
    const s = { x: a.x + NODE_W, y: a.y + NODE_H / 2 };
    const e = { x: b.x - 4, y: b.y + NODE_H / 2 };
    const dx = (e.x - s.x) / 2;
    p = [s, { x: s.x + dx, y: s.y }, { x: e.x - dx, y: e.y }, e];
  } else if (b.col < a.col) {
    const s = { x: a.x, y: a.y + NODE_H / 2 };
    const e = { x: b.x + NODE_W + 4, y: b.y + NODE_H / 2 };
    const dx = (s.x - e.x) / 2;
    p = [s, { x: s.x - dx, y: s.y + 50 }, { x: e.x + dx, y: e.y + 50 }, e];
  } else {
    const s = { x: a.x, y: a.y + NODE_H / 2 };
    const e = { x: b.x - 4, y: b.y + NODE_H / 2 };
    const bulge = 60 + Math.abs(s.y - e.y) * 0.15;
    p = [s, { x: s.x - bulge, y: s.y }, { x: e.x - bulge, y: e.y }, e];
  }
  // shift perpendicular to the chord
  const cx = p[3].x - p[0].x;
  const cy = p[3].y - p[0].y;
  const len = Math.hypot(cx, cy) || 1;
  const nx = -cy / len;
  const ny = cx / len;
  return p.map((q) => ({ x: q.x + nx * off, y: q.y + ny * off }));
}

const pathOf = (p) => `M${p[0].x.toFixed(1)},${p[0].y.toFixed(1)} C${p[1].x.toFixed(1)},${p[1].y.toFixed(1)} ${p[2].x.toFixed(1)},${p[2].y.toFixed(1)} ${p[3].x.toFixed(1)},${p[3].y.toFixed(1)}`;

function portText(e) {
  return e.port !== undefined ? `${e.port}/${e.protocol}` : e.protocol;
}

function edgeLabel(e, nodes) {
  const parts = VERDICTS.filter(([k]) => e[k] > 0).map(([k]) => `${e[k]} ${k}`);
  const reasons = Object.entries(e.dropReasons).map(([r, n]) => `${r} ${n}`).join(', ');
  return `${nodes.get(e.source).label} to ${nodes.get(e.destination).label}, ${portText(e)}${e.service ? `, service ${e.service}` : ''}: ${parts.join(', ')}${reasons ? ` (drops: ${reasons})` : ''}`;
}

function truncate(s, n) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** A filter for the flows of one side of the map ('' | 'from-' | 'to-'). */
function nodeFilter(node, side) {
  if (node.pods.length > 0) return node.pods.map((p) => `${side}pod=${p}`);
  if (node.kind === 'reserved' && node.identities.length > 0) return node.identities.map((i) => `${side}identity=${i}`);
  if (node.kind === 'ip') return [`${side}ip=${node.label}`];
  return [];
}

function focusFilter(words) {
  if (words.length === 0) return;
  $('filter-input').value = words.join(' ');
  applyFilterText(words.join(' '));
}

function renderMap(map) {
  const root = $('map');
  $('map-empty').hidden = map.nodes.length > 0;
  const nodes = new Map(map.nodes.map((n) => [n.id, n]));
  const { pos, width, height } = layout(map);
  root.setAttribute('viewBox', `0 0 ${width} ${height}`);
  root.setAttribute('height', String(height));
  const defs = svg('defs', {}, ...VERDICTS.map(([k]) =>
    svg('marker', { id: `arrow-${k}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' },
      svg('path', { d: 'M0,0 L10,5 L0,10 z', class: `marker-${k}` }))));
  const edgeLayer = svg('g', { class: 'edges-layer' });
  // Edges of the same pair of nodes (ports) share the space between them: lanes.
  const byPair = new Map();
  for (const e of map.edges) {
    const key = [e.source, e.destination].sort().join('\n');
    if (!byPair.has(key)) byPair.set(key, []);
    byPair.get(key).push(e);
  }
  for (const group of byPair.values()) {
    const lanes = [];
    for (const e of group) for (const [k] of VERDICTS) if (e[k] > 0) lanes.push({ e, k, w: strokeWidth(e[k]) });
    const unjudged = group.filter((e) => VERDICTS.every(([k]) => e[k] === 0));
    for (const e of unjudged) lanes.push({ e, k: 'forwarded', w: strokeWidth(e.flows) });
    const gap = 3;
    const total = lanes.reduce((s, l) => s + l.w, 0) + gap * (lanes.length - 1);
    let off = -total / 2;
    const laneOf = new Map();
    for (const l of lanes) {
      l.off = off + l.w / 2;
      off += l.w + gap;
      if (!laneOf.has(l.e)) laneOf.set(l.e, []);
      laneOf.get(l.e).push(l);
    }
    group.forEach((e, gi) => {
      const a = pos.get(e.source);
      const b = pos.get(e.destination);
      const self = e.source === e.destination;
      const g = svg('g', {
        class: 'map-edge', tabindex: 0, role: 'img', 'data-testid': 'map-edge',
        'data-source': e.source, 'data-destination': e.destination, 'data-port': e.port !== undefined ? e.port : '',
        'data-protocol': e.protocol, 'data-flows': e.flows, 'data-forwarded': e.forwarded, 'data-dropped': e.dropped, 'data-audit': e.audit,
        'data-service': e.service || '', 'aria-label': edgeLabel(e, nodes),
      }, svg('title', {}, edgeLabel(e, nodes)));
      const mine = laneOf.get(e) || [];
      for (const l of mine) {
        g.append(svg('path', { d: pathOf(edgeCurve(a, b, l.off, self)), class: l.k, 'stroke-width': l.w.toFixed(1), 'marker-end': `url(#arrow-${l.k})` }));
      }
      // labels: beside the edge's own lanes, spread along the curve when several ports share the pair
      const top = mine.length ? Math.min(...mine.map((l) => l.off - l.w / 2)) : 0;
      const bottom = mine.length ? Math.max(...mine.map((l) => l.off + l.w / 2)) : 0;
      const t = self ? 0.5 : (gi + 1) / (group.length + 1);
      const above = bezierAt(edgeCurve(a, b, top, self), t);
      const below = bezierAt(edgeCurve(a, b, bottom, self), t);
      const portY = self ? above.y - 22 : Math.min(above.y, below.y) - 6;
      const dropY = self ? above.y - 8 : Math.max(above.y, below.y) + 14;
      g.append(svg('text', { x: above.x, y: portY, 'text-anchor': 'middle', class: 'port' }, `${portText(e)}${e.service ? ` · ${e.service}` : ''} · ${e.flows}`));
      if (e.dropped > 0) {
        g.append(svg('text', { x: below.x, y: dropY, 'text-anchor': 'middle', class: 'drops', 'data-testid': 'edge-drops' }, `✕ ${e.dropped} dropped`));
      }
      g.addEventListener('click', () => focusFilter([...nodeFilter(nodes.get(e.source), 'from-'), ...nodeFilter(nodes.get(e.destination), 'to-'),
        ...(e.port !== undefined ? [`to-port=${e.port}`] : [])]));
      g.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') g.dispatchEvent(new Event('click'));
      });
      edgeLayer.append(g);
    });
  }
  const nodeLayer = svg('g', { class: 'nodes-layer' });
  for (const n of map.nodes) {
    const p = pos.get(n.id);
    const meta = n.kind === 'reserved' ? 'reserved identity'
      : n.pods.length > 0 ? `${n.pods.length} pod${n.pods.length === 1 ? '' : 's'}${n.identities.length ? ` · ID ${n.identities.join(', ')}` : ''}`
        : n.kind;
    const g = svg('g', {
      class: `map-node kind-${n.kind}`, transform: `translate(${p.x},${p.y})`, tabindex: 0, role: 'img',
      'data-testid': 'map-node', 'data-id': n.id, 'data-kind': n.kind, 'aria-label': `${n.kind} ${n.label}: ${meta}`,
    },
    svg('title', {}, `${n.label}${n.pods.length ? `\n${n.pods.join('\n')}` : ''}`),
    svg('rect', { width: NODE_W, height: NODE_H, rx: 9 }),
    svg('circle', { class: 'kind-dot', cx: 16, cy: NODE_H / 2, r: 5 }),
    svg('text', { x: 30, y: 20, class: 'name' }, truncate(n.label, 22)),
    svg('text', { x: 30, y: 36, class: 'meta' }, truncate(meta, 28)));
    g.addEventListener('click', () => focusFilter(nodeFilter(n, '')));
    g.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') g.dispatchEvent(new Event('click'));
    });
    nodeLayer.append(g);
  }
  root.replaceChildren(defs, edgeLayer, nodeLayer);
  renderEdgeTable(map, nodes);
}

function renderEdgeTable(map, nodes) {
  const rows = map.edges.map((e) => el('tr', { 'data-testid': 'edge-row' },
    el('td', {}, nodes.get(e.source).label),
    el('td', {}, nodes.get(e.destination).label),
    el('td', { class: 'mono' }, portText(e)),
    el('td', {}, e.service || ''),
    el('td', { class: 'num' }, String(e.forwarded)),
    el('td', { class: 'num' }, String(e.dropped)),
    el('td', { class: 'num' }, String(e.audit)),
    el('td', { class: 'mono' }, Object.entries(e.dropReasons).map(([r, n]) => `${r} ${n}`).join(', '))));
  $('edge-rows').replaceChildren(...rows);
}

async function refreshMap(force) {
  clearTimeout(state.mapTimer);
  const filters = new URLSearchParams(state.filters);
  try {
    const resp = await fetch(`api/servicemap?${filters}`);
    const body = await resp.json();
    if (!resp.ok) {
      if (resp.status === 400) showFilterError(body.error.message);
    } else {
      if (body.node_name) $('node-name').textContent = body.node_name;
      const key = JSON.stringify([body.nodes, body.edges]);
      if (force || key !== state.mapKey) {
        state.mapKey = key;
        renderMap(body);
      }
    }
  } catch {
    // the stream's state says it; try again on the next tick
  } finally {
    if (!state.paused) state.mapTimer = setTimeout(() => refreshMap(false), MAP_REFRESH_MS);
  }
}

// ---------------------------------------------------------------- wiring

function init() {
  const fromHash = /^#filter=(.*)$/.exec(location.hash);
  const input = $('filter-input');
  if (fromHash) input.value = decodeURIComponent(fromHash[1]);
  $('filter-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    applyFilterText(input.value);
  });
  $('filter-clear').addEventListener('click', () => {
    input.value = '';
    applyFilterText('');
  });
  for (const b of document.querySelectorAll('.quick button')) b.addEventListener('click', () => setVerdict(b.dataset.verdict));
  $('pause').addEventListener('click', () => {
    state.paused = !state.paused;
    $('pause').setAttribute('aria-pressed', String(state.paused));
    $('pause').textContent = state.paused ? 'Resume' : 'Pause';
    if (state.paused) {
      if (state.stream) state.stream.abort();
      state.stream = null;
      clearTimeout(state.mapTimer);
      setLive('paused');
    } else {
      restart();
    }
  });
  $('flow-rows').addEventListener('click', (ev) => {
    const row = ev.target.closest('tr[data-testid="flow-row"]');
    if (row && row._record) toggleDetail(row);
  });
  $('flow-rows').addEventListener('keydown', (ev) => {
    const row = ev.target.closest('tr[data-testid="flow-row"]');
    if (row && row._record && (ev.key === 'Enter' || ev.key === ' ')) {
      ev.preventDefault();
      toggleDetail(row);
    }
  });
  fetch('api/info').then((r) => r.json()).then((info) => {
    if (info.node_name) $('node-name').textContent = info.node_name;
  }).catch(() => undefined);
  applyFilterText(input.value);
}

document.addEventListener('DOMContentLoaded', init);

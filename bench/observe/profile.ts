// Where the agent's time goes while it takes events: `perf record` of the
// agent's threads (Node started with --perf-basic-prof, so JavaScript
// functions have names), reported with `perf report --no-children`
// (self time). Pure: parses the report text.

export interface ProfileEntry {
  name: string;
  /** Share of the agent's samples, %. */
  pct: number;
}

export interface ProfileSummary {
  samples: number;
  /** The samples grouped by what the code is (CATEGORIES), largest first. */
  categories: ProfileEntry[];
  /** By shared object: node itself, the kernel, libbpf, koffi, JIT code (perf-PID.map)... */
  dsos: ProfileEntry[];
  symbols: ProfileEntry[];
}

/**
 * Lines of `perf report --stdio --no-children -g none --sort KEY`:
 * `    12.34%  name` (dso) or `    12.34%  [.] symbol` / `[k] symbol`.
 */
export function parsePerfReport(text: string, top = 20): ProfileEntry[] {
  const out: ProfileEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^\s*([\d.]+)%\s+(.*\S)\s*$/.exec(line);
    if (!m) continue;
    out.push({ pct: Number(m[1]), name: shorten(m[2]!) });
    if (out.length >= top) break;
  }
  return out;
}

/** What a symbol is (first match wins), for the summary by category. */
export const CATEGORIES: ReadonlyArray<readonly [string, RegExp]> = [
  ['V8 garbage collection', /Scaveng|v8::internal::(MarkCompact|ConcurrentMarking|MarkingVisitor|MarkingBarrier|Heap::|Sweeper|ArrayBufferSweeper|EvacuateVisitor|Evacuat|MemoryAllocator|PagedSpace|MinorMarkSweep|IncrementalMarking|GlobalHandles)|Builtins_RecordWrite/],
  ['JavaScript (JIT-compiled Membrane and library code)', /\[JIT\]|JS:/],
  ['per-record FFI callback and Buffer (napi, ArrayBuffer, handles)', /napi_|node::Buffer|ArrayBuffer|TypedArray|Function::Call|Execution::Call|HandleScope|EmbedderData|SetPrivate|koffi/],
  ['V8 string runtime (hashing, flattening, compares)', /v8::internal::(String::|Runtime_String|CopyChars)|StringTable/],
  ['V8 builtins (strings, maps, number formatting, calls)', /Builtins_/],
  ['malloc / free (libc)', /libc\.so.*(malloc|free|_int_|cfree|tcache)/],
  ['kernel', /\[kernel/],
  ['libbpf (ring buffer read)', /libbpf/],
  ['other V8 / Node runtime', /node \[|libstdc\+\+|libc\.so/],
];

export function categorize(entries: readonly ProfileEntry[]): ProfileEntry[] {
  const sums = new Map<string, number>();
  for (const e of entries) {
    const c = CATEGORIES.find(([, re]) => re.test(e.name))?.[0] ?? 'other';
    sums.set(c, (sums.get(c) ?? 0) + e.pct);
  }
  return [...sums.entries()].sort((a, b) => b[1] - a[1]).map(([name, pct]) => ({ name, pct }));
}

/** "[JIT] tid N" / perf-PID.map → "[JIT]"; JS names keep their file:line, shortened to the repo path. */
function shorten(s: string): string {
  return s
    .replace(/perf-\d+\.map|\[JIT\] tid \d+/, '[JIT]')
    .replace(/file:\/\/\/\S*?\/(dist|src|node_modules)\//g, '$1/')
    .replace(/\s+/g, ' ');
}

/** `# Samples: 12K of event 'cpu-clock'` (or `cycles`) → the count. */
export function perfSamples(text: string): number {
  const m = /^# Samples: ([\d.]+)([KM]?)/m.exec(text);
  if (!m) return 0;
  return Math.round(Number(m[1]) * (m[2] === 'K' ? 1e3 : m[2] === 'M' ? 1e6 : 1));
}

export function profileMarkdown(s: ProfileSummary): string {
  const t = (rows: ProfileEntry[], what: string) =>
    [`| ${what} | share of the agent's samples |`, '|---|---:|', ...rows.map((r) => `| \`${r.name.replace(/\|/g, '\\|')}\` | ${r.pct.toFixed(1)} % |`)].join('\n');
  return `${t(s.categories, 'what')}\n\n${t(s.dsos, 'where (shared object)')}\n\n${t(s.symbols, 'function (self time)')}\n`;
}

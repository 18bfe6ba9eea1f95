// Output helpers: tables for people, JSON for scripts.

export type OutputFormat = 'table' | 'json' | 'wide';

export function outputFormat(v: unknown): OutputFormat {
  const s = String(v ?? 'table');
  if (s === 'json' || s === 'table' || s === 'wide') return s;
  throw new Error(`-o ${s}: unknown output format (use table, wide or json)`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

/** A plain aligned table with an upper-case header, like kubectl. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => r.map((c) => String(c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd()).join('\n')}\n`;
}

export function formatLabels(labels: Record<string, string>): string {
  const s = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  return s || '<none>';
}

export function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export function bytes(n: number | bigint): string {
  const v = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = v;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

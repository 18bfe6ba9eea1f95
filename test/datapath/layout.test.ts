// The one-header ABI (DESIGN.md §2.3): the TypeScript codecs in
// src/datapath/abi.ts must describe exactly the structs in bpf/include/abi.h.
//
// Two probes read the C side:
//  - a host program compiled with `cc` prints sizeof/offsetof of every field
//    the codecs name (the layout userspace sees on this machine);
//  - the same header compiled with `clang -target bpf -g` is read back from
//    its BTF, which lists every member C has (the layout the BPF programs
//    use), so a member the codecs lack is caught too.
// A header change without the matching codec change fails this test; the
// last tests prove it by mutating a copy of the header.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as abi from '../../src/datapath/abi.ts';
import { ALL_CODECS } from '../../src/datapath/abi.ts';
import { ROOT } from './helpers.ts';

const INCLUDE = path.join(ROOT, 'bpf/include');
const ARCH_INCLUDE = `/usr/include/${os.machine()}-linux-gnu`;
const TMP_PREFIX = `mbtest-layout-${process.pid}-`;

interface CodecShape {
  name: string;
  size: number;
  fields: readonly { name: string; offset: number; size: number; type: unknown }[];
}
const CODECS: readonly CodecShape[] = ALL_CODECS;

const isPad = (f: CodecShape['fields'][number]) => typeof f.type === 'object' && f.type !== null && 'pad' in f.type;

interface Member {
  name: string;
  offset: number;
  size: number;
}
interface CStruct {
  size: number;
  members: Member[];
}

function run(cmd: string, args: string[]): { ok: true; stdout: string } | { ok: false; stderr: string } {
  try {
    return { ok: true, stdout: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { ok: false, stderr: e.stderr?.trim() || e.message };
  }
}

/** The host probe: sizeof and, for every non-padding codec field, offsetof/sizeof. */
function hostProbeSource(header: string): string {
  const lines = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    `#include "${header}"`,
    '#define MEMBER(s, f) printf("%s{\\"name\\":\\"%s\\",\\"offset\\":%zu,\\"size\\":%zu}", sep, #f, offsetof(struct s, f), sizeof(((struct s *)0)->f)); sep = ","',
    'int main(void)',
    '{',
    '\tconst char *sep;',
    '\tprintf("{");',
  ];
  CODECS.forEach((c, i) => {
    lines.push(`\tprintf("%s\\"${c.name}\\":{\\"size\\":%zu,\\"members\\":[", ${i === 0 ? '""' : '","'}, sizeof(struct ${c.name}));`);
    lines.push('\tsep = "";');
    for (const f of c.fields) if (!isPad(f)) lines.push(`\tMEMBER(${c.name}, ${f.name});`);
    lines.push('\tprintf("]}");');
  });
  lines.push('\tprintf("}\\n");', '\treturn 0;', '}', '');
  return lines.join('\n');
}

interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number }[];
}

function btfSize(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id);
  assert.ok(t, `BTF type ${id} exists`);
  switch (t.kind) {
    case 'INT':
    case 'STRUCT':
    case 'UNION':
    case 'ENUM':
      return t.size!;
    case 'TYPEDEF':
    case 'VOLATILE':
    case 'CONST':
    case 'RESTRICT':
      return btfSize(types, t.type_id!);
    case 'ARRAY':
      return t.nr_elems! * btfSize(types, t.type_id!);
    default:
      throw new Error(`unexpected BTF kind ${t.kind} in an ABI struct`);
  }
}

/**
 * Compares the header found in `includeDir` with the codecs; returns one
 * sentence per disagreement (empty when they agree).
 */
function compareLayout(includeDir: string): string[] {
  const problems: string[] = [];
  const header = path.join(includeDir, 'abi.h');
  const codecNames = new Set(CODECS.map((c) => c.name));

  // Every struct in the header has a codec.
  const text = fs.readFileSync(header, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const cStructs = [...text.matchAll(/\bstruct\s+(\w+)\s*\{/g)].map((m) => m[1]!);
  for (const s of cStructs) if (!codecNames.has(s)) problems.push(`struct ${s} in abi.h has no codec in ALL_CODECS`);
  for (const c of CODECS) if (!cStructs.includes(c.name)) problems.push(`codec ${c.name} has no struct in abi.h`);
  if (problems.length > 0) return problems;

  const work = fs.mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX));
  try {
    // Host layout (cc).
    const hostSrc = path.join(work, 'probe.c');
    fs.writeFileSync(hostSrc, hostProbeSource(header));
    const bin = path.join(work, 'probe');
    const cc = run('cc', ['-std=c11', '-Wall', '-Werror', '-o', bin, hostSrc]);
    if (!cc.ok) {
      problems.push(`the layout probe does not compile against abi.h — a codec names a field the header lacks:\n${cc.stderr}`);
      return problems;
    }
    const probed = run(bin, []);
    assert.ok(probed.ok, 'the layout probe runs');
    const host = JSON.parse(probed.stdout) as Record<string, CStruct>;

    // BPF layout (BTF of the header compiled for the BPF target).
    const btfSrc = path.join(work, 'btf_probe.c');
    fs.writeFileSync(btfSrc, [`#include "${header}"`, ...CODECS.map((c, i) => `struct ${c.name} mb_layout_probe_${i};`), ''].join('\n'));
    const obj = path.join(work, 'btf_probe.o');
    const clang = run('clang', ['-target', 'bpf', '-g', '-O2', '-I', ARCH_INCLUDE, '-c', btfSrc, '-o', obj]);
    if (!clang.ok) {
      problems.push(`abi.h does not compile for the BPF target:\n${clang.stderr}`);
      return problems;
    }
    const dumped = run('bpftool', ['btf', 'dump', 'file', obj, '-j']);
    assert.ok(dumped.ok, `bpftool reads the probe's BTF${dumped.ok ? '' : `: ${dumped.stderr}`}`);
    const types = new Map((JSON.parse(dumped.stdout) as { types: BtfType[] }).types.map((t) => [t.id, t]));
    const bpf: Record<string, CStruct> = {};
    for (const t of types.values()) {
      if (t.kind !== 'STRUCT' || !codecNames.has(t.name)) continue;
      bpf[t.name] = {
        size: t.size!,
        members: t.members!.map((m) => ({ name: m.name, offset: m.bits_offset / 8, size: btfSize(types, m.type_id) })),
      };
    }

    for (const c of CODECS) {
      for (const [where, layout] of [['x86_64 (cc)', host[c.name]], ['BPF (BTF)', bpf[c.name]]] as const) {
        if (!layout) {
          problems.push(`${c.name}: missing from the ${where} probe`);
          continue;
        }
        if (layout.size !== c.size) problems.push(`${c.name}: sizeof is ${layout.size} in C [${where}], ${c.size} in the codec`);
        const byName = new Map(layout.members.map((m) => [m.name, m]));
        for (const f of c.fields) {
          const m = byName.get(f.name);
          if (!m) {
            if (!isPad(f)) problems.push(`${c.name}.${f.name}: in the codec but not in C [${where}]`);
            continue;
          }
          if (m.offset !== f.offset) problems.push(`${c.name}.${f.name}: offset ${m.offset} in C [${where}], ${f.offset} in the codec`);
          if (m.size !== f.size) problems.push(`${c.name}.${f.name}: ${m.size} bytes in C [${where}], ${f.size} in the codec`);
        }
        // The host probe only lists codec fields; BTF lists every C member.
        const codecFields = new Set(c.fields.map((f) => f.name));
        for (const m of layout.members) {
          if (!codecFields.has(m.name)) problems.push(`${c.name}.${m.name}: in C (offset ${m.offset}, ${m.size} bytes) [${where}] but not in the codec`);
        }
      }
    }
    return problems;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** A copy of the include dir with abi.h edited by `edit`. */
function withEditedHeader<T>(edit: (text: string) => string, fn: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX));
  try {
    const original = fs.readFileSync(path.join(INCLUDE, 'abi.h'), 'utf8');
    const edited = edit(original);
    assert.notEqual(edited, original, 'the edit applies to the current abi.h (update this test if the header moved on)');
    fs.writeFileSync(path.join(dir, 'abi.h'), edited);
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function replaceLine(text: string, pattern: RegExp, replacement: string): string {
  assert.match(text, pattern);
  return text.replace(pattern, replacement);
}

/** Values of the header's `#define MB_*` constants, as the C compiler computes them. */
function headerConstants(includeDir: string): Record<string, number> {
  const header = path.join(includeDir, 'abi.h');
  const names = [...fs.readFileSync(header, 'utf8').matchAll(/^#define\s+(MB_\w+)\s+\S/gm)].map((m) => m[1]!);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX));
  try {
    const src = path.join(work, 'consts.c');
    fs.writeFileSync(
      src,
      [
        '#include <stdio.h>',
        `#include "${header}"`,
        'int main(void)',
        '{',
        ...names.map((n, i) => `\tprintf("%s\\"${n}\\":%lld", ${i === 0 ? '"{"' : '","'}, (long long)(${n}));`),
        '\tprintf("}\\n");',
        '\treturn 0;',
        '}',
        '',
      ].join('\n'),
    );
    const bin = path.join(work, 'consts');
    const cc = run('cc', ['-std=c11', '-Wall', '-Werror', '-o', bin, src]);
    assert.ok(cc.ok, `the constants probe compiles${cc.ok ? '' : `: ${cc.stderr}`}`);
    const out = run(bin, []);
    assert.ok(out.ok);
    return JSON.parse(out.stdout) as Record<string, number>;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

describe('ABI layout', () => {
  test('every codec matches bpf/include/abi.h on x86_64 and on the BPF target', () => {
    const problems = compareLayout(INCLUDE);
    assert.deepEqual(problems, [], `abi.h and src/datapath/abi.ts disagree:\n${problems.join('\n')}`);
  });

  test('the probes cover every codec and every field', () => {
    // Guards against a vacuous pass: the comparison above walks these.
    assert.ok(CODECS.length >= 5);
    for (const c of CODECS) {
      assert.ok(c.fields.length > 0, `${c.name} has fields`);
      const end = Math.max(...c.fields.map((f) => f.offset + f.size));
      assert.ok(end <= c.size, `${c.name} fields fit in its size`);
    }
  });

  test('widening a field in the header without the codec fails the comparison', () => {
    const problems = withEditedHeader((t) => replaceLine(t, /__u32 rule_id; /, '__u64 rule_id; '), compareLayout);
    assert.ok(problems.includes('mb_event.rule_id: 8 bytes in C [x86_64 (cc)], 4 in the codec'), problems.join('\n'));
    assert.ok(problems.includes('mb_event.rule_id: 8 bytes in C [BPF (BTF)], 4 in the codec'), problems.join('\n'));
  });

  test('reordering fields fails the comparison', () => {
    const problems = withEditedHeader(
      (t) => replaceLine(t, /(\t__u32 saddr;[^\n]*\n)(\t__u32 daddr;[^\n]*\n)/, '$2$1'),
      compareLayout,
    );
    assert.ok(problems.includes('mb_event.saddr: offset 20 in C [x86_64 (cc)], 16 in the codec'), problems.join('\n'));
    assert.ok(problems.includes('mb_event.daddr: offset 16 in C [BPF (BTF)], 20 in the codec'), problems.join('\n'));
    assert.equal(problems.length, 4);
  });

  test('using padding for a new member fails the comparison, though the size stays', () => {
    const problems = withEditedHeader((t) => replaceLine(t, /\t__u8 pad\[6\];\n\};/, '\t__u16 mark;\n\t__u8 pad[4];\n};'), compareLayout);
    assert.ok(problems.includes('mb_agg4_entry.mark: in C (offset 18, 2 bytes) [BPF (BTF)] but not in the codec'), problems.join('\n'));
    assert.ok(problems.includes('mb_agg4_entry.pad: offset 20 in C [BPF (BTF)], 18 in the codec'), problems.join('\n'));
    assert.ok(!problems.some((p) => p.includes('sizeof')), 'the struct size did not change');
  });

  test('renaming a field the codec uses fails the comparison with the compiler output', () => {
    const problems = withEditedHeader((t) => replaceLine(t, /__u32 lxc_id;/, '__u32 endpoint_id;'), compareLayout);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^the layout probe does not compile against abi\.h — a codec names a field the header lacks:/);
    assert.match(problems[0]!, /lxc_id/);
  });

  test('a new struct in the header without a codec fails the comparison', () => {
    const problems = withEditedHeader(
      (t) => replaceLine(t, /#endif \/\* MEMBRANE_ABI_H \*\//, 'struct mb_service_key {\n\t__u32 vip;\n};\n\n#endif /* MEMBRANE_ABI_H */'),
      compareLayout,
    );
    assert.deepEqual(problems, ['struct mb_service_key in abi.h has no codec in ALL_CODECS']);
  });

  test("constants mirrored in abi.ts have the header's values; every drop reason and trace point has a name", () => {
    const c = headerConstants(INCLUDE);
    const exported = abi as unknown as Record<string, unknown>;
    let mirrored = 0;
    for (const [name, value] of Object.entries(c)) {
      if (!(name in exported)) continue;
      assert.equal(exported[name], value, `${name} is ${value} in abi.h`);
      mirrored++;
    }
    assert.ok(mirrored >= 6, `abi.ts mirrors the header's constants (found ${mirrored})`);
    const drops = Object.entries(c).filter(([n]) => n.startsWith('MB_DROP_'));
    assert.ok(drops.length >= 4);
    for (const [name, value] of drops) assert.ok(abi.DROP_REASONS[value], `${name} (${value}) has a name in DROP_REASONS`);
    assert.equal(Object.keys(abi.DROP_REASONS).length, drops.length, 'DROP_REASONS names no reason the header lacks');
    const traces = Object.entries(c).filter(([n]) => n.startsWith('MB_TRACE_'));
    for (const [name, value] of traces) assert.ok(abi.TRACE_POINTS[value], `${name} (${value}) has a name in TRACE_POINTS`);
    assert.equal(Object.keys(abi.TRACE_POINTS).length, traces.length);
    // events.h keeps one constant of its own.
    const events = fs.readFileSync(path.join(INCLUDE, 'events.h'), 'utf8');
    const lost = /#define MB_METRIC_EVENT_LOST\s+(0x[0-9a-f]+|\d+)/i.exec(events);
    assert.ok(lost, 'events.h defines MB_METRIC_EVENT_LOST');
    assert.equal(Number(lost[1]), abi.MB_METRIC_EVENT_LOST);
  });

  test('the probes leave no temporary files behind', () => {
    const left = fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith(TMP_PREFIX));
    assert.deepEqual(left, []);
  });
});

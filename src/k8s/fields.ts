// Unknown and unsupported fields of an object. Policy manifests are checked
// strictly: a misspelt field (`ingres`, `fromEndpoint`) would otherwise be
// dropped and the policy would allow or deny something else than written,
// which is what `kubectl apply` (strict field validation) prevents too.

import { quote } from './meta.ts';
import type { RawObject } from './meta.ts';
import type { Checker, FieldPath } from './problems.ts';

/** Fields Membrane knows but does not implement → the whole message, which says they are not supported and why. */
export type Unsupported = Readonly<Record<string, string>>;

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

/** The known name closest to `name` (same letters in another case, or at most two edits away). */
export function nearest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same) return same;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Reports every field of `obj` that is not in `known`: unsupported ones
 * with their message, others as unknown with a did-you-mean hint and the
 * list of known fields. Returns whether there were none.
 */
export function checkFields(c: Checker, obj: RawObject, path: FieldPath, known: readonly string[], unsupported: Unsupported = {}): boolean {
  let ok = true;
  for (const name of Object.keys(obj)) {
    if (known.includes(name)) continue;
    ok = false;
    const why = Object.hasOwn(unsupported, name) ? unsupported[name] : undefined;
    if (why !== undefined) {
      c.report(path.child(name), why);
      continue;
    }
    const near = nearest(name, [...known, ...Object.keys(unsupported)]);
    const hint = near ? `did you mean ${quote(near)}? ` : '';
    c.report(path.child(name), `unknown field ${quote(name)}: ${hint}known fields: ${known.join(', ')}`);
  }
  return ok;
}

// Identity labels of endpoints, their canonical key and their display form.
import { NAMESPACE_LABEL, NAMESPACE_LABELS_PREFIX } from '../policy/types.ts';
import type { Labels } from './types.ts';

/**
 * The identity labels of a pod: `k8s:<key>` per pod label,
 * `k8s:io.kubernetes.pod.namespace=<namespace>`, and
 * `k8s:io.cilium.k8s.namespace.labels.<key>` per label of its namespace.
 * (A pod label with the namespace label's own key cannot override it.)
 */
export function endpointLabels(namespace: string, podLabels: Record<string, string>, namespaceLabels: Record<string, string> = {}): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(podLabels)) out[`k8s:${k}`] = v;
  for (const [k, v] of Object.entries(namespaceLabels)) out[`${NAMESPACE_LABELS_PREFIX}${k}`] = v;
  out[NAMESPACE_LABEL] = namespace;
  return sortLabels(out);
}

/** The same labels with keys in sorted order. */
export function sortLabels(labels: Labels): Labels {
  const out: Labels = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k]!;
  return out;
}

/** Canonical string of a label set (sorted `source:key=value`, `;`-joined): equal sets, equal keys. */
export function labelsKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(';');
}

/** Display form, sorted: `k8s:app=web`, `reserved:host` (no `=` for an empty value). */
export function formatLabels(labels: Labels): string[] {
  return Object.keys(labels)
    .sort()
    .map((k) => (labels[k] === '' ? k : `${k}=${labels[k]}`));
}

/** Inverse of formatLabels' items: `k8s:app=web` → ['k8s:app', 'web'], `reserved:host` → ['reserved:host', '']. */
export function parseLabel(text: string): [string, string] {
  const i = text.indexOf('=');
  return i < 0 ? [text, ''] : [text.slice(0, i), text.slice(i + 1)];
}

// Flow filters with Hubble's semantics: a flag's repeated values are ORed,
// different flags ANDed, and the either-side flags (pod, namespace, label,
// identity, ip, port, service) match the source OR the destination.
// Query parameter names are the `membrane observe` flag names.
import { InputError } from '../errors.ts';
import type { Flow, FlowRecord } from './flow-types.ts';

export type FilterSide = 'source' | 'destination' | 'either';

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

/** All requirements must hold: `k8s:app=web` (source-qualified), `app=web` (any source), `app` (exists), `!app` (absent). */
export type LabelSelector = { key: string; source?: string; value?: string; negate: boolean }[];

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

/** Flag names accepted as query parameters (= `membrane observe` long flags). */
export const FLOW_QUERY_PARAMS: readonly string[] = [];

/** Parses GET /v1/flows' query; an InputError names the bad parameter. `now` is for relative `since` ("5m"). */
export function parseFlowQuery(_params: URLSearchParams, _now: number = Date.now()): FlowQuery {
  throw new InputError('query', 'not implemented');
}

export function matchFlow(_flow: Flow, _filters: readonly FlowFilter[]): boolean {
  throw new Error('not implemented');
}

/** lost_events records always pass (as in Hubble). */
export function matchRecord(_rec: FlowRecord, _filters: readonly FlowFilter[]): boolean {
  throw new Error('not implemented');
}

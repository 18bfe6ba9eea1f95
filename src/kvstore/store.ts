// The kvstore interface: desired state as key → JSON value, changed only by
// atomic transactions, observed through watches. The local store (default)
// and the etcd store (multi-node) implement it.

export interface Txn {
  put?: ReadonlyArray<readonly [key: string, value: unknown]>;
  delete?: readonly string[];
}

export type WatchEvent = { type: 'put'; key: string; value: unknown } | { type: 'delete'; key: string };

export interface KvStore {
  get<T>(key: string): T | undefined;
  /** Entries whose key starts with prefix, sorted by key. */
  list<T>(prefix: string): Array<[string, T]>;
  /** Applies all changes or none. */
  commit(txn: Txn): Promise<void>;
  /** Calls back for every change under prefix; returns an unsubscribe function. */
  watch(prefix: string, cb: (ev: WatchEvent) => void): () => void;
  close(): Promise<void>;
}

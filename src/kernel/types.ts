// The few data shapes every folder shares: a row, where it came from, and a batch of them.

/** A row is a JSON object: what sources produce, functions transform and connectors carry. */
export type Row = Record<string, unknown>;

/** Where a row came from in its source, so that a dead letter can name it and a commit can resume after it. */
export interface Position {
  /** Source id (`sid`), or `conn:<cid>` for rows a flow Loads from a connector's topic. */
  readonly source: string;
  readonly partition: number;
  /** Kafka offset, line number, sequence number, or `file:pos` for a binlog: opaque outside its source. */
  readonly offset: string;
  /** For rows read from Kafka: the record's topic, key, headers and timestamp (ms since the epoch, as text). */
  readonly topic?: string;
  readonly key?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timestamp?: string;
}

/** Rows from one partition of one source, in order, each with its position. */
export interface SourceBatch {
  readonly source: string;
  readonly partition: number;
  readonly rows: readonly Row[];
  readonly positions: readonly Position[];
}

export type JsonScalar = string | number | boolean | null;
export type Params = Readonly<Record<string, unknown>>;

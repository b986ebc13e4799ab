// kistype: source, type: file — one JSON object per line, in batches. A line that is not a JSON object
// is handed on as undecodable (it reaches the dead-letter sinks), never skipped silently.
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { FileSourceParamsT } from '../../config/codecs.js';
import { errorMessage, KisError } from '../../kernel/errors.js';
import type { Position, Row } from '../../kernel/types.js';
import { batchOf, type BatchHandler, type Source, type Undecodable } from '../../core/source.js';

export const DEFAULT_BATCH_SIZE = 500;

/** Decodes one line; returns the row, or why it is not one. */
export function decodeJsonLine(line: string): { row: Row } | { reason: string } {
  try {
    const v: unknown = JSON.parse(line);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { reason: `expected a JSON object, found ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}` };
    return { row: v as Row };
  } catch (err) {
    return { reason: `malformed JSON: ${errorMessage(err)}` };
  }
}

/** Yielded by a line stream to hand on a partial batch now. */
export const FLUSH: unique symbol = Symbol('flush');

/** Batches JSON lines from any line stream: shared by the file and stdin sources. */
export async function runLines(
  id: string,
  lines: AsyncIterable<string | typeof FLUSH>,
  batchSize: number,
  handle: BatchHandler,
  signal: AbortSignal,
): Promise<void> {
  let rows: Row[] = [];
  let positions: Position[] = [];
  let bad: Undecodable[] = [];
  let lineNo = 0;
  const flush = async (): Promise<void> => {
    if (rows.length === 0 && bad.length === 0) return;
    const b = batchOf(id, 0, rows, positions, bad);
    rows = [];
    positions = [];
    bad = [];
    await handle(b);
  };
  for await (const line of lines) {
    if (signal.aborted) break;
    if (line === FLUSH) {
      await flush();
      continue;
    }
    lineNo++;
    if (line.trim() === '') continue;
    const position: Position = { source: id, partition: 0, offset: String(lineNo) };
    const res = decodeJsonLine(line);
    if ('row' in res) {
      rows.push(res.row);
      positions.push(position);
    } else bad.push({ raw: line, reason: `line ${lineNo}: ${res.reason}`, position });
    if (rows.length + bad.length >= batchSize) await flush();
  }
  await flush();
}

export class FileSource implements Source {
  readonly finite = true;
  private readonly file: string;
  constructor(readonly id: string, private readonly params: FileSourceParamsT, configDir: string) {
    this.file = path.resolve(configDir, params.path);
  }

  async run(handle: BatchHandler, signal: AbortSignal): Promise<void> {
    const stream = createReadStream(this.file, { encoding: 'utf8' });
    const opened = new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (err) => reject(new KisError('KIS_ERR_SOURCE', `source '${this.id}': cannot read ${this.file}: ${err.message}`, { cause: err })));
    });
    await opened;
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    try {
      await runLines(this.id, rl, this.params.batch_size ?? DEFAULT_BATCH_SIZE, handle, signal);
    } finally {
      rl.close();
      stream.destroy();
    }
  }
}

// kistype: source, type: stdin — JSON lines on standard input; a partial batch goes on after max_wait_ms.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { StdinSourceParamsT } from '../../config/codecs.js';
import { DEFAULT_BATCH_SIZE, FLUSH, runLines } from '../file/file-source.js';
import type { BatchHandler, Source } from '../../core/source.js';

export const DEFAULT_MAX_WAIT_MS = 200;

/** Lines of a stream, and a FLUSH when the input has been quiet for maxWaitMs with rows waiting. */
async function* linesWithTicks(input: Readable, maxWaitMs: number): AsyncGenerator<string | typeof FLUSH> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  const it = rl[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<string>> | undefined;
  let waiting = false;
  try {
    for (;;) {
      pending ??= it.next();
      let handle: NodeJS.Timeout | undefined;
      const timer = new Promise<'tick'>((resolve) => { handle = setTimeout(() => resolve('tick'), maxWaitMs); });
      const next = await Promise.race([pending, timer]);
      clearTimeout(handle);
      if (next === 'tick') {
        if (waiting) yield FLUSH;
        waiting = false;
        continue;
      }
      pending = undefined;
      if (next.done) return;
      waiting = true;
      yield next.value;
    }
  } finally {
    rl.close();
  }
}

export class StdinSource implements Source {
  readonly finite = true;
  constructor(readonly id: string, private readonly params: StdinSourceParamsT, private readonly input: Readable = process.stdin) {}

  async run(handle: BatchHandler, signal: AbortSignal): Promise<void> {
    await runLines(this.id, linesWithTicks(this.input, this.params.max_wait_ms ?? DEFAULT_MAX_WAIT_MS), this.params.batch_size ?? DEFAULT_BATCH_SIZE, handle, signal);
  }
}

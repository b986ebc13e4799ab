// One ordered executor per (flow, partition): batches of a partition run one after another, in the
// order they were submitted; different partitions and flows run concurrently.

export class SerialExecutor {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  submit<T>(task: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined).finally(() => { this.pending--; });
    return result;
  }

  get idle(): boolean {
    return this.pending === 0;
  }
}

export class Executors {
  private readonly byKey = new Map<string, SerialExecutor>();

  for(flow: string, partition: number): SerialExecutor {
    const key = `${flow}\u0000${partition}`;
    let e = this.byKey.get(key);
    if (!e) {
      e = new SerialExecutor();
      this.byKey.set(key, e);
    }
    return e;
  }

  allIdle(): boolean {
    for (const e of this.byKey.values()) if (!e.idle) return false;
    return true;
  }
}

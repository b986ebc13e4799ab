// Changelogs on the embedded log: the same records a Kafka changelog holds, in-process. Nothing survives
// the process, so restore finds what this process wrote (a partition given back and taken again).
import type { ChangelogRecord } from '../../state/partition-store.js';
import type { ChangelogBackend } from '../../state/state-manager.js';
import type { EmbeddedLog } from './log.js';

export class EmbeddedChangelog implements ChangelogBackend {
  constructor(private readonly log: EmbeddedLog, private readonly partitionsOf: (topic: string) => number) {}

  async write(topic: string, partition: number, records: readonly ChangelogRecord[]): Promise<void> {
    const t = this.log.get(topic) ?? this.log.topic(topic, this.partitionsOf(topic));
    const tombstone: Record<string, string> = { 'kis-tombstone': '1' };
    t.append(records.map((r) => (r.value === null
      ? { key: r.key, value: {}, partition, headers: tombstone }
      : { key: r.key, value: { ...r.value }, partition })));
  }

  async read(topic: string, partition: number, apply: (rec: ChangelogRecord) => void): Promise<number> {
    const t = this.log.get(topic);
    if (!t) return 0;
    let n = 0;
    for (let off = t.startOffset(partition); off < t.endOffset(partition);) {
      const recs = t.read(partition, off, 10_000);
      if (recs.length === 0) break;
      for (const r of recs) {
        apply({ key: r.key ?? '', value: r.headers['kis-tombstone'] ? null : (r.value as { v: unknown; exp?: number }) });
        n++;
      }
      off = recs[recs.length - 1]!.offset + 1;
    }
    return n;
  }
}

// The topic names repair derives, next to those of the kernel (src/kernel/names.ts): where a replay records
// what it did, and the control topic every replica's service reads for rewinds.
import { safeTopic } from '../kernel/names.js';

/** The compacted record of replayed dead letters of a flow, keyed by `<dlq topic>:<partition>:<offset>`. */
export function replayedTopic(appId: string, flowId: string): string {
  return safeTopic(`${appId}.${flowId}.replayed`);
}

/** The control topic of a deployment: requests every replica's service reads (rewinds) and their answers. */
export function controlTopic(appId: string): string {
  return safeTopic(`${appId}.control`);
}

/** The key a replayed dead letter is recorded under. */
export function replayKey(topic: string, partition: number, offset: string): string {
  return `${topic}:${partition}:${offset}`;
}

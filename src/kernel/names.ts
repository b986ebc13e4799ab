// Every topic, consumer group and file name KisFlow derives, in one place. Ids may be any UTF-8 and
// Kafka names may not, so a derived name is kept when it is valid and otherwise made safe plus a hash.
import { fnv1a } from './hash.js';

const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

/** True when `name` is a valid Kafka topic name. */
export function isTopicName(name: string): boolean {
  return TOPIC.test(name);
}

/** A valid Kafka topic name for a derived one: kept if valid, else the valid characters and a hash. */
export function safeTopic(name: string): string {
  if (TOPIC.test(name)) return name;
  const safe = name.replace(/[^a-zA-Z0-9._-]/g, '').slice(0, 200);
  return `${safe || 'kisflow'}-${fnv1a(name)}`;
}

/** An id as a file name: characters outside [A-Za-z0-9._-] become '_'. */
export function safeFileName(id: string): string {
  return /^[A-Za-z0-9._-]+$/.test(id) ? id : encodeURIComponent(id).replace(/%/g, '_');
}

/** The default dead-letter topic of a flow: `<flow>.dlq`, or a safe name with a hash. */
export function deadLetterTopic(flowId: string): string {
  if (TOPIC.test(flowId + '.dlq')) return flowId + '.dlq';
  const safe = flowId.replace(/[^a-zA-Z0-9._-]/g, '').slice(0, 40);
  return `kisflow.dlq.${safe ? safe + '-' : ''}${fnv1a(flowId)}`;
}

/** The changelog topic of a flow's state store: `<app_id>.<flow>.<store>.changelog`. */
export function changelogTopic(appId: string, flow: string, store: string): string {
  const part = (s: string): string => (TOPIC.test(s) && s.length <= 60 ? s : `${s.replace(/[^a-zA-Z0-9._-]/g, '').slice(0, 30)}-${fnv1a(s)}`);
  return `${appId}.${part(flow)}.${part(store)}.changelog`;
}

/** The consumer group of a kafka source (unless params.group_id names one). */
export function sourceGroup(appId: string, sid: string): string {
  return `${appId}.${sid}`;
}

/** The consumer group of a flow fed by its Load connector's topic. */
export function drivenFlowGroup(appId: string, flowId: string): string {
  return `${appId}.${flowId}`;
}

/** A per-process group that reads a connector's whole topic into a join table (every replica reads all of it). */
export function tableGroup(appId: string, cid: string, instance: string): string {
  return `${appId}.table.${cid}.${instance}`;
}

/** The group and one-partition topic through which replicas elect the single reader of `what` (a binlog source: its sid). */
export function electionNames(appId: string, what: string): { group: string; topic: string } {
  const group = `${appId}.${what}.leader`;
  return { group, topic: safeTopic(group) };
}

/** Where binlog sources keep their checkpoints in Kafka mode (keyed by source id). */
export function binlogCheckpointTopic(appId: string): string {
  return safeTopic(`${appId}.binlog-checkpoints`);
}

/** The default checkpoint file of a binlog source in embedded mode, relative to the config directory. */
export function binlogCheckpointFile(sid: string): string {
  return `.kisflow/${safeFileName(sid)}.binlog.json`;
}

/** Partitions of a connector's topic when params.partitions does not say (and of the embedded log's topics). */
export const DEFAULT_PARTITIONS = 4;

/** The topic of a kafka connector: params.topic, else its cid; and its configured partition count, if any. */
export function connectorTopic(conn: { readonly cid: string; readonly params: Readonly<Record<string, unknown>> }): { topic: string; partitions: number | undefined } {
  const topic = typeof conn.params['topic'] === 'string' ? conn.params['topic'] : conn.cid;
  const partitions = typeof conn.params['partitions'] === 'number' ? conn.params['partitions'] : undefined;
  return { topic, partitions };
}

/** The compacted topic where every replica publishes its status record (keyed by replica), read by every console. */
export function statusTopic(appId: string): string {
  return safeTopic(`${appId}.status`);
}

/** Every action taken through the console's API, one record each. */
export function auditTopic(appId: string): string {
  return safeTopic(`${appId}.audit`);
}

/** Config edits applied from the console, one record per version. */
export function configEditsTopic(appId: string): string {
  return safeTopic(`${appId}.config-edits`);
}

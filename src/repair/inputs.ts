// What a flow reads and writes on Kafka, from the config alone: its inputs (a kafka source's topics and
// group, or the connector topic a source-less flow Loads from, with its own group), the topics its Saves
// and topic sinks write, and its dead-letter topic. Repair commands work on these.
import type { KisConfig } from '../config/model.js';
import { connectorTopic, drivenFlowGroup, sourceGroup } from '../kernel/names.js';
import { KisError } from '../kernel/errors.js';

export interface FlowInput {
  /** The source id, or the connector id for a flow fed by its Load connector's topic. */
  readonly via: string;
  readonly group: string;
  readonly topics: readonly string[];
  /** Other enabled flows fed by the same group (moving its offsets moves theirs too). */
  readonly sharedWith: readonly string[];
}

export interface FlowTopics {
  readonly inputs: readonly FlowInput[];
  /** Sources of the flow that are not Kafka topics (binlog, file, generator, stdin): no offsets to move. */
  readonly otherSources: ReadonlyArray<{ readonly sid: string; readonly type: string }>;
  /** Topics the flow's Save steps write (kafka connectors) and its kis.sink steps with to: topic. */
  readonly outputs: readonly string[];
  readonly deadLetters: string;
}

export function flowTopics(config: KisConfig, flowId: string): FlowTopics {
  const flow = flowOf(config, flowId);
  const appId = config.global.appId;
  const inputs: FlowInput[] = [];
  const otherSources: Array<{ sid: string; type: string }> = [];
  for (const sc of config.sources.values()) {
    if (!sc.flows.includes(flowId)) continue;
    if (sc.type !== 'kafka') {
      otherSources.push({ sid: sc.sid, type: sc.type });
      continue;
    }
    const topics = Array.isArray(sc.params['topics']) ? (sc.params['topics'] as unknown[]).map(String) : [];
    const group = typeof sc.params['group_id'] === 'string' ? sc.params['group_id'] : sourceGroup(appId, sc.sid);
    inputs.push({ via: sc.sid, group, topics, sharedWith: sc.flows.filter((f) => f !== flowId && config.flows.get(f)?.enabled) });
  }
  const first = flow.steps[0] ? config.funcs.get(flow.steps[0].fid) : undefined;
  const hasSource = inputs.length + otherSources.length > 0;
  if (!hasSource && first?.mode === 'Load' && first.cid) {
    const conn = config.conns.get(first.cid);
    if (conn) inputs.push({ via: conn.cid, group: drivenFlowGroup(appId, flowId), topics: [connectorTopic(conn).topic], sharedWith: [] });
  }
  const outputs: string[] = [];
  for (const step of flow.steps) {
    const fn = config.funcs.get(step.fid);
    if (!fn) continue;
    if (fn.mode === 'Save' && fn.cid) {
      const conn = config.conns.get(fn.cid);
      if (conn?.type === 'kafka') outputs.push(connectorTopic(conn).topic);
    }
    const params = { ...fn.defaultParams, ...step.params };
    if (fn.fname === 'kis.sink' && params['to'] === 'topic' && typeof params['topic'] === 'string') outputs.push(params['topic']);
  }
  return { inputs, otherSources, outputs: [...new Set(outputs)], deadLetters: flow.deadLetterTopic };
}

/** The flow's config, or a clear error naming the flows there are. */
export function flowOf(config: KisConfig, flowId: string): NonNullable<ReturnType<KisConfig['flows']['get']>> {
  const f = config.flows.get(flowId);
  if (!f) throw new KisError('KIS_ERR_REPAIR_REQUEST', `no flow '${flowId}' in ${config.dir} (flows: ${[...config.flows.keys()].join(', ') || 'none'})`);
  return f;
}

export function requireKafka(config: KisConfig, what: string): NonNullable<KisConfig['global']['kafka']> {
  if (!config.global.kafka) {
    throw new KisError('KIS_ERR_REPAIR_REQUEST',
      `${what} needs Kafka mode (kafka.brokers in the global document): embedded mode keeps nothing persistent; its dead letters, offsets and state live only in the process that made them`);
  }
  return config.global.kafka;
}

// One kafkajs client per cluster, built from the global document (or a source's addrs). kafkajs logs go
// to pino, and a message that repeats is logged once per incident, not once per retry or per row.
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import type { KafkaClusterConfig } from '../config/model.js';
// Imported for its effect: KisFlow's record encoder in place of kafkajs's, before any producer sends.
import './codec/index.js';

/** A repeated kafkajs message is logged again only after this quiet period. */
const REPEAT_QUIET_MS = 30_000;

function kafkaLogger(logger: Logger): KafkaConfig['logCreator'] {
  const last = new Map<string, number>();
  return () => (entry: LogEntry) => {
    const { message, error, broker, groupId, topic, partition } = entry.log as Record<string, unknown>;
    const key = `${String(message)}|${String(error ?? '')}`;
    const now = Date.now();
    const seen = last.get(key);
    last.set(key, now);
    if (seen !== undefined && now - seen < REPEAT_QUIET_MS) return;
    const fields = { kafka: entry.namespace, broker, group: groupId, topic, partition, err: error };
    if (entry.level <= logLevel.ERROR) logger.error(fields, `kafka: ${String(message)}`);
    else if (entry.level === logLevel.WARN) logger.warn(fields, `kafka: ${String(message)}`);
    else logger.debug(fields, `kafka: ${String(message)}`);
  };
}

export function createKafka(cluster: KafkaClusterConfig, logger: Logger, brokers?: readonly string[]): Kafka {
  return new Kafka(kafkaConfig(cluster, logger, brokers));
}

/** The kafkajs client settings for a cluster: brokers (a source's addrs override them), TLS, SASL, timeouts. */
export function kafkaConfig(cluster: KafkaClusterConfig, logger: Logger, brokers?: readonly string[]): KafkaConfig {
  const tls = cluster.tls;
  const config: KafkaConfig = {
    clientId: cluster.clientId,
    brokers: [...(brokers && brokers.length > 0 ? brokers : cluster.brokers)],
    connectionTimeout: cluster.connectionTimeoutMs,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogger(logger),
    retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 8 },
  };
  if (tls !== undefined) config.ssl = tls;
  if (cluster.sasl) config.sasl = { mechanism: cluster.sasl.mechanism, username: cluster.sasl.username, password: cluster.sasl.password } as SASLOptions;
  return config;
}

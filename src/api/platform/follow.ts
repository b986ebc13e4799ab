// Following a compacted topic from its start for the life of the backend (status records, config edits):
// a consumer in a group of its own per replica, so that every replica reads every record.
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage } from '../../kernel/errors.js';

export interface Followed {
  readonly key: string | null;
  readonly value: string | null;
  readonly timestamp: number;
}

export async function followTopic(kafka: Kafka, groupId: string, topic: string, logger: Logger, onRecord: (r: Followed) => void): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => {
      try {
        onRecord({ key: message.key?.toString('utf8') ?? null, value: message.value?.toString('utf8') ?? null, timestamp: Number(message.timestamp) });
      } catch (err) {
        logger.warn({ topic, err: errorMessage(err) }, 'console: a record could not be read; skipped');
      }
    },
  });
  return consumer;
}

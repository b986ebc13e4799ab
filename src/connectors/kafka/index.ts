// Connector type `kafka`: a topic, on the Kafka cluster or (without brokers) the embedded log. Save
// produces keyed records; a Load joins with the topic (a change feed) or is driven by it.
import { KafkaConnParamsCodec, type KafkaConnParamsT } from '../../config/codecs.js';
import type { ConnectorTypeSpec } from '../../core/plugins.js';

export const kafkaConnectorType: ConnectorTypeSpec<KafkaConnParamsT> = {
  name: 'kafka',
  description: 'A Kafka topic (the embedded in-process log when no brokers are configured).',
  params: KafkaConnParamsCodec,
  create: (conn, _params, env) => env.topicConnector(conn),
};

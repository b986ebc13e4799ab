// Source type `kafka`: a consumer group over topics. Joined connector topics are read by the same group,
// so that the co-partitioning assignor gives each member partition n of all of them.
import { KafkaSourceParams, type KafkaSourceParamsT } from '../../config/codecs.js';
import type { SourceTypeSpec, TypeIssue } from '../../core/plugins.js';
import { KisError } from '../../kernel/errors.js';
import { sourceGroup } from '../../kernel/names.js';
import { KafkaSource } from './kafka-source.js';

export const kafkaSourceType: SourceTypeSpec<KafkaSourceParamsT> = {
  name: 'kafka',
  description: 'A consumer group over Kafka topics (needs kafka.brokers or addrs).',
  params: KafkaSourceParams,
  check(_params, sc, config): TypeIssue[] {
    if (sc.addrs.length === 0 && !config.global.kafka) {
      return [{ path: ['type'], message: 'a kafka source needs brokers: set kafka.brokers in the kistype: global document, or addrs on this source' }];
    }
    return [];
  },
  partitions: (params, _sc, config) => (config.global.kafka ? { like: params.topics } : 1),
  kafkaFed: (config) => config.global.kafka !== undefined,
  create(sc, own, env) {
    if (!env.kafka) throw new KisError('KIS_ERR_CONFIG_UNSUPPORTED', `source '${sc.sid}': a kafka source needs kafka.brokers in the global document`);
    const joined = env.coPartitionedTopics.filter((t) => !own.topics.includes(t));
    const params: KafkaSourceParamsT = joined.length > 0 ? { ...own, topics: [...own.topics, ...joined] } : own;
    return new KafkaSource({
      id: sc.sid,
      kafka: env.kafka(sc.addrs),
      groupId: params.group_id ?? sourceGroup(env.config.global.appId, sc.sid),
      params,
      logger: env.logger,
      ...(env.observer ? { observer: env.observer } : {}),
      onAssigned: env.onAssigned,
      ...(env.beforeCommit ? { beforeCommit: env.beforeCommit } : {}),
    });
  },
};

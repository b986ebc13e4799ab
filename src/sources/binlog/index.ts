// Source type `binlog`: the MySQL / MariaDB row binlog. Kafka mode: checkpoints in a Kafka topic and one
// reader across replicas, elected by a lease in a Kafka topic. Embedded mode, or with params.checkpoint_file:
// a checkpoint file under the config directory.
import path from 'node:path';
import { BinlogSourceParams, type BinlogSourceParamsT } from '../../config/codecs.js';
import type { SourceTypeSpec, TypeIssue } from '../../core/plugins.js';
import { binlogCheckpointFile, binlogCheckpointTopic, electionNames } from '../../kernel/names.js';
import { BinlogSource } from './binlog-source.js';
import { FileCheckpointStore, KafkaCheckpointStore } from './checkpoint.js';

/** How long a dead binlog reader holds its lease before another replica takes over (renewed every 150 ms). */
const BINLOG_ELECTION_LEASE_MS = 1_500;

/** A binlog source's start: end, beginning, '<file>:<pos>' or 'gtid:<set>'. */
const BINLOG_START = /^(end|beginning|[^:\s]+:\d+|gtid:.*)$/;

export const binlogSourceType: SourceTypeSpec<BinlogSourceParamsT> = {
  name: 'binlog',
  description: 'The MySQL / MariaDB row binlog of one server (addrs: host:port).',
  params: BinlogSourceParams,
  check(p, sc): TypeIssue[] {
    const issues: TypeIssue[] = [];
    if (p.start !== undefined && !BINLOG_START.test(p.start)) {
      issues.push({ path: ['params', 'start'], message: `expected end, beginning, '<file>:<pos>' or 'gtid:<set>', found '${p.start}'` });
    }
    for (const [field, list] of [['tables', p.tables], ['exclude', p.exclude ?? []]] as const) {
      list.forEach((pattern, i) => {
        if (!/^[^.]+\.[^.]+$/.test(pattern)) issues.push({ path: ['params', field, i], message: `expected 'schema.table' ('*' as a wildcard), found '${pattern}'` });
      });
    }
    if (p.signal_table !== undefined && !/^[^.*\s]+\.[^.*\s]+$/.test(p.signal_table)) {
      issues.push({ path: ['params', 'signal_table'], message: `expected one table 'schema.table' (no '*'), found '${p.signal_table}'` });
    }
    if (sc.addrs.length !== 1) issues.push({ path: ['addrs'], message: "a binlog source needs addrs: the database 'host:port' (one address)" });
    return issues;
  },
  partitions: (params) => params.partitions ?? 1,
  create(sc, params, env) {
    const appId = env.config.global.appId;
    const kafka = env.kafka?.();
    const store = kafka && params.checkpoint_file === undefined
      ? new KafkaCheckpointStore(kafka, params.checkpoint_topic ?? binlogCheckpointTopic(appId), sc.sid, env.logger)
      : new FileCheckpointStore(path.resolve(env.config.dataDir, params.checkpoint_file ?? binlogCheckpointFile(sc.sid)));
    const election = electionNames(appId, sc.sid);
    return new BinlogSource({
      id: sc.sid,
      addr: sc.addrs[0] ?? '',
      params,
      appId,
      store,
      logger: env.logger,
      ...(env.observer ? { observer: env.observer } : {}),
      ...(kafka ? { election: { kafka, groupId: election.group, topic: election.topic, leaseMs: BINLOG_ELECTION_LEASE_MS } } : {}),
    });
  },
};

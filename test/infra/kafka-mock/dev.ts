/**
 * `npm run dev:kafka`: a local 3-broker Kafka (librdkafka mock cluster) for
 * development. Prints KAFKA_BROKERS, stays up until Ctrl-C / EOF, and
 * forwards every line typed on stdin to the launcher as a command.
 *
 * Options: --brokers N, --topic name:partitions (repeatable).
 */
import readline from 'node:readline';

import { startMockCluster, type StartMockClusterOptions } from './index.js';

function parseArgs(argv: string[]): StartMockClusterOptions {
  const opts: StartMockClusterOptions = { brokers: 3, topics: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--brokers' && v !== undefined) {
      opts.brokers = Number(v);
      i++;
    } else if (a === '--topic' && v !== undefined) {
      const [name, parts] = v.split(':');
      if (!name || !parts) throw new Error(`--topic wants name:partitions, got ${v}`);
      opts.topics!.push({ name, partitions: Number(parts) });
      i++;
    } else {
      throw new Error(`usage: tsx test/infra/kafka-mock/dev.ts [--brokers N] [--topic name:partitions]...`);
    }
  }
  return opts;
}

const cluster = await startMockCluster(parseArgs(process.argv.slice(2)));

process.stdout.write(
  [
    `KAFKA_BROKERS=${cluster.bootstrap}`,
    '',
    `librdkafka mock cluster up: ${cluster.brokers.length} brokers (ids ${cluster.brokerIds.join(', ')}), pid ${cluster.pid ?? '?'}.`,
    'Use it from another shell, e.g.:',
    `  export KAFKA_BROKERS=${cluster.bootstrap}`,
    `  kcat -b $KAFKA_BROKERS -L`,
    `  echo 'key|{"a":1}' | kcat -b $KAFKA_BROKERS -t demo -P -K '|'`,
    `  kcat -b $KAFKA_BROKERS -t demo -C -e -J`,
    'Topics auto-create with 4 partitions; admin CreateTopics is refused, pre-create here instead.',
    'Commands (type here): topic <name> <partitions> | broker_down <id> | broker_up <id> | rtt <id> <ms>',
    '  push_errors <ApiKey> <count> <errcode> | partition_leader <topic> <partition> <id> | ping | quit',
    'Ctrl-C (or Ctrl-D / quit) stops the cluster.',
    '',
  ].join('\n'),
);

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await cluster.stop();
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (raw) => {
  const line = raw.trim();
  if (line === '') return;
  if (line === 'quit' || line === 'exit') {
    void shutdown(0);
    return;
  }
  cluster.command(line).then(
    (value) => process.stdout.write(value ? `OK ${value}\n` : 'OK\n'),
    (err: unknown) => process.stdout.write(`${err instanceof Error ? err.message : String(err)}\n`),
  );
});
// Ctrl-D on a terminal stops; EOF on a non-terminal stdin (e.g. `< /dev/null &`) keeps running.
rl.on('close', () => {
  if (process.stdin.isTTY) void shutdown(0);
});

// Keep the process alive while idle (the harness unrefs an idle launcher).
setInterval(() => undefined, 1 << 30);

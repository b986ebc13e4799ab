// kistype: global — service-wide settings: metrics, the Kafka cluster, function modules, row limits, the console.
import * as t from 'io-ts';
import { DEFAULT_ROW_LIMITS } from '../../kernel/limits.js';
import { closed } from '../closed.js';
import { splitList, type GlobalConfig, type KafkaClusterConfig } from '../model.js';
import { NonEmptyString, NonNegativeInt, PositiveInt } from '../primitives.js';
import { docError } from '../report.js';
import { defineKind, originOf } from './kind.js';
import { PlatformCodec, platformOf } from './platform.js';

export const KafkaTlsCodec = closed('KafkaTls', {}, {
  ca: t.string,
  cert: t.string,
  key: t.string,
  reject_unauthorized: t.boolean,
}, 'TLS to the brokers. Values are PEM text (use ${VAR} to read them from Secrets).', {
  ca: 'CA certificate(s), PEM.',
  cert: 'Client certificate, PEM (mutual TLS).',
  key: 'Client key, PEM (mutual TLS).',
  reject_unauthorized: 'Verify the brokers\' certificates (default true).',
});

export const KafkaSaslCodec = closed('KafkaSasl', {
  mechanism: t.keyof({ plain: null, 'scram-sha-256': null, 'scram-sha-512': null }),
  username: NonEmptyString,
  password: t.string,
}, {}, 'SASL authentication. Write the password as ${VAR}, never in the YAML.', {
  mechanism: 'plain, scram-sha-256 or scram-sha-512.',
  username: 'The user.',
  password: 'The password (from the environment: ${KAFKA_PASSWORD}).',
});

export const KafkaClusterCodec = closed('KafkaCluster', {
  brokers: t.union([t.string, t.array(NonEmptyString)]),
}, {
  client_id: NonEmptyString,
  tls: t.union([t.boolean, KafkaTlsCodec]),
  sasl: KafkaSaslCodec,
  connection_timeout_ms: PositiveInt,
}, 'The Kafka cluster every kafka source and connector uses unless it sets its own addrs.', {
  brokers: "Bootstrap brokers, 'host:port,host:port' or a list. An empty string (e.g. '${KAFKA_BROKERS:-}' unset) means embedded mode.",
  client_id: 'Kafka client id (default: app_id).',
  tls: 'true for TLS with the system CAs, or a mapping with ca / cert / key / reject_unauthorized.',
  sasl: 'SASL credentials.',
  connection_timeout_ms: 'How long one connection attempt to a broker may take (default 3000).',
});

export const LimitsCodec = closed('KisLimits', {}, {
  max_depth: PositiveInt,
  max_bytes: PositiveInt,
  max_keys: PositiveInt,
}, 'Bounds on what one row may cost. Every row is checked where it enters a flow; a row past a bound goes to the ' +
  "flow's dead-letter topic (code KIS_ERR_ROW_LIMIT, the reason names the bound) before any function sees it, and " +
  'a dead letter too large to write whole is written as a placeholder with a preview.', {
  max_depth: `Nesting of mappings and lists at most; the row itself is level 1 (default ${DEFAULT_ROW_LIMITS.maxDepth}).`,
  max_bytes: `Size of the row's JSON text in bytes (UTF-8) at most (default ${DEFAULT_ROW_LIMITS.maxBytes}, 1 MiB). Also the budget of a dead letter's JSON.`,
  max_keys: `Keys of all the row's mappings together at most (default ${DEFAULT_ROW_LIMITS.maxKeys}).`,
});

export const GlobalCodec = closed('KisGlobal', {
  kistype: t.literal('global'),
}, {
  prometheus_enable: t.boolean,
  prometheus_listen: t.boolean,
  prometheus_serve: NonEmptyString,
  app_id: NonEmptyString,
  kafka: KafkaClusterCodec,
  functions: t.array(NonEmptyString),
  drain_timeout_ms: PositiveInt,
  reload_interval_ms: NonNegativeInt,
  limits: LimitsCodec,
  platform: PlatformCodec,
}, 'Service-wide settings: metrics, the Kafka cluster, where function modules live, the console.', {
  kistype: 'Always global: tells the loader what this document is.',
  prometheus_enable: 'Answer /metrics with the Prometheus metrics (kisflow run collects them either way).',
  prometheus_listen: 'Serve the HTTP endpoints (/metrics, /healthz, /readyz) on prometheus_serve.',
  prometheus_serve: "host:port of the HTTP endpoints, e.g. '0.0.0.0:20004'.",
  app_id: 'Names consumer groups and internal topics (default: kisflow).',
  kafka: 'The Kafka cluster. Absent: connectors of type kafka run on the embedded in-process log.',
  functions: 'Function modules (files or folders, relative to the config directory) whose default export registers FaaS/CaaS in the pool.',
  drain_timeout_ms: 'On SIGTERM, how long in-flight batches may take to finish and commit before the process exits anyway (default 30000).',
  reload_interval_ms: 'How often kisflow run looks for a changed config directory (Kafka mode); 0 turns hot reload off (default 2000).',
  limits: 'Bounds on every row (depth, size, keys); see the defaults below.',
  platform: 'The web console and its JSON API (users, sessions, where it listens). Absent: not served.',
});
export type GlobalDoc = t.TypeOf<typeof GlobalCodec>;

export const globalKind = defineKind({
  kistype: 'global',
  codec: GlobalCodec,
  idOf: () => 'global',
  collect(entries, ctx) {
    for (const e of entries.slice(1)) {
      ctx.errors.push(docError('KIS_ERR_CONFIG_DUPLICATE', e.doc, ['kistype'],
        `a second kistype: global document; the first is ${entries[0]!.doc.file} doc ${entries[0]!.doc.index}`));
    }
    const g = entries[0];
    const v = g?.value;
    const brokers = splitList(v?.kafka?.brokers);
    const platform = g ? platformOf(v?.platform, g.doc, ctx.dir, ctx.env, ctx.errors) : undefined;
    ctx.global = {
      appId: v?.app_id ?? 'kisflow',
      prometheus: {
        enable: v?.prometheus_enable ?? false,
        listen: v?.prometheus_listen ?? false,
        serve: v?.prometheus_serve ?? '0.0.0.0:20004',
      },
      kafka: brokers.length > 0 ? {
        brokers,
        clientId: v?.kafka?.client_id ?? v?.app_id ?? 'kisflow',
        tls: tlsOf(v?.kafka?.tls),
        sasl: v?.kafka?.sasl,
        connectionTimeoutMs: v?.kafka?.connection_timeout_ms ?? 3000,
      } : undefined,
      drainTimeoutMs: v?.drain_timeout_ms ?? 30000,
      reloadIntervalMs: v?.reload_interval_ms ?? 2000,
      functions: v?.functions ?? [],
      limits: {
        maxDepth: v?.limits?.max_depth ?? DEFAULT_ROW_LIMITS.maxDepth,
        maxBytes: v?.limits?.max_bytes ?? DEFAULT_ROW_LIMITS.maxBytes,
        maxKeys: v?.limits?.max_keys ?? DEFAULT_ROW_LIMITS.maxKeys,
      },
      ...(platform ? { platform } : {}),
      origin: g ? originOf(g.doc) : undefined,
      doc: v,
    } satisfies GlobalConfig;
    if (g) ctx.keep('global', 'global', g.doc);
  },
  check() {},
});

function tlsOf(v: NonNullable<GlobalDoc['kafka']>['tls'] | undefined): KafkaClusterConfig['tls'] {
  if (v === undefined || typeof v === 'boolean') return v;
  return {
    ...(v.ca !== undefined ? { ca: v.ca } : {}),
    ...(v.cert !== undefined ? { cert: v.cert } : {}),
    ...(v.key !== undefined ? { key: v.key } : {}),
    ...(v.reject_unauthorized !== undefined ? { rejectUnauthorized: v.reject_unauthorized } : {}),
  };
}

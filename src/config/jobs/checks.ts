// Checks between job documents and the rest of the config: the flow or handler a job runs exists, its
// children exist, and children never form a cycle. Every error names the file, document and path.
import { docError } from '../report.js';
import { formatPath, type PathSegment, type YamlDoc } from '../yaml-docs.js';
import { KisError, type KisErrorCode } from '../../kernel/errors.js';
import type { JobConfig } from './codec.js';

function jobError(code: KisErrorCode, job: JobConfig, path: readonly PathSegment[], what: string, docs?: ReadonlyMap<string, YamlDoc>): KisError {
  const doc = docs?.get(job.id);
  if (doc) return docError(code, doc, path, what);
  const { file, doc: index } = job.origin;
  return new KisError(code, `${file} doc ${index} at ${formatPath(path)}: ${what}`, { context: { file, doc: index, path: formatPath(path) } });
}

/**
 * The reference checks of a set of jobs. `flowIds` are the flows of the config, `handlerNames` the handlers
 * the function modules registered; `docs` (from normaliseJobs) adds line and column to the messages.
 */
export function checkJobs(
  jobs: readonly JobConfig[],
  flowIds: Iterable<string>,
  handlerNames: Iterable<string>,
  docs?: ReadonlyMap<string, YamlDoc>,
): KisError[] {
  const errors: KisError[] = [];
  const flows = new Set(flowIds);
  const handlers = new Set(handlerNames);
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const job of jobs) {
    if (job.runs.kind === 'flow' && !flows.has(job.runs.flow)) {
      errors.push(jobError('KIS_ERR_CONFIG_REFERENCE', job, ['runs', 'flow'],
        `job '${job.id}' runs flow '${job.runs.flow}', which no flow document declares${hint(job.runs.flow, flows)}`, docs));
    }
    if (job.runs.kind === 'handler' && !handlers.has(job.runs.handler)) {
      errors.push(jobError('KIS_ERR_JOB_HANDLER', job, ['runs', 'handler'],
        `job '${job.id}' runs handler '${job.runs.handler}', which no function module registered${hint(job.runs.handler, handlers)}`, docs));
    }
    job.children.forEach((child, i) => {
      if (!byId.has(child)) errors.push(jobError('KIS_ERR_CONFIG_REFERENCE', job, ['children', i], `job '${job.id}' has child '${child}', which no job document declares`, docs));
    });
  }
  for (const cycle of cycles(jobs, byId)) {
    const first = byId.get(cycle[0]!)!;
    const places = cycle.map((id) => `${id} (${byId.get(id)!.origin.file} doc ${byId.get(id)!.origin.doc})`).join(' -> ');
    errors.push(jobError('KIS_ERR_JOB_CYCLE', first, ['children'], `children form a cycle: ${places} -> ${cycle[0]}`, docs));
  }
  return errors;
}

/** Each cycle once, starting at its smallest id (depth-first search, white/grey/black). */
function cycles(jobs: readonly JobConfig[], byId: ReadonlyMap<string, JobConfig>): string[][] {
  const state = new Map<string, 1 | 2>();
  const found = new Map<string, string[]>();
  const stack: string[] = [];
  const visit = (id: string): void => {
    state.set(id, 1);
    stack.push(id);
    for (const c of byId.get(id)?.children ?? []) {
      if (!byId.has(c)) continue;
      const s = state.get(c);
      if (s === 1) {
        const cyc = stack.slice(stack.indexOf(c));
        const min = cyc.reduce((a, b) => (b < a ? b : a));
        const rotated = [...cyc.slice(cyc.indexOf(min)), ...cyc.slice(0, cyc.indexOf(min))];
        found.set(rotated.join('\u0000'), rotated);
      } else if (s === undefined) {
        visit(c);
      }
    }
    stack.pop();
    state.set(id, 2);
  };
  for (const j of [...jobs].sort((a, b) => (a.id < b.id ? -1 : 1))) if (!state.has(j.id)) visit(j.id);
  return [...found.values()];
}

function hint(name: string, known: ReadonlySet<string>): string {
  if (known.size === 0) return '';
  const list = [...known].slice(0, 8).join(', ');
  return ` (known: ${list}${known.size > 8 ? ', ...' : ''})`;
}

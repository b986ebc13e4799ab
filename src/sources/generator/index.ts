// Source type `generator`: rows made from a template (demos, load tests).
import { GeneratorSourceParams, type GeneratorSourceParamsT } from '../../config/codecs.js';
import type { SourceTypeSpec, TypeIssue } from '../../core/plugins.js';
import { GeneratorSource } from './generator-source.js';

export const generatorSourceType: SourceTypeSpec<GeneratorSourceParamsT> = {
  name: 'generator',
  description: 'Rows made from a template, a count or endless.',
  params: GeneratorSourceParams,
  check(params): TypeIssue[] {
    if ((params.partitions ?? 1) > 1 && params.key === undefined) {
      return [{ path: ['params', 'partitions'], message: 'a generator with partitions > 1 needs params.key (the fields that choose the partition)' }];
    }
    return [];
  },
  partitions: (params) => params.partitions ?? 1,
  create: (sc, params) => new GeneratorSource(sc.sid, params),
};

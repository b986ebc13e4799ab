// kisflow graph: the config as a Mermaid flowchart, sources -> flows -> functions -> connectors -> flows.
import type { KisConfig } from '../config/model.js';

function label(text: string): string {
  return '"' + text.replace(/"/g, '#quot;') + '"';
}

export function mermaidGraph(config: KisConfig): string {
  const lines = ['flowchart LR'];
  let n = 0;
  const ids = new Map<string, string>();
  const id = (key: string): string => {
    let v = ids.get(key);
    if (!v) {
      v = `n${++n}`;
      ids.set(key, v);
    }
    return v;
  };
  for (const s of config.sources.values()) {
    lines.push(`  ${id(`source:${s.sid}`)}[/${label(`source ${s.sid} (${s.type})`)}/]`);
  }
  for (const c of config.conns.values()) {
    lines.push(`  ${id(`conn:${c.cid}`)}[(${label(`conn ${c.cid} (${c.type})`)})]`);
  }
  for (const f of config.flows.values()) {
    lines.push(`  subgraph ${id(`flow:${f.id}`)}[${label(`flow ${f.id}${f.enabled ? '' : ' (disabled)'}`)}]`);
    f.steps.forEach((s, i) => {
      const fn = config.funcs.get(s.fid);
      lines.push(`    ${id(`step:${f.id}:${i}`)}[${label(`${s.fid}<br/>${fn?.mode ?? '?'}${fn && fn.fname !== s.fid ? ` · ${fn.fname}` : ''}`)}]`);
    });
    f.steps.slice(1).forEach((_, i) => lines.push(`    ${id(`step:${f.id}:${i}`)} --> ${id(`step:${f.id}:${i + 1}`)}`));
    lines.push('  end');
  }
  for (const s of config.sources.values()) {
    for (const fid of s.flows) {
      if (config.flows.has(fid)) lines.push(`  ${id(`source:${s.sid}`)} --> ${id(`step:${fid}:0`)}`);
    }
  }
  for (const f of config.flows.values()) {
    f.steps.forEach((s, i) => {
      const fn = config.funcs.get(s.fid);
      if (!fn?.cid || !config.conns.has(fn.cid)) return;
      const step = id(`step:${f.id}:${i}`);
      const conn = id(`conn:${fn.cid}`);
      if (fn.mode === 'Save') lines.push(`  ${step} -->|save| ${conn}`);
      if (fn.mode === 'Load') lines.push(`  ${conn} -.->|load| ${step}`);
    });
  }
  return lines.join('\n') + '\n';
}

// Where the console puts the flow graph's nodes (src/console/graph-layout.ts is pure: no DOM).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Graph, GraphNode } from '../../src/api/contract.js';
import { layoutGraph } from '../../src/console/graph-layout.js';

const live = { in_per_s: 0, out_per_s: 0 };
const node = (id: string, kind: GraphNode['kind'], flow?: string): GraphNode => ({ id, kind, label: id.split(/[:/]/).pop()!, type: 't', live, ...(flow ? { flow } : {}) });

describe('graph layout', () => {
  test('columns go source, flow, functions in step order, connectors; a flow and its functions share a row', () => {
    const graph: Graph = {
      nodes: [
        node('connector:C', 'connector'),
        node('function:A/a2', 'function', 'A'), node('function:A/a1', 'function', 'A'),
        node('function:B/b1', 'function', 'B'),
        node('flow:A', 'flow'), node('flow:B', 'flow'),
        node('source:s', 'source'), node('source:t', 'source'),
      ],
      edges: [
        { from: 'source:s', to: 'flow:A', kind: 'feeds' },
        { from: 'source:t', to: 'flow:B', kind: 'feeds' },
        { from: 'flow:A', to: 'function:A/a1', kind: 'step' },
        { from: 'function:A/a1', to: 'function:A/a2', kind: 'step' },
        { from: 'function:A/a2', to: 'connector:C', kind: 'save' },
        { from: 'flow:B', to: 'function:B/b1', kind: 'step' },
        { from: 'connector:C', to: 'function:B/b1', kind: 'load' },
      ],
    };
    const layout = layoutGraph(graph);
    const at = Object.fromEntries(layout.nodes.map((p) => [p.id, [p.col, p.row]]));
    assert.deepEqual(at, {
      'flow:A': [1, 0], 'flow:B': [1, 1],
      'function:A/a1': [2, 0], 'function:A/a2': [3, 0], 'function:B/b1': [2, 1],
      'source:s': [0, 0], 'source:t': [0, 1],
      // Between the rows it touches (A saves into it, B loads from it), rounded.
      'connector:C': [4, 1],
    });
    assert.equal(layout.cols, 5);
    assert.equal(layout.rows, 2);
  });

  test('no two nodes share a cell, even when several sources feed one flow', () => {
    const graph: Graph = {
      nodes: [node('flow:A', 'flow'), node('source:s1', 'source'), node('source:s2', 'source'), node('source:s3', 'source'), node('function:A/x', 'function', 'A')],
      edges: [
        { from: 'source:s1', to: 'flow:A', kind: 'feeds' }, { from: 'source:s2', to: 'flow:A', kind: 'feeds' }, { from: 'source:s3', to: 'flow:A', kind: 'feeds' },
        // No step edge reaches x: it still sits on its flow's row.
      ],
    };
    const layout = layoutGraph(graph);
    const cells = layout.nodes.map((p) => `${p.col}:${p.row}`);
    assert.equal(new Set(cells).size, cells.length);
    assert.deepEqual(layout.nodes.filter((p) => p.id.startsWith('source:')).map((p) => p.row).sort(), [0, 1, 2]);
    assert.deepEqual(layout.nodes.find((p) => p.id === 'function:A/x'), { id: 'function:A/x', col: 2, row: 0 });
    assert.equal(layout.rows, 3);
  });
});

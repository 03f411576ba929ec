// Layout of a flow's topology, top to bottom: the server gives `overture graph`'s nodes and
// edges, this puts each node in a layer (its longest path from a start) and a place in that layer.

export interface GraphNode {
  key: string;
  id: string;
  type: string;
  label: string;
  section: string;
  depth: number;
  group: string | null;
}

export interface GraphEdge {
  source: string;
  target: string;
  label: string;
  dashed: boolean;
}

export interface Placed extends GraphNode {
  x: number;
  y: number;
}

export const NODE_W = 180;
export const NODE_H = 44;
const GAP_X = 36; // between layers
const GAP_Y = 14; // beside each other

export function layout(nodes: GraphNode[], edges: GraphEdge[]): { placed: Placed[]; width: number; height: number } {
  const incoming = new Map<string, string[]>();
  for (const e of edges) incoming.set(e.target, [...(incoming.get(e.target) ?? []), e.source]);
  const column = new Map<string, number>();
  const visiting = new Set<string>();
  const columnOf = (key: string): number => {
    const known = column.get(key);
    if (known !== undefined) return known;
    if (visiting.has(key)) return 0; // a cycle: validation reports it; draw it anyway
    visiting.add(key);
    const value = Math.max(-1, ...(incoming.get(key) ?? []).map(columnOf)) + 1;
    visiting.delete(key);
    column.set(key, value);
    return value;
  };
  const rows = new Map<number, number>();
  const placed = nodes.map((node) => {
    const c = columnOf(node.key);
    const r = rows.get(c) ?? 0;
    rows.set(c, r + 1);
    return { ...node, x: 10 + r * (NODE_W + GAP_Y), y: 10 + c * (NODE_H + GAP_X) };
  });
  const width = Math.max(0, ...placed.map((p) => p.x + NODE_W)) + 10;
  const height = Math.max(0, ...placed.map((p) => p.y + NODE_H)) + 10;
  return { placed, width, height };
}

const ORDER = ["FAILED", "RUNNING", "RETRYING", "PAUSED", "KILLING", "KILLED", "WARNING", "QUEUED", "CREATED", "SUCCESS", "CANCELLED", "SKIPPED"];

/** One state per task id from its runs (an `each` has many): the one that most needs attention. */
export function statesByTask(runs: { taskId: string; state: string }[]): Map<string, { state: string; count: number }> {
  const found = new Map<string, { state: string; count: number }>();
  for (const run of runs) {
    const seen = found.get(run.taskId);
    if (!seen) found.set(run.taskId, { state: run.state, count: 1 });
    else {
      seen.count += 1;
      if (ORDER.indexOf(run.state) < ORDER.indexOf(seen.state)) seen.state = run.state;
    }
  }
  return found;
}

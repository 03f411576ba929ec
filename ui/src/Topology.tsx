import { layout, NODE_H, NODE_W, statesByTask } from "./graph";
import type { GraphEdge, GraphNode } from "./graph";
import { STATE_COLORS } from "./format";

export function Topology(props: { nodes: GraphNode[]; edges: GraphEdge[]; runs?: { taskId: string; state: string }[] }) {
  const { placed, width, height } = layout(props.nodes, props.edges);
  const at = new Map(placed.map((p) => [p.key, p]));
  const states = props.runs ? statesByTask(props.runs) : null;
  return (
    <div class="topology" data-testid="topology">
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" fill="#8896a6" />
          </marker>
        </defs>
        {props.edges.map((e, i) => {
          const a = at.get(e.source);
          const b = at.get(e.target);
          if (!a || !b) return null;
          const x1 = a.x + NODE_W / 2;
          const y1 = a.y + NODE_H;
          const x2 = b.x + NODE_W / 2;
          const y2 = b.y;
          const mid = (y1 + y2) / 2;
          return (
            <g key={i}>
              <path
                d={`M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`}
                fill="none"
                stroke="#8896a6"
                stroke-dasharray={e.dashed ? "5 4" : undefined}
                marker-end="url(#arrow)"
              />
              {e.label ? (
                <text x={(x1 + x2) / 2 + 4} y={mid + 3} class="edge-label">
                  {e.label}
                </text>
              ) : null}
            </g>
          );
        })}
        {placed.map((n) => {
          const found = states?.get(n.id);
          const fill = found ? STATE_COLORS[found.state] ?? "#ddd" : n.section === "tasks" ? "#eef3f8" : "#fff6e8";
          return (
            <g key={n.key} data-task={n.id} data-state={found?.state ?? ""} class="node">
              <rect x={n.x} y={n.y} width={NODE_W} height={NODE_H} rx={6} fill={fill} stroke="#5b6b7c" />
              <text x={n.x + 8} y={n.y + 18} class={found ? "node-id on-state" : "node-id"}>
                {n.id.length > 22 ? n.id.slice(0, 21) + "…" : n.id}
                {found && found.count > 1 ? ` ×${found.count}` : ""}
              </text>
              <text x={n.x + 8} y={n.y + 35} class={found ? "node-type on-state" : "node-type"}>
                {n.label.length > 28 ? n.label.slice(0, 27) + "…" : n.label}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

// A Gantt of task runs. The runs of one task (the iterations of an `each`) are one collapsed
// row with their span and a count per state; opened, each run is a row. Rows are virtualised,
// so a 2,000-item each costs the DOM of the rows in view.
import { useMemo, useState } from "preact/hooks";
import { span, STATE_COLORS } from "../format";
import { VirtualList } from "../virtual";

export interface Run {
  id: string;
  taskId: string;
  state: string;
  startDate?: string | null;
  endDate?: string | null;
  iteration?: number | null;
  attempts?: { attempt: number; job: string; state: string; pod?: string | null; message?: string | null }[];
  outputs?: Record<string, unknown> | null;
  outputsStored?: { job: string; size: number } | null;
  message?: string | null;
}

interface Line {
  kind: "group" | "run";
  taskId: string;
  runs: Run[];
  label: string;
}

export function lines(runs: Run[], open: Set<string>): Line[] {
  const groups = new Map<string, Run[]>();
  for (const run of runs) groups.set(run.taskId, [...(groups.get(run.taskId) ?? []), run]);
  const result: Line[] = [];
  for (const [taskId, members] of groups) {
    if (members.length === 1) result.push({ kind: "run", taskId, runs: members, label: members[0].id });
    else {
      result.push({ kind: "group", taskId, runs: members, label: `${taskId} (${members.length} runs)` });
      if (open.has(taskId)) for (const run of members) result.push({ kind: "run", taskId, runs: [run], label: run.id });
    }
  }
  return result;
}

function bounds(runs: Run[]): [number, number] | null {
  const starts = runs.map((r) => (r.startDate ? Date.parse(r.startDate) : NaN)).filter((t) => !isNaN(t));
  if (!starts.length) return null;
  const ends = runs.map((r) => (r.endDate ? Date.parse(r.endDate) : Date.now()));
  return [Math.min(...starts), Math.max(...ends)];
}

export function Gantt(props: { runs: Run[]; start?: string | null; end?: string | null; onPick?: (run: Run) => void }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const rows = useMemo(() => lines(props.runs, open), [props.runs, open]);
  const t0 = props.start ? Date.parse(props.start) : (bounds(props.runs)?.[0] ?? Date.now());
  const t1 = Math.max(props.end ? Date.parse(props.end) : Date.now(), t0 + 1000);
  const x = (t: number) => `${(((t - t0) / (t1 - t0)) * 100).toFixed(2)}%`;
  return (
    <div class="gantt" data-testid="gantt">
      <VirtualList
        items={rows}
        rowHeight={28}
        height={Math.min(rows.length * 28 + 4, 560)}
        row={(line) => {
          const found = bounds(line.runs);
          const counts = new Map<string, number>();
          for (const r of line.runs) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
          const state = line.runs.length === 1 ? line.runs[0].state : [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
          return (
            <div class={`gantt-row ${line.kind}`} data-run={line.kind === "run" ? line.runs[0].id : undefined} data-group={line.kind === "group" ? line.taskId : undefined} data-state={state}>
              <span
                class="gantt-label"
                title={line.label}
                onClick={() => {
                  if (line.kind === "group") {
                    const next = new Set(open);
                    if (next.has(line.taskId)) next.delete(line.taskId);
                    else next.add(line.taskId);
                    setOpen(next);
                  } else props.onPick?.(line.runs[0]);
                }}
              >
                {line.kind === "group" ? (open.has(line.taskId) ? "▾ " : "▸ ") : line.runs.length && line.runs[0].iteration != null ? "   " : ""}
                {line.label}
              </span>
              <span class="gantt-track">
                {found ? (
                  <span
                    class="gantt-bar"
                    style={{ left: x(found[0]), width: `max(2px, calc(${x(found[1])} - ${x(found[0])}))`, background: STATE_COLORS[state] ?? "#999" }}
                    title={`${state} ${span(new Date(found[0]).toISOString(), new Date(found[1]).toISOString())}`}
                  />
                ) : null}
              </span>
              <span class="gantt-state">
                {line.kind === "group"
                  ? [...counts.entries()].map(([s, n]) => (
                      <span class="count" style={{ color: STATE_COLORS[s] }}>
                        {n} {s.toLowerCase()}{" "}
                      </span>
                    ))
                  : state}
              </span>
            </div>
          );
        }}
      />
    </div>
  );
}

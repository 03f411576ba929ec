import { useEffect, useMemo, useState } from "preact/hooks";
import { api, ApiError, ns } from "../api";
import { age, span, StateBadge, STATES } from "../format";
import { Link, navigate, useLocation, withQuery } from "../router";
import { VirtualList } from "../virtual";
import { NamespacePicker } from "./Namespace";

interface Row {
  namespace: string;
  name: string;
  flow: string;
  state: string;
  trigger: string;
  labels: Record<string, string>;
  created: string;
  start: string | null;
  end: string | null;
}

export function filterRows(rows: Row[], state: string, label: string, since: string): Row[] {
  const states = new Set(state.split(",").filter(Boolean));
  const [key, value] = label.includes("=") ? label.split("=", 2).map((s) => s.trim()) : [label.trim(), null];
  const after = since ? Date.parse(since) : NaN;
  return rows.filter(
    (r) =>
      (!states.size || states.has(r.state)) &&
      (!key || (key in r.labels && (value === null || r.labels[key] === value))) &&
      (isNaN(after) || Date.parse(r.created) >= after),
  );
}

export function ExecutionsPage(props: { namespace: string }) {
  const { query } = useLocation();
  const flow = query.get("flow") ?? "";
  const state = query.get("state") ?? "";
  const label = query.get("label") ?? "";
  const since = query.get("since") ?? "";
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    api<{ items: Row[] }>(`${ns(props.namespace)}/executions${flow ? `?flow=${encodeURIComponent(flow)}` : ""}`, undefined, controller.signal)
      .then((answer) => {
        setRows(answer.items);
        setError(null);
      })
      .catch((e: ApiError) => e.name !== "AbortError" && setError(e.message));
    // Every 10 s, less often for big lists: the server reads every execution of the namespace.
    const timer = setTimeout(() => setTick((t) => t + 1), Math.max(10000, (rows?.length ?? 0) * 10));
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [props.namespace, flow, tick]);

  const shown = useMemo(() => filterRows(rows ?? [], state, label, since), [rows, state, label, since]);
  const set = (changes: Record<string, string>) => navigate(withQuery(changes), true);
  const now = Date.now();
  return (
    <div class="page">
      <div class="toolbar">
        <h2>Executions</h2>
        <NamespacePicker namespace={props.namespace} section="executions" />
        <input placeholder="flow" value={flow} data-testid="filter-flow" onChange={(e) => set({ flow: e.currentTarget.value })} />
        <select value={state} data-testid="filter-state" onChange={(e) => set({ state: e.currentTarget.value })}>
          <option value="">any state</option>
          {STATES.map((s) => (
            <option value={s}>{s}</option>
          ))}
          <option value="FAILED,KILLED,CANCELLED">failed, killed or cancelled</option>
          <option value="CREATED,QUEUED,RUNNING,PAUSED,RETRYING">unfinished</option>
        </select>
        <input placeholder="label key[=value]" value={label} data-testid="filter-label" onChange={(e) => set({ label: e.currentTarget.value })} />
        <label class="inline">
          since <input type="datetime-local" value={since} data-testid="filter-since" onChange={(e) => set({ since: e.currentTarget.value })} />
        </label>
        <span class="spacer" />
        <span class="muted" data-testid="count">
          {rows ? `${shown.length} of ${rows.length}` : ""}
        </span>
      </div>
      {error ? <p class="error">{error}</p> : null}
      {rows === null && !error ? <p class="muted">Loading…</p> : null}
      <div class="row header-row exec-grid">
        <span>Name</span>
        <span>Flow</span>
        <span>State</span>
        <span>Trigger</span>
        <span>Created</span>
        <span>Duration</span>
      </div>
      <VirtualList
        items={shown}
        rowHeight={34}
        height="calc(100vh - 190px)"
        testid="executions"
        row={(r) => (
          <div class="row exec-grid" data-execution={r.name}>
            <Link href={`/ns/${r.namespace}/executions/${r.name}`}>{r.name}</Link>
            <Link href={`/ns/${r.namespace}/flows/${r.flow}`} class="muted">
              {props.namespace === "_all" ? `${r.namespace}/` : ""}
              {r.flow}
            </Link>
            <StateBadge state={r.state} />
            <span class="muted">{r.trigger}</span>
            <span class="muted">{age(r.created, now)} ago</span>
            <span class="muted">{span(r.start, r.end)}</span>
          </div>
        )}
      />
    </div>
  );
}

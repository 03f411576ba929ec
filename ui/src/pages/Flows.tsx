import { useEffect, useState } from "preact/hooks";
import { api, ApiError, ns } from "../api";
import { age, StateBadge } from "../format";
import { Link } from "../router";
import { NamespacePicker } from "./Namespace";

interface FlowRow {
  namespace: string;
  name: string;
  ready: boolean | null;
  message: string | null;
  tasks: number | null;
  triggers: string | null;
  suspended: boolean;
  lastExecution: { name: string; state: string; startDate?: string } | null;
}

export function FlowsPage(props: { namespace: string }) {
  const [rows, setRows] = useState<FlowRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState("");
  useEffect(() => {
    setRows(null);
    setError(null);
    api<{ items: FlowRow[] }>(`${ns(props.namespace)}/flows`)
      .then((answer) => setRows(answer.items.sort((a, b) => (a.namespace + a.name).localeCompare(b.namespace + b.name))))
      .catch((e: ApiError) => setError(e.status === 403 ? `You may not list flows in ${props.namespace}: ${e.message}` : e.message));
  }, [props.namespace]);
  const shown = (rows ?? []).filter((r) => !filter || r.name.includes(filter));
  return (
    <div class="page">
      <div class="toolbar">
        <h2>Flows</h2>
        <NamespacePicker namespace={props.namespace} section="flows" />
        <input placeholder="filter by name" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
        <span class="spacer" />
        {props.namespace !== "_all" ? (
          <Link href={`/ns/${props.namespace}/new-flow`} class="button">
            New flow
          </Link>
        ) : null}
      </div>
      {error ? <p class="error" data-testid="error">{error}</p> : null}
      {rows === null && !error ? <p class="muted">Loading…</p> : null}
      {rows !== null ? (
        <table class="list" data-testid="flows">
          <thead>
            <tr>
              <th>Namespace</th>
              <th>Flow</th>
              <th>Ready</th>
              <th>Tasks</th>
              <th>Triggers</th>
              <th>Last run</th>
              <th>Started</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={r.namespace + "/" + r.name} data-flow={r.name}>
                <td class="muted">{r.namespace}</td>
                <td>
                  <Link href={`/ns/${r.namespace}/flows/${r.name}`}>{r.name}</Link>
                  {r.suspended ? <span class="tag">suspended</span> : null}
                </td>
                <td title={r.message ?? ""}>{r.ready === null ? "…" : r.ready ? "Ready" : <span class="error">Invalid</span>}</td>
                <td>{r.tasks ?? ""}</td>
                <td>{r.triggers ?? ""}</td>
                <td>
                  {r.lastExecution ? (
                    <Link href={`/ns/${r.namespace}/executions/${r.lastExecution.name}`}>
                      <StateBadge state={r.lastExecution.state} />
                    </Link>
                  ) : (
                    <span class="muted">never run</span>
                  )}
                </td>
                <td class="muted">{r.lastExecution?.startDate ? `${age(r.lastExecution.startDate)} ago` : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {rows !== null && rows.length === 0 ? <p class="muted">No flows here yet.</p> : null}
    </div>
  );
}

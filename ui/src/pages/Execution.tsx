import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, ns, stream } from "../api";
import { pretty, span, StateBadge, TERMINAL } from "../format";
import { Link, navigate, useLocation, withQuery } from "../router";
import { Topology } from "../Topology";
import type { GraphEdge, GraphNode } from "../graph";
import { Gantt, type Run } from "./Gantt";
import { FilePreview, filesOf, isStoreRef, StoredOutputs } from "./Files";
import { collect, InputField, type DeclaredInput } from "./InputsForm";

interface Execution {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; creationTimestamp: string };
  spec: { flowRef: { name: string }; inputs?: Record<string, unknown>; trigger?: { type?: string }; suspend?: boolean };
  status?: {
    state?: string;
    startDate?: string;
    endDate?: string;
    taskRuns?: Run[];
    flowSpec?: any;
    inputs?: Record<string, unknown>;
    conditions?: { type: string; message?: string; reason?: string }[];
  };
}

interface EventRow {
  type: string;
  reason: string;
  message: string;
  count: number;
  time: string;
}

interface Waiting {
  task: string;
  reason: string;
  message: string;
}

const TABS = [
  ["gantt", "Gantt"],
  ["topology", "Topology"],
  ["io", "Inputs & outputs"],
  ["logs", "Logs"],
  ["events", "Events"],
];

function waitingPause(execution: Execution): { id: string; onResume: DeclaredInput[] } | null {
  const paused = execution.status?.taskRuns?.find((r) => r.state === "PAUSED");
  if (!paused || !execution.status?.flowSpec) return null;
  const find = (tasks: any[] | undefined): any => {
    for (const t of tasks ?? []) {
      if (t.id === paused.taskId) return t;
      for (const key of ["tasks", "then", "else", "default"]) {
        const inner = find(t[key]);
        if (inner) return inner;
      }
      for (const c of t.cases ?? []) {
        const inner = find(c.tasks);
        if (inner) return inner;
      }
    }
    return null;
  };
  const spec = execution.status.flowSpec;
  const task = find([...(spec.tasks ?? []), ...(spec.errors ?? []), ...(spec.finally ?? [])]);
  return task?.type === "pause" ? { id: task.id, onResume: task.onResume ?? [] } : null;
}

export function ExecutionPage(props: { namespace: string; name: string }) {
  const { query } = useLocation();
  const tab = query.get("tab") || "gantt";
  const [execution, setExecution] = useState<Execution | null>(null);
  const [events, setEvents] = useState<{ events: EventRow[]; waiting: Waiting[] }>({ events: [], waiting: [] });
  const [error, setError] = useState<string | null>(null);
  const [updates, setUpdates] = useState(0);
  const [graph, setGraph] = useState<{ nodes: GraphNode[]; edges: GraphEdge[] } | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    let retry: ReturnType<typeof setTimeout> | undefined;
    const connect = () =>
      stream(
        `${ns(props.namespace)}/executions/${props.name}/live`,
        (event, data) => {
          if (event === "execution") {
            setExecution(data);
            setUpdates((n) => n + 1);
          } else if (event === "events") setEvents(data);
          else if (event === "failure") setError(data.error);
          else if (event === "deleted") setError("This execution was deleted.");
        },
        controller.signal,
      )
        .then(() => {
          if (!controller.signal.aborted) retry = setTimeout(connect, 1000); // the watch timed out: again
        })
        .catch((e) => {
          if (controller.signal.aborted) return;
          setError(e instanceof ApiError ? e.message : String(e));
          retry = setTimeout(connect, 3000);
        });
    connect();
    return () => {
      controller.abort();
      clearTimeout(retry);
    };
  }, [props.namespace, props.name]);

  const flowSpec = execution?.status?.flowSpec;
  useEffect(() => {
    if (!flowSpec) return;
    api<{ nodes: GraphNode[]; edges: GraphEdge[] }>(`${ns(props.namespace)}/flows/-/graph`, { spec: flowSpec })
      .then(setGraph)
      .catch(() => undefined);
  }, [JSON.stringify(flowSpec ?? null)]);

  if (!execution) return <div class="page">{error ? <p class="error">{error}</p> : <p class="muted">Loading…</p>}</div>;
  const status = execution.status ?? {};
  const state = status.state ?? "CREATED";
  const runs = status.taskRuns ?? [];
  const ended = TERMINAL.has(state);
  const problem = status.conditions?.find((c) => c.type === "Succeeded" && c.message)?.message;
  return (
    <div class="page execution-page" data-testid="execution" data-state={state} data-updates={updates}>
      <div class="toolbar">
        <h2>
          <Link href={`/ns/${props.namespace}/executions`}>Executions</Link> / {props.name}
        </h2>
        <StateBadge state={state} />
        <span class="muted">
          flow <Link href={`/ns/${props.namespace}/flows/${execution.spec.flowRef.name}`}>{execution.spec.flowRef.name}</Link> ·{" "}
          {execution.spec.trigger?.type ?? "manual"} · {span(status.startDate, status.endDate)}
        </span>
        <span class="spacer" />
        <Actions namespace={props.namespace} execution={execution} />
      </div>
      {problem && (state === "FAILED" || state === "KILLED") ? <p class="error">{problem}</p> : null}
      {error ? <p class="error">{error}</p> : null}
      {events.waiting.length ? (
        <div class="note" data-testid="waiting">
          <strong>Not running yet:</strong>
          <ul>
            {events.waiting.map((w) => (
              <li>
                <code>{w.task}</code> {w.reason}: {w.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <nav class="tabs">
        {TABS.map(([key, label]) => (
          <a
            href={withQuery({ tab: key === "gantt" ? "" : key })}
            class={tab === key ? "active" : ""}
            data-testid={`tab-${key}`}
            onClick={(e) => {
              e.preventDefault();
              navigate(withQuery({ tab: key === "gantt" ? "" : key }), true);
            }}
          >
            {label}
            {key === "events" && events.events.length ? ` (${events.events.length})` : ""}
          </a>
        ))}
      </nav>
      {tab === "gantt" ? (
        <Gantt runs={runs} start={status.startDate} end={ended ? status.endDate : null} onPick={(run) => navigate(withQuery({ tab: "logs", run: run.id }))} />
      ) : null}
      {tab === "topology" ? graph ? <Topology nodes={graph.nodes} edges={graph.edges} runs={runs} /> : <p class="muted">…</p> : null}
      {tab === "io" ? <InputsOutputs namespace={props.namespace} execution={execution} /> : null}
      {tab === "logs" ? <Logs namespace={props.namespace} execution={props.name} runs={runs} /> : null}
      {tab === "events" ? <Events events={events.events} /> : null}
    </div>
  );
}

function InputsOutputs(props: { namespace: string; execution: Execution }) {
  const name = props.execution.metadata.name;
  const inputs = props.execution.status?.inputs ?? props.execution.spec.inputs ?? {};
  const inputFiles = Object.entries(inputs).filter((e): e is [string, string] => isStoreRef(e[1]));
  const runs = (props.execution.status?.taskRuns ?? []).filter((r) => (r.outputs && Object.keys(r.outputs).length) || r.outputsStored);
  const file = (uri: string) => <FilePreview namespace={props.namespace} execution={name} uri={uri} />;
  return (
    <div class="io" data-testid="io">
      <h3>Inputs</h3>
      <pre data-testid="inputs">{pretty(inputs)}</pre>
      {inputFiles.map(([id, uri]) => (
        <div data-input-file={id}>
          <strong>{id}</strong> {file(uri)}
        </div>
      ))}
      <h3>Outputs</h3>
      {runs.length === 0 ? <p class="muted">No outputs yet.</p> : null}
      <table class="list">
        <tbody>
          {runs.slice(0, 500).map((r) => [
            ...Object.entries(r.outputs ?? {}).map(([key, value]) => {
              const files = key === "files" ? filesOf(r.outputs) : [];
              if (files.length)
                return files.map(([path, uri]) => (
                  <tr data-file-output={`${r.id}:${path}`}>
                    <td>
                      <code>{r.id}</code>
                    </td>
                    <td>files['{path}']</td>
                    <td>{file(uri)}</td>
                  </tr>
                ));
              return (
                <tr data-output={`${r.id}.${key}`}>
                  <td>
                    <code>{r.id}</code>
                  </td>
                  <td>{key}</td>
                  <td>
                    <pre class="value">{pretty(value)}</pre>
                  </td>
                </tr>
              );
            }),
            r.outputsStored ? (
              <tr data-stored-outputs={r.id}>
                <td>
                  <code>{r.id}</code>
                </td>
                <td>all</td>
                <td>
                  <StoredOutputs namespace={props.namespace} execution={name} job={r.outputsStored.job} size={r.outputsStored.size} />
                </td>
              </tr>
            ) : null,
          ])}
        </tbody>
      </table>
      {runs.length > 500 ? <p class="muted">{runs.length - 500} more task runs with outputs; see `overture get execution`.</p> : null}
    </div>
  );
}

function Events(props: { events: EventRow[] }) {
  if (!props.events.length) return <p class="muted">No Events (progress Events are off by default; warnings and the end are always posted).</p>;
  return (
    <table class="list" data-testid="events">
      <thead>
        <tr>
          <th>Type</th>
          <th>Reason</th>
          <th>Message</th>
          <th>Count</th>
          <th>Time</th>
        </tr>
      </thead>
      <tbody>
        {[...props.events]
          .sort((a, b) => (a.time ?? "").localeCompare(b.time ?? ""))
          .map((e) => (
            <tr class={e.type === "Warning" ? "warning" : ""}>
              <td>{e.type}</td>
              <td>{e.reason}</td>
              <td>{e.message}</td>
              <td>{e.count}</td>
              <td class="muted">{e.time}</td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}

function Logs(props: { namespace: string; execution: string; runs: Run[] }) {
  const { query } = useLocation();
  const withPods = props.runs.filter((r) => r.attempts?.length);
  const runId = query.get("run") || withPods[0]?.id || "";
  const run = withPods.find((r) => r.id === runId);
  const attemptNo = Number(query.get("attempt") || run?.attempts?.[run.attempts.length - 1]?.attempt || 1);
  const attempt = run?.attempts?.find((a) => a.attempt === attemptNo);
  const [lines, setLines] = useState<string[]>([]);
  const [note, setNote] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const box = useRef<HTMLPreElement>(null);
  const attemptState = attempt?.state;
  const running = attemptState === "RUNNING" || attemptState === "CREATED";

  useEffect(() => {
    if (!attempt) return;
    const controller = new AbortController();
    setLines([]);
    setNote(null);
    setLive(true);
    stream(
      `${ns(props.namespace)}/executions/${props.execution}/logs?job=${encodeURIComponent(attempt.job)}&follow=${running ? 1 : 0}`,
      (event, data) => {
        if (event === "lines") {
          setLines((old) => [...old, ...data.lines]);
          if (data.archived) setNote("The pod is gone: this is the log archived in the artifact store.");
        }
        else if (event === "note") setNote(data.message);
        else if (event === "failure") setNote(data.status === 400 ? "The container has not started yet." : data.error);
      },
      controller.signal,
    )
      .catch((e) => !controller.signal.aborted && setNote(String(e)))
      .finally(() => setLive(false));
    return () => controller.abort();
  }, [attempt?.job, running ? "live" : attemptState]);

  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines.length]);

  if (!withPods.length) return <p class="muted">No task attempt has a pod yet.</p>;
  return (
    <div class="logs" data-testid="logs">
      <div class="toolbar">
        <select value={runId} data-testid="log-run" onChange={(e) => navigate(withQuery({ run: e.currentTarget.value, attempt: "" }), true)}>
          {withPods.slice(0, 5000).map((r) => (
            <option value={r.id}>
              {r.id} ({r.state})
            </option>
          ))}
        </select>
        {run && (run.attempts?.length ?? 0) > 1 ? (
          <select value={String(attemptNo)} onChange={(e) => navigate(withQuery({ attempt: e.currentTarget.value }), true)}>
            {run.attempts!.map((a) => (
              <option value={String(a.attempt)}>
                attempt {a.attempt} ({a.state})
              </option>
            ))}
          </select>
        ) : null}
        <span class="muted">{live ? "● live" : ""}</span>
      </div>
      {note ? <p class="note" data-testid="log-note">{note}</p> : null}
      {attempt?.message ? <p class="muted">{attempt.message}</p> : null}
      <pre ref={box} class="log" data-testid="log-text">
        {lines.join("\n")}
      </pre>
    </div>
  );
}

function Actions(props: { namespace: string; execution: Execution }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [resumeValues, setResumeValues] = useState<Record<string, string | boolean>>({});
  const [replayFrom, setReplayFrom] = useState("");
  const state = props.execution.status?.state ?? "CREATED";
  const ended = TERMINAL.has(state);
  const name = props.execution.metadata.name;
  const pause = waitingPause(props.execution);
  const top: string[] = (props.execution.status?.flowSpec?.tasks ?? []).map((t: any) => t.id);
  const act = async (action: string, body: object = {}) => {
    setBusy(true);
    setError(null);
    try {
      const answer = await api<{ name?: string }>(`${ns(props.namespace)}/executions/${name}/${action}`, body);
      if (answer.name) navigate(`/ns/${props.namespace}/executions/${answer.name}`);
    } catch (e) {
      const err = e as ApiError;
      setError([err.message, ...(err.problems ?? []).map((p) => p.message)].join("; "));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="actions" data-testid="actions">
      {!ended && !props.execution.spec.suspend && !pause ? (
        <button disabled={busy} data-action="pause" onClick={() => act("pause")}>
          Pause
        </button>
      ) : null}
      {!ended && (props.execution.spec.suspend || pause) ? (
        <span class="resume">
          {pause?.onResume.map((input) => (
            <InputField input={input} value={resumeValues[input.id] ?? ""} onChange={(v) => setResumeValues({ ...resumeValues, [input.id]: v })} />
          ))}
          <button disabled={busy} data-action="resume" onClick={() => act("resume", { inputs: pause ? collect(pause.onResume, resumeValues) : {} })}>
            Resume{pause ? ` ${pause.id}` : ""}
          </button>
        </span>
      ) : null}
      {!ended ? (
        <button class="danger" disabled={busy} data-action="kill" onClick={() => confirm(`Kill ${name}?`) && act("kill")}>
          Kill
        </button>
      ) : null}
      {state === "FAILED" || state === "KILLED" ? (
        <button disabled={busy} data-action="restart" onClick={() => act("restart")}>
          Restart
        </button>
      ) : null}
      {ended && top.length ? (
        <span class="replay">
          <select value={replayFrom} onChange={(e) => setReplayFrom(e.currentTarget.value)} data-testid="replay-from">
            <option value="">replay from…</option>
            {top.map((id) => (
              <option value={id}>{id}</option>
            ))}
          </select>
          <button disabled={busy || !replayFrom} data-action="replay" onClick={() => act("replay", { fromTask: replayFrom })}>
            Replay
          </button>
        </span>
      ) : null}
      {error ? <span class="error" data-testid="action-error">{error}</span> : null}
    </div>
  );
}

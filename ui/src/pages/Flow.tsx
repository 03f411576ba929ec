import { useEffect, useRef, useState } from "preact/hooks";
import type { EditorView } from "@codemirror/view";
import type { Diagnostic } from "@codemirror/lint";
import { api, ApiError, ns, type Problem } from "../api";
// The editor (CodeMirror and the schema tooling, most of the bundle) loads with the first flow
// page, not with the app: the executions pages never need it.
const loadEditor = () => import("../editor");
import { Link, navigate, withQuery, useLocation } from "../router";
import { Topology } from "../Topology";
import type { GraphEdge, GraphNode } from "../graph";
import { FlowForm } from "./FlowForm";
import { InputsForm, type DeclaredInput } from "./InputsForm";

interface FlowAnswer {
  yaml: string;
  gitops: string | null;
  inputs: DeclaredInput[];
  triggers: { id: string; cron: string; timezone?: string }[];
  resourceVersion: string;
  row: { lastExecution: { name: string; state: string } | null; ready: boolean | null; message: string | null };
}

let schemaCache: Promise<any> | null = null;
const flowSchema = () => (schemaCache ??= api<any>("/schema/flow"));

export function newFlowText(namespace: string): string {
  return `apiVersion: overture.dev/v1alpha1
kind: Flow
metadata:
  name: my-flow
  namespace: ${namespace}
spec:
  description: What this flow does
  tasks:
    - id: hello
      type: shell
      commands: ["echo hello"]
`;
}

export function FlowPage(props: { namespace: string; name: string | null }) {
  const { query } = useLocation();
  const tab = query.get("tab") || "edit";
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const replaceRef = useRef<((view: EditorView, text: string) => void) | null>(null);
  const [flow, setFlow] = useState<FlowAnswer | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [text, setText] = useState("");
  const [saved, setSaved] = useState("");
  const [problems, setProblems] = useState<Diagnostic[]>([]);
  const [linting, setLinting] = useState(true);
  const [checked, setChecked] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<{ message: string; problems: Problem[] } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [graph, setGraph] = useState<{ nodes: GraphNode[]; edges: GraphEdge[] } | null>(null);
  const readOnly = !!flow?.gitops;

  const load = async () => {
    if (props.name === null) return { yaml: newFlowText(props.namespace) } as FlowAnswer;
    return api<FlowAnswer>(`${ns(props.namespace)}/flows/${props.name}`);
  };

  useEffect(() => {
    let cancelled = false;
    setLoadError(null);
    Promise.all([load(), flowSchema(), loadEditor()])
      .then(([answer, schema, { createEditor, replaceText }]) => {
        replaceRef.current = replaceText;
        if (cancelled || !host.current) return;
        setFlow(props.name === null ? null : answer);
        setText(answer.yaml);
        setSaved(props.name === null ? "" : answer.yaml);
        view.current?.destroy();
        view.current = createEditor(host.current, {
          namespace: props.namespace,
          text: answer.yaml,
          schema,
          readOnly: !!answer.gitops,
          onChange: setText,
          onProblems: (found, pending, text) => {
            setLinting(pending);
            if (!pending) {
              setProblems(found);
              setChecked(text);
            }
          },
        });
      })
      .catch((e: ApiError) => setLoadError(e.message));
    return () => {
      cancelled = true;
      view.current?.destroy();
      view.current = null;
    };
  }, [props.namespace, props.name]);

  // The live topology: redrawn from the editor's text as it changes (kept while the text is invalid).
  useEffect(() => {
    if (!text) return;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      api<{ nodes: GraphNode[]; edges: GraphEdge[] }>(`${ns(props.namespace)}/flows/-/graph`, { yaml: text }, controller.signal)
        .then(setGraph)
        .catch(() => undefined);
    }, 300);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [text]);

  const save = async () => {
    setSaving(true);
    setSaveError(null);
    setNotice(null);
    try {
      const answer = await api<FlowAnswer>(`${ns(props.namespace)}/flows/-/apply`, { yaml: text, resourceVersion: flow?.resourceVersion });
      setFlow(answer);
      setSaved(text);
      setNotice("Saved (server-side apply, after a dry run).");
      const name = text.match(/^\s+name:\s*([\w.-]+)/m)?.[1];
      if (props.name === null && name) navigate(`/ns/${props.namespace}/flows/${name}`);
    } catch (e) {
      const error = e as ApiError;
      setSaveError({ message: error.message, problems: error.problems ?? [] });
    } finally {
      setSaving(false);
    }
  };

  const errors = problems.filter((p) => p.severity === "error");
  const current = !linting && checked === text;
  const canSave = !readOnly && !saving && current && errors.length === 0 && text !== saved;
  const title = props.name ?? "New flow";
  return (
    <div class="page flow-page">
      <div class="toolbar">
        <h2>
          <Link href={`/ns/${props.namespace}/flows`}>Flows</Link> / {title}
        </h2>
        <span class="spacer" />
        {props.name ? (
          <Link href={`/ns/${props.namespace}/executions?flow=${props.name}`} class="button secondary">
            Executions
          </Link>
        ) : null}
        <button data-testid="save" disabled={!canSave} onClick={save} title={errors.length ? "Fix the problems first" : ""}>
          {saving ? "Saving…" : "Save"}
        </button>
      </div>
      {readOnly ? (
        <p class="note" data-testid="gitops-note">
          Read-only here. {flow?.gitops}
        </p>
      ) : null}
      {loadError ? <p class="error">{loadError}</p> : null}
      {notice ? <p class="notice" data-testid="notice">{notice}</p> : null}
      {saveError ? (
        <div class="error-box" data-testid="save-error">
          <strong>Not saved: {saveError.message}</strong>
          <ul>
            {saveError.problems.map((p) => (
              <li>{p.message}</li>
            ))}
          </ul>
        </div>
      ) : null}
      <nav class="tabs">
        {[
          ["edit", "YAML"],
          ["form", "Form"],
          ...(props.name ? [["run", "Run"], ["backfill", "Backfill"]] : []),
        ].map(([key, label]) => (
          <a
            href={withQuery({ tab: key === "edit" ? "" : key })}
            class={tab === key ? "active" : ""}
            data-testid={`tab-${key}`}
            onClick={(e) => {
              e.preventDefault();
              navigate(withQuery({ tab: key === "edit" ? "" : key }));
            }}
          >
            {label}
          </a>
        ))}
        <span class="spacer" />
        <span class="muted" data-testid="lint-status" data-checked={current ? "current" : "stale"}>
          {!current ? "checking…" : errors.length ? `${errors.length} problem${errors.length > 1 ? "s" : ""}` : "valid"}
        </span>
      </nav>
      <div class="split" style={{ display: tab === "edit" || tab === "form" ? "flex" : "none" }}>
        <div class="left">
          <div ref={host} class="editor" data-testid="editor" style={{ display: tab === "edit" ? "block" : "none" }} />
          {tab === "form" ? (
            <FlowForm
              text={text}
              readOnly={readOnly}
              onEdit={(next) => view.current && replaceRef.current?.(view.current, next)}
            />
          ) : null}
          {errors.length ? (
            <ul class="problems" data-testid="problems">
              {errors.map((p) => (
                <li data-line={view.current?.state.doc.lineAt(Math.min(p.from, view.current.state.doc.length)).number}>
                  line {view.current?.state.doc.lineAt(Math.min(p.from, view.current.state.doc.length)).number}: {p.message}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
        <div class="right">{graph ? <Topology nodes={graph.nodes} edges={graph.edges} /> : <p class="muted">topology…</p>}</div>
      </div>
      {tab === "run" && flow && props.name ? <InputsForm namespace={props.namespace} flow={props.name} inputs={flow.inputs} /> : null}
      {tab === "backfill" && flow && props.name ? <Backfill namespace={props.namespace} flow={props.name} triggers={flow.triggers} /> : null}
    </div>
  );
}

function Backfill(props: { namespace: string; flow: string; triggers: FlowAnswer["triggers"] }) {
  const [trigger, setTrigger] = useState(props.triggers[0]?.id ?? "");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [dryRun, setDryRun] = useState(true);
  const [report, setReport] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  if (!props.triggers.length) return <p class="muted">This flow has no schedule trigger to backfill.</p>;
  return (
    <form
      class="form"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        try {
          const answer = await api<{ report: string[] }>(`${ns(props.namespace)}/flows/${props.flow}/backfill`, { trigger, from, to, dryRun });
          setReport(answer.report);
        } catch (err) {
          setError((err as ApiError).message);
        }
      }}
    >
      <label>
        Schedule
        <select value={trigger} onChange={(e) => setTrigger(e.currentTarget.value)}>
          {props.triggers.map((t) => (
            <option value={t.id}>
              {t.id} ({t.cron}
              {t.timezone ? `, ${t.timezone}` : ""})
            </option>
          ))}
        </select>
      </label>
      <label>
        From (included)
        <input type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} required data-testid="backfill-from" />
      </label>
      <label>
        To (included)
        <input type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} required data-testid="backfill-to" />
      </label>
      <label class="check">
        <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.currentTarget.checked)} /> dry run (list, create nothing)
      </label>
      <button type="submit">{dryRun ? "Preview" : "Backfill"}</button>
      {error ? <p class="error">{error}</p> : null}
      <pre class="report" data-testid="backfill-report">{report.join("\n")}</pre>
    </form>
  );
}

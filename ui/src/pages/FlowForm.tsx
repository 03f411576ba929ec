// The form view: fields of the flow and its top-level tasks, read from the editor's YAML and
// written back into it surgically (yamlEdit.setValue): one field changed = one line changed.
import { useState } from "preact/hooks";
import { parse, setValue, valueAt, type Key, type Value } from "../yamlEdit";

type Kind = "text" | "number" | "bool" | "select";
interface Field {
  keys: Key[];
  label: string;
  kind: Kind;
  choices?: string[];
  placeholder?: string;
}

const FLOW_FIELDS: Field[] = [
  { keys: ["spec", "description"], label: "Description", kind: "text" },
  { keys: ["spec", "timeout"], label: "Timeout", kind: "text", placeholder: "e.g. 1h" },
  { keys: ["spec", "serviceAccountName"], label: "Service account", kind: "text" },
  { keys: ["spec", "concurrency", "limit"], label: "Concurrency limit", kind: "number" },
  { keys: ["spec", "concurrency", "behavior"], label: "When over the limit", kind: "select", choices: ["", "QUEUE", "CANCEL", "FAIL"] },
  { keys: ["spec", "suspend"], label: "Suspended", kind: "bool" },
];

const TASK_FIELDS: (Omit<Field, "keys"> & { key: Key[] })[] = [
  { key: ["description"], label: "Description", kind: "text" },
  { key: ["image"], label: "Image", kind: "text" },
  { key: ["timeout"], label: "Timeout", kind: "text", placeholder: "e.g. 10m" },
  { key: ["retry", "maxAttempts"], label: "Retry: attempts", kind: "number" },
  { key: ["retry", "interval"], label: "Retry: interval", kind: "text", placeholder: "e.g. 10s" },
  { key: ["allowFailure"], label: "Allow failure", kind: "bool" },
  { key: ["disabled"], label: "Disabled", kind: "bool" },
];

function FieldInput(props: { field: Field; text: string; readOnly: boolean; onEdit: (keys: Key[], value: Value) => void }) {
  const { field } = props;
  const current = valueAt(props.text, field.keys);
  const name = field.keys.join(".");
  if (field.kind === "bool") {
    return (
      <label class="check">
        <input
          type="checkbox"
          data-field={name}
          disabled={props.readOnly}
          checked={current === true}
          onChange={(e) => props.onEdit(field.keys, e.currentTarget.checked ? true : null)}
        />{" "}
        {field.label}
      </label>
    );
  }
  if (field.kind === "select") {
    return (
      <label>
        {field.label}
        <select data-field={name} disabled={props.readOnly} value={String(current ?? "")} onChange={(e) => props.onEdit(field.keys, e.currentTarget.value || null)}>
          {field.choices!.map((c) => (
            <option value={c}>{c || "(default)"}</option>
          ))}
        </select>
      </label>
    );
  }
  const shown = current === undefined || current === null ? "" : typeof current === "object" ? JSON.stringify(current) : String(current);
  return (
    <label>
      {field.label}
      <input
        data-field={name}
        type={(field.kind === "number" ? "number" : "text") as "text"}
        value={shown}
        placeholder={field.placeholder}
        disabled={props.readOnly || typeof current === "object"}
        // onChange fires once the field is left or Enter is pressed: one edit, one line.
        onChange={(e) => {
          const raw = e.currentTarget.value;
          props.onEdit(field.keys, raw === "" ? null : field.kind === "number" ? Number(raw) : raw);
        }}
      />
    </label>
  );
}

export function FlowForm(props: { text: string; readOnly: boolean; onEdit: (text: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  const doc = parse(props.text);
  if (doc.errors.length) return <p class="error">The YAML does not parse; fix it in the YAML tab first: {doc.errors[0].message}</p>;
  const tasks = (valueAt(props.text, ["spec", "tasks"]) as { id?: string; type?: string }[] | undefined) ?? [];
  const edit = (keys: Key[], value: Value) => {
    try {
      setError(null);
      props.onEdit(setValue(props.text, keys, value));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <div class="flow-form" data-testid="flow-form">
      {error ? <p class="error">{error}</p> : null}
      <fieldset>
        <legend>Flow</legend>
        {FLOW_FIELDS.map((f) => (
          <FieldInput field={f} text={props.text} readOnly={props.readOnly} onEdit={edit} />
        ))}
      </fieldset>
      {Array.isArray(tasks)
        ? tasks.map((task, i) => (
            <fieldset data-task={task?.id}>
              <legend>
                Task <code>{task?.id}</code> <span class="muted">{task?.type}</span>
              </legend>
              {TASK_FIELDS.map((f) => (
                <FieldInput
                  field={{ keys: ["spec", "tasks", i, ...f.key], label: f.label, kind: f.kind, placeholder: f.placeholder }}
                  text={props.text}
                  readOnly={props.readOnly}
                  onEdit={edit}
                />
              ))}
            </fieldset>
          ))
        : null}
    </div>
  );
}

// Run a flow: one field per declared input, of its type; the server checks them again
// (coerce_inputs) and names each wrong one.
import { useState } from "preact/hooks";
import { api, ApiError, ns, type Problem } from "../api";
import { navigate } from "../router";

export interface DeclaredInput {
  id: string;
  type?: string;
  description?: string;
  required?: boolean;
  default?: unknown;
  values?: string[];
  itemType?: string;
}

export function typedValue(input: DeclaredInput, raw: string | boolean): unknown {
  if (typeof raw === "boolean") return raw;
  switch (input.type) {
    case "INT":
    case "FLOAT":
      return raw === "" ? undefined : Number(raw);
    case "JSON":
    case "ARRAY":
      try {
        return JSON.parse(raw);
      } catch {
        return raw; // the server names it: "... is not valid JSON"
      }
    default:
      return raw === "" ? undefined : raw;
  }
}

export function InputField(props: { input: DeclaredInput; value: string | boolean; onChange: (v: string | boolean) => void }) {
  const { input } = props;
  const common = { "data-input": input.id, name: input.id };
  let control;
  if (input.type === "BOOLEAN") {
    control = <input type="checkbox" {...common} checked={props.value === true} onChange={(e) => props.onChange(e.currentTarget.checked)} />;
  } else if (input.type === "SELECT") {
    control = (
      <select {...common} value={String(props.value)} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">(choose)</option>
        {(input.values ?? []).map((v) => (
          <option value={v}>{v}</option>
        ))}
      </select>
    );
  } else if (input.type === "JSON" || input.type === "ARRAY") {
    control = <textarea {...common} rows={3} value={String(props.value)} placeholder={input.type === "ARRAY" ? '["a", "b"]' : "{}"} onInput={(e) => props.onChange(e.currentTarget.value)} />;
  } else {
    const types: Record<string, "number" | "date" | "datetime-local"> = { INT: "number", FLOAT: "number", DATE: "date", DATETIME: "datetime-local" };
    const type = (types[input.type ?? ""] ?? "text") as "text";
    control = (
      <input
        {...common}
        type={type}
        step={input.type === "FLOAT" ? "any" : undefined}
        value={String(props.value)}
        placeholder={input.type === "DURATION" ? "e.g. 10m" : ""}
        onInput={(e) => props.onChange(e.currentTarget.value)}
      />
    );
  }
  return (
    <label>
      {input.id} <span class="muted">{input.type ?? "STRING"}{input.required === false ? "" : " · required"}</span>
      {control}
      {input.description ? <small class="muted">{input.description}</small> : null}
    </label>
  );
}

function initial(input: DeclaredInput): string | boolean {
  if (input.default === undefined || input.default === null) return input.type === "BOOLEAN" ? false : "";
  if (input.type === "BOOLEAN") return input.default === true;
  return typeof input.default === "object" ? JSON.stringify(input.default) : String(input.default);
}

export function collect(inputs: DeclaredInput[], values: Record<string, string | boolean>): Record<string, unknown> {
  const given: Record<string, unknown> = {};
  for (const input of inputs) {
    const value = typedValue(input, values[input.id] ?? "");
    if (value !== undefined) given[input.id] = value;
  }
  return given;
}

export function InputsForm(props: { namespace: string; flow: string; inputs: DeclaredInput[] }) {
  const [values, setValues] = useState<Record<string, string | boolean>>(() => Object.fromEntries(props.inputs.map((i) => [i.id, initial(i)])));
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="form"
      data-testid="run-form"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        setProblems([]);
        try {
          const answer = await api<{ name: string }>(`${ns(props.namespace)}/flows/${props.flow}/run`, { inputs: collect(props.inputs, values) });
          navigate(`/ns/${props.namespace}/executions/${answer.name}`);
        } catch (err) {
          setError((err as ApiError).message);
          setProblems((err as ApiError).problems ?? []);
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.inputs.length === 0 ? <p class="muted">This flow declares no inputs.</p> : null}
      {props.inputs.map((input) => (
        <InputField input={input} value={values[input.id]} onChange={(v) => setValues({ ...values, [input.id]: v })} />
      ))}
      <button type="submit" data-testid="run" disabled={busy}>
        Run
      </button>
      {error ? (
        <div class="error-box">
          {error}
          <ul>
            {problems.map((p) => (
              <li>{p.message}</li>
            ))}
          </ul>
        </div>
      ) : null}
    </form>
  );
}

import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { navigate } from "../router";

/** The namespace picker: the namespaces the caller may list, or just the current one. */
export function NamespacePicker(props: { namespace: string; section: "flows" | "executions" }) {
  const [names, setNames] = useState<string[]>([props.namespace]);
  useEffect(() => {
    api<{ namespaces: string[] }>("/namespaces")
      .then((answer) => setNames(Array.from(new Set([props.namespace, ...answer.namespaces])).sort()))
      .catch(() => undefined);
  }, [props.namespace]);
  return (
    <select
      class="namespace"
      value={props.namespace}
      data-testid="namespace"
      onChange={(e) => navigate(`/ns/${e.currentTarget.value}/${props.section}`)}
    >
      {names.map((n) => (
        <option value={n}>{n === "_all" ? "all namespaces" : n}</option>
      ))}
      {props.namespace !== "_all" ? <option value="_all">all namespaces</option> : null}
    </select>
  );
}

// Previews of what the artifact store holds for an execution: a task's files (outputFiles), FILE
// inputs, and outputs too big for the status. The server sends the first bytes as JSON text and
// the page shows them as text (never as HTML); a person opens one at a time.
import { useState } from "preact/hooks";
import { api, ApiError, ns } from "../api";

interface Preview {
  size: number;
  shown: number;
  truncated: boolean;
  binary: boolean;
  text: string | null;
}

export const isStoreRef = (value: unknown): value is string => typeof value === "string" && value.startsWith("s3://");

/** The `files` output of a task run: path -> s3:// reference (outputFiles), or null. */
export function filesOf(outputs: Record<string, unknown> | null | undefined): [string, string][] {
  const files = outputs?.files;
  if (!files || typeof files !== "object" || Array.isArray(files)) return [];
  return Object.entries(files as Record<string, unknown>).filter((e): e is [string, string] => isStoreRef(e[1]));
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The outputs of a JSON preview, or null when it is cut or not JSON. */
export function previewJson(preview: Preview): unknown {
  if (preview.truncated || preview.text === null) return null;
  try {
    return JSON.parse(preview.text);
  } catch {
    return null;
  }
}

function PreviewText(props: { preview: Preview }) {
  const p = props.preview;
  if (p.binary) return <p class="muted" data-testid="preview-note">Binary, {bytes(p.size)}: not shown.</p>;
  return (
    <div>
      <pre class="value preview" data-testid="preview-text">{p.text}</pre>
      {p.truncated ? <p class="muted" data-testid="preview-note">The first {bytes(p.shown)} of {bytes(p.size)}.</p> : null}
    </div>
  );
}

function usePreview(path: string): [Preview | null, string | null, boolean, () => void] {
  const [preview, setPreview] = useState<Preview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const load = () => {
    setLoading(true);
    setError(null);
    api<Preview>(path)
      .then(setPreview)
      .catch((e) => setError(e instanceof ApiError ? e.message : String(e)))
      .finally(() => setLoading(false));
  };
  return [preview, error, loading, load];
}

/** One file of the store, by its s3:// reference: the reference, and a preview on demand. */
export function FilePreview(props: { namespace: string; execution: string; uri: string }) {
  const path = `${ns(props.namespace)}/executions/${encodeURIComponent(props.execution)}/file?uri=${encodeURIComponent(props.uri)}`;
  const [preview, error, loading, load] = usePreview(path);
  return (
    <div class="file" data-file={props.uri}>
      <code class="muted">{props.uri}</code>{" "}
      {preview ? null : (
        <button type="button" data-testid="preview" disabled={loading} onClick={load}>
          Preview
        </button>
      )}
      {error ? <p class="error">{error}</p> : null}
      {preview ? <PreviewText preview={preview} /> : null}
    </div>
  );
}

/** Outputs a task run kept in the store: loaded on demand, shown as JSON (its files previewable). */
export function StoredOutputs(props: { namespace: string; execution: string; job: string; size: number }) {
  const path = `${ns(props.namespace)}/executions/${encodeURIComponent(props.execution)}/stored-outputs?job=${encodeURIComponent(props.job)}`;
  const [preview, error, loading, load] = usePreview(path);
  const value = preview ? previewJson(preview) : null;
  const files = value && typeof value === "object" ? filesOf(value as Record<string, unknown>) : [];
  return (
    <div data-testid="stored-outputs">
      {preview ? null : (
        <button type="button" data-testid="load-outputs" disabled={loading} onClick={load}>
          Load the outputs ({bytes(props.size)}, in the artifact store)
        </button>
      )}
      {error ? <p class="error">{error}</p> : null}
      {preview && value !== null ? <pre class="value">{JSON.stringify(value, null, 2)}</pre> : null}
      {preview && value === null ? <PreviewText preview={preview} /> : null}
      {files.map(([file, uri]) => (
        <div>
          <strong>{file}</strong> <FilePreview namespace={props.namespace} execution={props.execution} uri={uri} />
        </div>
      ))}
    </div>
  );
}

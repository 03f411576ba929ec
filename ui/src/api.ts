// The one way the pages talk to the server: fetch with the session's bearer token.
// Live data comes as Server-Sent Events read with fetch (EventSource cannot send a header,
// and the token must not travel in a URL).

const TOKEN_KEY = "overture.token";

export function takeTokenFromUrl(): void {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

export const token = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const setToken = (value: string): void => sessionStorage.setItem(TOKEN_KEY, value.trim());
export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

export interface Problem {
  path: string | null;
  message: string;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public problems: Problem[] = [],
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => {};
export function whenUnauthorized(callback: () => void): void {
  onUnauthorized = callback;
}

function headers(): Record<string, string> {
  const value = token();
  return { "Content-Type": "application/json", ...(value ? { Authorization: `Bearer ${value}` } : {}) };
}

export async function api<T>(path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(`/api${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: headers(),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, data.error ?? response.statusText, data.problems ?? []);
  return data as T;
}

export const ns = (namespace: string): string => `/namespaces/${encodeURIComponent(namespace)}`;

/** Read an SSE stream until it ends or `signal` aborts; `onEvent(name, data)` for each event. */
export async function stream(
  path: string,
  onEvent: (event: string, data: any) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await fetch(`/api${path}`, { headers: headers(), signal });
  if (response.status === 401) onUnauthorized();
  if (!response.ok || !response.body) {
    const data = await response.json().catch(() => ({}));
    throw new ApiError(response.status, data.error ?? response.statusText);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

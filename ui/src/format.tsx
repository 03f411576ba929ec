// Small formatting helpers shared by the pages.

export const STATE_COLORS: Record<string, string> = {
  CREATED: "#9aa5b1",
  QUEUED: "#9aa5b1",
  RUNNING: "#2f80ed",
  PAUSED: "#f2994a",
  RETRYING: "#f2c94c",
  SUCCESS: "#27ae60",
  WARNING: "#e2b93b",
  FAILED: "#eb5757",
  KILLING: "#bb6bd9",
  KILLED: "#8e44ad",
  CANCELLED: "#828282",
  SKIPPED: "#bdbdbd",
};

export const STATES = Object.keys(STATE_COLORS);
export const TERMINAL = new Set(["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "SKIPPED"]);

export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "";
  return duration((now - Date.parse(iso)) / 1000);
}

export function duration(seconds: number): string {
  if (!isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${Math.round(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d${Math.floor((seconds % 86400) / 3600)}h`;
}

export function span(start?: string | null, end?: string | null): string {
  if (!start) return "";
  return duration(((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000);
}

export function StateBadge(props: { state: string | null | undefined }) {
  const state = props.state || "CREATED";
  return (
    <span class="badge" data-state={state} style={{ background: STATE_COLORS[state] ?? "#999" }}>
      {state}
    </span>
  );
}

export const pretty = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value, null, 2));

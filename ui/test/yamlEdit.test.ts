import { describe, expect, it } from "vitest";
import { lineOf, parsePath, setValue } from "../src/yamlEdit";

const FLOW = `apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: etl}   # the name people know
spec:
  # what it does
  description: Load the day
  tasks:
    - id: extract   # first
      type: python
      retry: {maxAttempts: 3}
      script: |
        import json
        print(1)
    - id: load
      type: shell
      commands: ["echo {{ outputs.extract.rows }}"]
      timeout: 10m

  triggers: []
`;

function changed(before: string, after: string): string[] {
  const a = before.split("\n");
  const b = after.split("\n");
  return b.filter((line, i) => a[i] !== line || a.length !== b.length);
}

describe("setValue", () => {
  it("changes one line and keeps the comments", () => {
    const after = setValue(FLOW, ["spec", "tasks", 1, "timeout"], "5m");
    expect(after.split("\n").length).toBe(FLOW.split("\n").length);
    expect(changed(FLOW, after)).toEqual(["      timeout: 5m"]);
    expect(after).toContain("# what it does");
    expect(after).toContain("id: extract   # first");
  });

  it("keeps the quoting style", () => {
    const text = 'spec:\n  description: "old"  # note\n';
    expect(setValue(text, ["spec", "description"], "new")).toBe('spec:\n  description: "new"  # note\n');
  });

  it("adds a missing key as one line at the map's indentation", () => {
    const after = setValue(FLOW, ["spec", "tasks", 0, "timeout"], "1h");
    const a = FLOW.split("\n");
    const b = after.split("\n");
    expect(b.length).toBe(a.length + 1);
    const added = b.filter((line) => !a.includes(line));
    expect(added).toEqual(["      timeout: 1h"]);
    expect(b[b.indexOf("      timeout: 1h") - 1]).toBe("        print(1)");
  });

  it("adds into a flow mapping in place", () => {
    const after = setValue(FLOW, ["spec", "tasks", 0, "retry", "interval"], "10s");
    expect(changed(FLOW, after)).toEqual(["      retry: {maxAttempts: 3, interval: 10s}"]);
  });

  it("adds nested keys that do not exist yet", () => {
    const after = setValue(FLOW, ["spec", "tasks", 1, "retry", "maxAttempts"], 2);
    expect(after).toContain("      timeout: 10m\n      retry:\n        maxAttempts: 2\n");
  });

  it("removes a key with an empty value", () => {
    const after = setValue(FLOW, ["spec", "tasks", 1, "timeout"], "");
    expect(after).not.toContain("timeout");
    expect(FLOW.split("\n").length - after.split("\n").length).toBe(1);
  });

  it("sets numbers and booleans as YAML scalars", () => {
    expect(setValue(FLOW, ["spec", "tasks", 0, "retry", "maxAttempts"], 5)).toContain("retry: {maxAttempts: 5}");
    expect(setValue(FLOW, ["spec", "description"], "yes")).toContain('description: "yes"');
  });
});

describe("lineOf", () => {
  it("finds the line of a validation path, or of its deepest existing parent", () => {
    expect(parsePath("spec.tasks[1].timeout")).toEqual(["spec", "tasks", 1, "timeout"]);
    expect(lineOf(FLOW, "spec.tasks[1].timeout")).toBe(17);
    expect(lineOf(FLOW, "spec.tasks[1].retry.interval")).toBe(14);
    expect(lineOf(FLOW, "spec.description")).toBe(6);
  });
});

// Surgical edits of a YAML text: the form view changes one field and nothing else.
//
// The `yaml` package parses the text into a Document whose every node knows its source range.
// An edit replaces only the characters of the one scalar it changes (or inserts one line for a
// key that was not there, or removes the lines of one key), so comments, key order, quoting
// and blank lines elsewhere are the user's bytes, untouched: the text is never re-serialised.

import { isMap, isScalar, isSeq, LineCounter, parseDocument, stringify } from "yaml";
import type { Document, Node, Pair, Scalar, YAMLMap } from "yaml";

export type Key = string | number;
export type Value = string | number | boolean | null;

/** `spec.tasks[2].retry.interval` -> ["spec", "tasks", 2, "retry", "interval"]. */
export function parsePath(path: string): Key[] {
  const keys: Key[] = [];
  for (const part of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    keys.push(part[2] !== undefined ? Number(part[2]) : part[1]);
  }
  return keys;
}

export function parse(text: string): Document.Parsed {
  return parseDocument(text, { keepSourceTokens: true });
}

/** The deepest node along `keys` that exists, and how many keys it took to reach it. */
export function deepest(doc: Document.Parsed, keys: Key[]): { node: Node | null; depth: number; pair: Pair | null } {
  let node: unknown = doc.contents;
  let pair: Pair | null = null;
  let depth = 0;
  for (const key of keys) {
    if (isMap(node)) {
      const found = (node as YAMLMap).items.find((p) => isScalar(p.key) && String((p.key as Scalar).value) === String(key));
      if (!found) break;
      pair = found as Pair;
      node = found.value;
    } else if (isSeq(node) && typeof key === "number" && key < node.items.length) {
      pair = null;
      node = node.items[key];
    } else break;
    depth += 1;
  }
  return { node: (node as Node) ?? null, depth, pair };
}

/** The 1-based line a path points at (its deepest existing node; the key's line for a map pair). */
export function lineOf(text: string, path: string): number {
  const lines = new LineCounter();
  const doc = parseDocument(text, { keepSourceTokens: true, lineCounter: lines });
  const { node, pair } = deepest(doc, parsePath(path));
  const start = (pair && isScalar(pair.key) ? (pair.key as Scalar).range?.[0] : undefined) ?? node?.range?.[0] ?? 0;
  return lines.linePos(start).line;
}

export function valueAt(text: string, keys: Key[]): unknown {
  const doc = parse(text);
  const { node, depth } = deepest(doc, keys);
  if (depth !== keys.length) return undefined;
  return isScalar(node) ? node.value : node && typeof (node as any).toJSON === "function" ? (node as any).toJSON() : node;
}

function lineStart(text: string, at: number): number {
  return text.lastIndexOf("\n", at - 1) + 1;
}

function lineEnd(text: string, at: number): number {
  const end = text.indexOf("\n", at);
  return end < 0 ? text.length : end;
}

function scalarText(value: Value, type?: Scalar.Type): string {
  const options = { lineWidth: 0, ...(type && !String(type).startsWith("BLOCK") ? { defaultStringType: type } : {}) };
  const text = stringify(value, options).trimEnd();
  // The server reads YAML 1.1 (PyYAML), where `yes`, `on` or `1_000` are not strings: quote them.
  if (typeof value === "string" && parseDocument(text, { version: "1.1" }).toJS() !== value) {
    return stringify(value, { lineWidth: 0, defaultStringType: "QUOTE_DOUBLE" }).trimEnd();
  }
  return text;
}

/** `keys[depth:]` as nested block YAML lines at `indent`, ending with `value`. */
function nested(keys: Key[], value: Value, indent: string): string {
  const lines: string[] = [];
  keys.forEach((key, i) => {
    const pad = indent + "  ".repeat(i);
    lines.push(i === keys.length - 1 ? `${pad}${key}: ${scalarText(value)}` : `${pad}${key}:`);
  });
  return lines.join("\n");
}

/** The text with the scalar at `keys` set to `value` (null or "" removes the key). */
export function setValue(text: string, keys: Key[], value: Value): string {
  const doc = parse(text);
  if (doc.errors.length) throw new Error(`the YAML has errors: ${doc.errors[0].message}`);
  if (value === null || value === "") return removeKey(text, doc, keys);
  const { node, depth, pair } = deepest(doc, keys);
  if (depth === keys.length) {
    if (isScalar(node) && node.range) {
      if (node.value === value) return text;
      const [start, end] = node.range;
      return text.slice(0, start) + scalarText(value, node.type) + text.slice(end);
    }
    if (node === null && pair && isScalar(pair.key) && pair.key.range) {
      // `key:` with no value: write it after the colon
      const at = lineEnd(text, pair.key.range[1]);
      return text.slice(0, at).replace(/:\s*$/, ": ") + scalarText(value) + text.slice(at);
    }
    throw new Error(`${keys.join(".")} is not a single value; edit it in the YAML`);
  }
  if (!isMap(node)) throw new Error(`${keys.slice(0, depth + 1).join(".")} cannot be added here; edit it in the YAML`);
  const rest = keys.slice(depth);
  if (rest.some((k) => typeof k === "number")) throw new Error("list items are added in the YAML");
  return insertIntoMap(text, node as YAMLMap, rest, value);
}

function insertIntoMap(text: string, map: YAMLMap, keys: Key[], value: Value): string {
  const range = map.range!;
  if (map.flow) {
    // {a: 1} -> {a: 1, key: value}: before the closing brace
    const close = text.lastIndexOf("}", range[1]);
    const inline = keys.slice(1).reduceRight<string>((inner, key) => `{${key}: ${inner}}`, scalarText(value));
    const body = text.slice(range[0] + 1, close).trim();
    return text.slice(0, close).trimEnd() + `${body ? ", " : ""}${keys[0]}: ${inline}` + (body ? "" : "") + text.slice(close);
  }
  const last = map.items[map.items.length - 1];
  const firstKey = map.items[0]?.key as Scalar | undefined;
  const keyStart = firstKey?.range?.[0] ?? range[0];
  const indent = " ".repeat(keyStart - lineStart(text, keyStart));
  const lastNode = (last?.value as Node | null)?.range ? (last.value as Node) : (last?.key as Node);
  // After the last item's value, on a line of its own (a block value ends at its last line).
  let at = lastNode?.range ? lastNode.range[1] : range[1];
  at = lineEnd(text, Math.max(at - 1, 0));
  if (text.slice(lineStart(text, at), at).trim() === "") at = Math.max(lineStart(text, at) - 1, 0);
  return text.slice(0, at) + "\n" + nested(keys, value, indent) + text.slice(at);
}

function removeKey(text: string, doc: Document.Parsed, keys: Key[]): string {
  const { depth, pair } = deepest(doc, keys);
  if (depth !== keys.length || !pair || !isScalar(pair.key) || !pair.key.range) return text;
  const value = pair.value as Node | null;
  const start = lineStart(text, pair.key.range[0]);
  const end = value?.range ? value.range[1] : pair.key.range[1];
  const before = text.slice(start, pair.key.range[0]);
  if (before.trim() !== "" && before.trim() !== "-") throw new Error(`${keys.join(".")} is inside a flow mapping; edit it in the YAML`);
  let stop = lineEnd(text, Math.max(end - 1, pair.key.range[1]));
  if (text[stop] === "\n") stop += 1;
  return text.slice(0, start) + text.slice(stop);
}

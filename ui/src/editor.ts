// The YAML editor: CodeMirror 6 with the Flow CRD's JSON Schema (completion and lint, in the
// browser, as you type) and `overture validate`'s own messages at their line (from the server,
// a moment after you stop typing): one list of problems, the same the CLI prints.

import { basicSetup, EditorView } from "codemirror";
import { EditorState } from "@codemirror/state";
import { linter, lintGutter, type Diagnostic } from "@codemirror/lint";
import { yaml, yamlLanguage } from "@codemirror/lang-yaml";
import { yamlCompletion, yamlSchemaLinter } from "codemirror-json-schema/yaml";
import { handleRefresh, stateExtensions } from "codemirror-json-schema";
import type { JSONSchema7 } from "json-schema";
import { api, ApiError, ns, type Problem } from "./api";
import { lineOf } from "./yamlEdit";

export interface EditorOptions {
  namespace: string;
  text: string;
  schema: JSONSchema7;
  readOnly: boolean;
  onChange: (text: string) => void;
  onProblems: (problems: Diagnostic[], pending: boolean, checked: string) => void;
}

const YAML_ERROR = /at line (\d+), column (\d+)/;

/** Where in `text` a validation problem points: its path's line, or the line a parse error names. */
export function problemRange(view: EditorView, text: string, problem: Problem): { from: number; to: number } {
  const doc = view.state.doc;
  let line = 1;
  const parseError = problem.message.match(YAML_ERROR);
  if (parseError) line = Number(parseError[1]);
  else if (problem.path) {
    try {
      line = lineOf(text, problem.path);
    } catch {
      line = 1;
    }
  }
  const found = doc.line(Math.min(Math.max(line, 1), doc.lines));
  const indent = found.text.length - found.text.trimStart().length;
  return { from: found.from + indent, to: found.to };
}

const UNKNOWN_KEY = /Additional property `([^`]+)`/;

/** The schema linter marks the object that holds an unknown key; mark the key itself, where the typo is. */
export function atUnknownKey(text: string, diagnostic: Diagnostic): Diagnostic {
  const key = diagnostic.message.match(UNKNOWN_KEY)?.[1];
  if (!key) return diagnostic;
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const found = new RegExp(`(^|[\\s{,-])(${escaped})\\s*:`, "m").exec(text.slice(diagnostic.from));
  if (!found) return diagnostic;
  const from = diagnostic.from + found.index + found[1].length;
  return { ...diagnostic, from, to: from + key.length };
}

export function createEditor(parent: HTMLElement, options: EditorOptions): EditorView {
  const schemaLint = yamlSchemaLinter();
  let generation = 0;
  const validate = async (view: EditorView): Promise<Diagnostic[]> => {
    const mine = ++generation;
    const text = view.state.doc.toString();
    options.onProblems([], true, text);
    const local = schemaLint(view).map((d) => atUnknownKey(text, d));
    let server: Diagnostic[] = [];
    try {
      const answer = await api<{ problems: Problem[] }>(`${ns(options.namespace)}/flows/-/validate`, { yaml: text });
      server = answer.problems.map((p) => ({ ...problemRange(view, text, p), severity: "error", message: p.message, source: "overture validate" }));
    } catch (error) {
      if (error instanceof ApiError && error.problems.length) {
        server = error.problems.map((p) => ({ ...problemRange(view, text, p), severity: "error", message: p.message, source: "overture validate" }));
      } else if (error instanceof ApiError) {
        server = [{ from: 0, to: Math.min(1, view.state.doc.length), severity: "error", message: error.message }];
      }
    }
    const all = [...local, ...server];
    if (mine === generation) options.onProblems(all, false, text);
    return all;
  };
  return new EditorView({
    parent,
    state: EditorState.create({
      doc: options.text,
      extensions: [
        basicSetup,
        yaml(),
        stateExtensions(options.schema),
        yamlLanguage.data.of({ autocomplete: yamlCompletion() }),
        linter(validate, { delay: 400, needsRefresh: handleRefresh }),
        lintGutter(),
        EditorState.readOnly.of(options.readOnly),
        EditorView.editable.of(!options.readOnly),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) options.onChange(update.state.doc.toString());
        }),
        EditorView.theme({ "&": { height: "100%" }, ".cm-scroller": { fontFamily: "ui-monospace, monospace" } }),
      ],
    }),
  });
}

/** Replace the editor's whole text (after a form edit) as one undoable change. */
export function replaceText(view: EditorView, text: string): void {
  const current = view.state.doc.toString();
  if (current === text) return;
  // The smallest differing span, so the cursor and undo history stay meaningful.
  let start = 0;
  while (start < current.length && start < text.length && current[start] === text[start]) start++;
  let endA = current.length;
  let endB = text.length;
  while (endA > start && endB > start && current[endA - 1] === text[endB - 1]) {
    endA--;
    endB--;
  }
  view.dispatch({ changes: { from: start, to: endA, insert: text.slice(start, endB) } });
}

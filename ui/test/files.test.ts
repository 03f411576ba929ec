import { describe, expect, it } from "vitest";
import { bytes, filesOf, previewJson } from "../src/pages/Files";

describe("filesOf", () => {
  it("lists a task's files and nothing else", () => {
    const outputs = { rows: 3, files: { "out/a.csv": "s3://b/ns/e/j/files/out/a.csv", "x.txt": "not a reference", n: 3 } };
    expect(filesOf(outputs)).toEqual([["out/a.csv", "s3://b/ns/e/j/files/out/a.csv"]]);
    expect(filesOf({ files: ["s3://b/k"] })).toEqual([]);
    expect(filesOf(null)).toEqual([]);
  });
});

describe("previewJson", () => {
  const preview = (text: string | null, truncated = false) => ({ size: 10, shown: 10, truncated, binary: text === null, text });
  it("parses whole JSON only", () => {
    expect(previewJson(preview('{"a": 1}'))).toEqual({ a: 1 });
    expect(previewJson(preview('{"a": 1', true))).toBeNull();
    expect(previewJson(preview("<b>not json</b>"))).toBeNull();
    expect(previewJson(preview(null))).toBeNull();
  });
});

describe("bytes", () => {
  it("says sizes as people read them", () => {
    expect([bytes(5), bytes(65536), bytes(100000), bytes(3 * 1024 * 1024)]).toEqual(["5 B", "64.0 KiB", "97.7 KiB", "3.0 MiB"]);
  });
});

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestStreamsPassThroughAndLogLines(t *testing.T) {
	var log, out, errOut bytes.Buffer
	sink := newLogSink(&bytes.Buffer{}, &log, 0)
	stdout := &Stream{pass: &out, sink: sink, outputs: &OutputLines{}}
	stderr := &Stream{pass: &errOut, sink: sink}
	stdout.Write([]byte("one\ntw"))
	stderr.Write([]byte("oops\n"))
	stdout.Write([]byte("o\nthree"))
	stdout.Flush()
	if out.String() != "one\ntwo\nthree" || errOut.String() != "oops\n" {
		t.Fatalf("pass-through: %q %q", out.String(), errOut.String())
	}
	// whole lines in the archive, in the order they were completed
	if log.String() != "one\noops\ntwo\nthree\n" {
		t.Fatalf("log: %q", log.String())
	}
}

func TestOutputLines(t *testing.T) {
	var log bytes.Buffer
	lines := &OutputLines{}
	stdout := &Stream{pass: &bytes.Buffer{}, sink: newLogSink(&bytes.Buffer{}, &log, 0), outputs: lines}
	stdout.Write([]byte(`::{"outputs": {"rows": 42, "big": 12345678901234567890}}::` + "\n"))
	stdout.Write([]byte("  ::{\"outputs\": {\"rows\": 43}}::  \n"))
	stdout.Write([]byte("text ::{\"outputs\": {\"no\": 1}}::\n")) // not at the start of the line
	stdout.Write([]byte("::{\"outputs\": {broken}}::\n"))
	stdout.Write([]byte(`::{"metrics": [1]}::`)) // not outputs, and flushed without a newline
	stdout.Flush()
	if string(lines.Outputs["rows"]) != "43" || string(lines.Outputs["big"]) != "12345678901234567890" {
		t.Fatalf("outputs: %v", lines.Outputs)
	}
	if _, ok := lines.Outputs["no"]; ok || len(lines.Outputs) != 2 {
		t.Fatalf("outputs: %v", lines.Outputs)
	}
	if len(lines.Warnings) != 1 || !strings.Contains(lines.Warnings[0], "not valid JSON") {
		t.Fatalf("warnings: %v", lines.Warnings)
	}
}

func TestLogSinkTruncatesAtItsLimitAndKeepsTheTail(t *testing.T) {
	var log bytes.Buffer
	sink := newLogSink(&bytes.Buffer{}, &log, 100)
	for i := 0; i < 50; i++ {
		sink.writeLine([]byte(strings.Repeat("x", 9) + "\n"))
	}
	sink.writeLine([]byte("the end\n"))
	if !strings.Contains(log.String(), "log archive truncated: it reached the limit of 100 bytes") || log.Len() > 200 {
		t.Fatalf("log: %q", log.String())
	}
	if tail := sink.Tail(25); tail != "xxxxxxxxx\nthe end\n" {
		t.Fatalf("tail starts at a line: %q", tail)
	}
}

package main

import (
	"strings"
	"testing"
)

func TestParseSpecFillsDefaults(t *testing.T) {
	s, err := ParseSpec(`{"workDir": "/w", "outputs": {}, "transfers": {}, "log": {"putURL": "http://s/l"},
		"outputFiles": {"globs": ["*.csv"], "slots": {"url": "http://s/p/{slot}?X-Amz-Signature={signature}", "signatures": ["s0"]}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.StateDir != defaultStateDir || s.TerminationMessagePath != defaultTerminationPath ||
		s.Outputs.InlineLimit != defaultInlineLimit || s.Log.MaxBytes != defaultLogMaxBytes ||
		s.OutputFiles.IfNoMatch != "fail" ||
		s.Transfers.Attempts != defaultAttempts || s.Transfers.BackoffMillis != defaultBackoffMillis {
		t.Fatalf("defaults not filled: %+v", s)
	}
}

func TestParseSpecNamesTheBadField(t *testing.T) {
	cases := map[string]string{
		`{"workDir": "w"}`: `workDir: "w" must be an absolute path`,
		`{"workDir": "/w", "inputFiles": [{"path": "../x", "url": "u"}]}`:                                `inputFiles[0].path: "../x" must stay inside the work dir`,
		`{"workDir": "/w", "inputFiles": [{"path": "/x", "url": "u"}]}`:                                  `inputFiles[0].path: "/x" must be relative`,
		`{"workDir": "/w", "inputFiles": [{"path": "x"}]}`:                                               `inputFiles[0]: give exactly one of url and text`,
		`{"workDir": "/w", "inputFiles": [{"path": "x", "url": "u", "text": ""}]}`:                       `inputFiles[0]: give exactly one of url and text`,
		`{"workDir": "/w", "outputFiles": {"globs": []}}`:                                                `outputFiles.globs: at least one glob`,
		`{"workDir": "/w", "outputFiles": {"globs": ["a/../../b"]}}`:                                     `outputFiles.globs[0]: "a/../../b" must stay inside`,
		`{"workDir": "/w", "outputFiles": {"globs": ["*"], "ifNoMatch": "skip", "slots": {"url": "u"}}}`: `outputFiles.ifNoMatch: "skip" is not fail or warn`,
		`{"workDir": "/w", "outputFiles": {"globs": ["*"]}}`:                                             `outputFiles.slots.url: "" needs {slot} and {signature}`,
		`{"workDir": "/w", "surprise": 1}`:                                                               `unknown field "surprise"`,
		``:                                                                                               `is not a valid wrapper spec`,
	}
	for input, want := range cases {
		_, err := ParseSpec(input)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSpec(%s): got %v, want %q", input, err, want)
		}
	}
}

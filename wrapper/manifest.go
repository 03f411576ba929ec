package main

import (
	"encoding/json"
	"unicode/utf8"
)

// The manifest is what the operator reads back: the container's termination message, which
// the kubelet keeps up to 4 KiB of. It says how the attempt went and where its results are;
// outputs and the file listing travel inline when they fit, otherwise they are in the store
// (outputs.json, files.json) and the manifest carries their size or count.

const (
	ManifestVersion = 1
	// ManifestBudget leaves room under the kubelet's 4096 bytes: the operator treats a message
	// of 4096 bytes as cut.
	ManifestBudget = 4000
	// ExitWrapperFailed: the command succeeded (or never ran) but the wrapper's part failed:
	// an input could not be fetched, outputs were invalid, a file could not be stored.
	ExitWrapperFailed = 125
)

type Manifest struct {
	Version int `json:"overture"`
	// ExitCode is the command's own; absent when it never ran.
	ExitCode *int   `json:"exitCode,omitempty"`
	Error    string `json:"error,omitempty"`

	Outputs     map[string]json.RawMessage `json:"outputs,omitempty"`
	OutputsSize int64                      `json:"outputsSize,omitempty"` // outputs are in outputs.json
	Files       map[string]int64           `json:"files,omitempty"`
	FilesCount  int                        `json:"filesCount,omitempty"` // the listing is in files.json
	FilesBytes  int64                      `json:"filesBytes,omitempty"`
	LogSize     *int64                     `json:"logSize,omitempty"` // the log was archived
	Warnings    []string                   `json:"warnings,omitempty"`
	Millis      Millis                     `json:"ms"`
	// LogTail: the log's last lines when the attempt failed (as the kubelet's
	// FallbackToLogsOnError would have given).
	LogTail string `json:"logTail,omitempty"`
}

// Millis is where the time went: fetching inputs, the command, storing results.
type Millis struct {
	Inputs  int64 `json:"inputs"`
	Command int64 `json:"command"`
	Results int64 `json:"results"`
}

func (m *Manifest) encode() []byte {
	data, _ := json.Marshal(m)
	return data
}

// shrink makes the manifest fit the budget by cutting what matters least first: the log tail,
// then warnings, then the error message (kept to its start). Outputs and files are moved to
// the store before this, by the caller.
func (m *Manifest) shrink(budget int) []byte {
	data := m.encode()
	for len(data) > budget && m.LogTail != "" {
		over := len(data) - budget
		if over >= len(m.LogTail) {
			m.LogTail = ""
		} else {
			m.LogTail = cutFront(m.LogTail, over+16) // JSON escapes may grow it: a margin
		}
		data = m.encode()
	}
	for len(data) > budget && len(m.Warnings) > 0 {
		m.Warnings = m.Warnings[:len(m.Warnings)-1]
		data = m.encode()
	}
	for len(data) > budget && m.Error != "" {
		keep := len(m.Error) - (len(data) - budget) - 16
		if keep < 0 {
			keep = 0
		}
		m.Error = cutBack(m.Error, keep) + "..."
		data = m.encode()
		if keep == 0 {
			break
		}
	}
	return data
}

// cutFront drops at least n bytes from the start of s, at a rune boundary.
func cutFront(s string, n int) string {
	if n >= len(s) {
		return ""
	}
	for n < len(s) && !utf8.RuneStart(s[n]) {
		n++
	}
	return s[n:]
}

// cutBack keeps at most n bytes from the start of s, at a rune boundary.
func cutBack(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

package main

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// SpecEnv is the environment variable the operator puts the Spec in (JSON). The wrapper removes
// it from the command's environment: the presigned URLs are the wrapper's business.
const SpecEnv = "OVERTURE_WRAPPER_SPEC"

// Spec is what one task attempt's wrapper does around its command. The operator writes it;
// every URL in it is presigned for this attempt's keys only and expires (no store credentials).
type Spec struct {
	// WorkDir is the command's working directory (made if missing); inputFiles and outputFiles
	// paths are relative to it.
	WorkDir string `json:"workDir"`
	// StateDir holds the wrapper's own files (the log being archived). Default /overture/.wrapper.
	StateDir string `json:"stateDir,omitempty"`
	// TerminationMessagePath is where the manifest goes (the container's terminationMessagePath).
	TerminationMessagePath string `json:"terminationMessagePath,omitempty"`

	InputFiles  []InputFile  `json:"inputFiles,omitempty"`
	Outputs     OutputsSpec  `json:"outputs"`
	OutputFiles *OutputFiles `json:"outputFiles,omitempty"`
	Log         *LogSpec     `json:"log,omitempty"`
	Transfers   Transfers    `json:"transfers"`
}

// InputFile is written to Path before the command starts: downloaded from URL, or Text as is.
type InputFile struct {
	Path string  `json:"path"`
	URL  string  `json:"url,omitempty"`
	Text *string `json:"text,omitempty"`
}

// OutputsSpec: where the command writes its outputs, and what happens to big ones.
type OutputsSpec struct {
	// File is read after the command (a JSON object); "" when the task has none. Outputs printed
	// on stdout as ::{"outputs": {...}}:: lines are merged first, the file's keys win.
	File string `json:"file,omitempty"`
	// FromFiles maps an output key to a file (relative to WorkDir, or absolute) whose text is that
	// output, a string without its trailing newline (Argo's valueFrom.path): for a command that
	// cannot write JSON, or an image that writes its result to a fixed place. Read last, so its
	// keys win; a file that is not there fails the task.
	FromFiles map[string]string `json:"fromFiles,omitempty"`
	// InlineLimit: outputs whose JSON is larger are uploaded to PutURL (outputs.json) and the
	// manifest carries their size instead.
	InlineLimit int `json:"inlineLimit,omitempty"`
	// MaxBytes: larger outputs fail the task (0: no limit).
	MaxBytes int64  `json:"maxBytes,omitempty"`
	PutURL   string `json:"putURL,omitempty"`
}

// OutputFiles: files matched by Globs (relative to WorkDir; ** spans directories) are uploaded
// with presigned PUTs, the i-th file (in name order) to slot i. Each slot's URL is signed for one
// key, <attempt>/files/<i>: the command, which can read these URLs, cannot choose a key, so none
// of its making can climb out of the attempt's prefix on a store that resolves ".." (versitygw's
// posix backend did, with the POST form this replaced). As many files as slots at most.
type OutputFiles struct {
	Globs []string `json:"globs"`
	// IfNoMatch: "fail" (default) or "warn" when a glob matches no file.
	IfNoMatch    string   `json:"ifNoMatch,omitempty"`
	MaxFileBytes int64    `json:"maxFileBytes,omitempty"`
	Slots        PutSlots `json:"slots"`
	// ListPutURL receives files.json (name -> size) when the listing does not fit the manifest.
	ListPutURL string `json:"listPutURL,omitempty"`
	// URIPrefix, when set, makes the stored files an output: "files" maps each relative path to
	// URIPrefix + its slot (s3://bucket/key), what templates reach as outputs.<task>.files['path'].
	URIPrefix string `json:"uriPrefix,omitempty"`
}

// PutSlots are presigned PUT URLs that differ only in their slot and signature, sent as one URL
// and the signatures, so that a Job's environment grows by 67 bytes a slot, not by a URL.
type PutSlots struct {
	// URL has "{slot}" where the slot's number goes (the key's last segment) and "{signature}"
	// where its X-Amz-Signature goes.
	URL        string   `json:"url"`
	Signatures []string `json:"signatures"`
}

// URL of slot i.
func (p PutSlots) SlotURL(i int) string {
	return strings.NewReplacer("{slot}", strconv.Itoa(i), "{signature}", p.Signatures[i]).Replace(p.URL)
}

// LogSpec: the command's log (stdout and stderr, as they came) is uploaded to PutURL at the end.
type LogSpec struct {
	PutURL   string `json:"putURL"`
	MaxBytes int64  `json:"maxBytes,omitempty"`
}

// Transfers tunes every download and upload.
type Transfers struct {
	// Attempts per transfer for transient failures (connection refused, 5xx); default 3.
	Attempts int `json:"attempts,omitempty"`
	// BackoffMillis before the second attempt, doubled after each; default 1000.
	BackoffMillis int `json:"backoffMillis,omitempty"`
}

const (
	defaultStateDir              = "/overture/.wrapper"
	defaultTerminationPath       = "/dev/termination-log"
	defaultInlineLimit           = 2048
	defaultLogMaxBytes     int64 = 100 << 20
	defaultAttempts              = 3
	defaultBackoffMillis         = 1000
)

// ParseSpec reads a Spec from JSON, fills defaults and checks it. Errors name the field.
func ParseSpec(data string) (Spec, error) {
	var s Spec
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%s is not a valid wrapper spec: %v", SpecEnv, err)
	}
	s.fillDefaults()
	return s, s.validate()
}

func (s *Spec) fillDefaults() {
	if s.StateDir == "" {
		s.StateDir = defaultStateDir
	}
	if s.TerminationMessagePath == "" {
		s.TerminationMessagePath = defaultTerminationPath
	}
	if s.Outputs.InlineLimit == 0 {
		s.Outputs.InlineLimit = defaultInlineLimit
	}
	if s.Log != nil && s.Log.MaxBytes == 0 {
		s.Log.MaxBytes = defaultLogMaxBytes
	}
	if s.OutputFiles != nil {
		if s.OutputFiles.IfNoMatch == "" {
			s.OutputFiles.IfNoMatch = "fail"
		}
	}
	if s.Transfers.Attempts == 0 {
		s.Transfers.Attempts = defaultAttempts
	}
	if s.Transfers.BackoffMillis == 0 {
		s.Transfers.BackoffMillis = defaultBackoffMillis
	}
}

func (s *Spec) validate() error {
	if s.WorkDir == "" || !path.IsAbs(s.WorkDir) {
		return fmt.Errorf("workDir: %q must be an absolute path", s.WorkDir)
	}
	for i, in := range s.InputFiles {
		field := fmt.Sprintf("inputFiles[%d]", i)
		if err := checkRelative(in.Path); err != nil {
			return fmt.Errorf("%s.path: %v", field, err)
		}
		if (in.URL == "") == (in.Text == nil) {
			return fmt.Errorf("%s: give exactly one of url and text", field)
		}
	}
	for key, p := range s.Outputs.FromFiles {
		if key == "" || p == "" {
			return fmt.Errorf("outputs.fromFiles: %q: %q: give an output key and a file", key, p)
		}
	}
	if f := s.OutputFiles; f != nil {
		if len(f.Globs) == 0 {
			return fmt.Errorf("outputFiles.globs: at least one glob is needed")
		}
		for i, g := range f.Globs {
			if err := checkGlob(g); err != nil {
				return fmt.Errorf("outputFiles.globs[%d]: %v", i, err)
			}
		}
		if f.IfNoMatch != "fail" && f.IfNoMatch != "warn" {
			return fmt.Errorf("outputFiles.ifNoMatch: %q is not fail or warn", f.IfNoMatch)
		}
		if !strings.Contains(f.Slots.URL, "{slot}") || !strings.Contains(f.Slots.URL, "{signature}") {
			return fmt.Errorf("outputFiles.slots.url: %q needs {slot} and {signature} to upload files", f.Slots.URL)
		}
	}
	if s.Transfers.Attempts < 1 {
		return fmt.Errorf("transfers.attempts: %d must be at least 1", s.Transfers.Attempts)
	}
	return nil
}

// checkRelative accepts a slash-separated path inside the work dir: not absolute, no "..".
func checkRelative(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	if path.IsAbs(p) {
		return fmt.Errorf("%q must be relative to the work dir", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("%q must stay inside the work dir (no ..)", p)
		}
	}
	return nil
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Runner does one task attempt: inputs in, the command, results out, the manifest last.
// Nothing is recorded for a failed command but its log: its outputs and files are not stored.
type Runner struct {
	Spec   Spec
	Xfer   *Transfer
	Stdout io.Writer
	Stderr io.Writer
	Env    []string

	sink        *LogSink
	logFile     *os.File
	outputLines *OutputLines
	manifest    Manifest
	fileSlots   map[string]int // stored file -> its upload slot (its key's last segment)
}

// Run returns the exit code the container should end with: the command's when it failed,
// ExitWrapperFailed when the command succeeded (or never ran) but the wrapper's part failed.
func (r *Runner) Run(argv []string) int {
	r.manifest = Manifest{Version: ManifestVersion}
	r.openLog()
	code := r.attempt(argv)
	r.finish(code)
	return code
}

func (r *Runner) attempt(argv []string) int {
	m := &r.manifest
	t0 := time.Now()
	if err := r.fetchInputs(); err != nil {
		return r.fail("inputFiles: %v", err)
	}
	m.Millis.Inputs = since(t0)

	t1 := time.Now()
	code, err := r.runCommand(argv)
	m.Millis.Command = since(t1)
	if err != nil { // it did not start
		m.Error = err.Error()
		r.sink.Log("%s", err)
		return code
	}
	m.ExitCode = &code
	if code != 0 {
		return code
	}

	t2 := time.Now()
	defer func() { m.Millis.Results = since(t2) }()
	if err := r.storeFiles(); err != nil {
		return r.fail("outputFiles: %v", err)
	}
	if err := r.storeOutputs(); err != nil {
		return r.fail("outputs: %v", err)
	}
	if err := r.fit(ManifestBudget - 64); err != nil { // 64: room for logSize and the cut fields
		return r.fail("%v", err)
	}
	return 0
}

func (r *Runner) fail(format string, args ...any) int {
	r.manifest.Error = fmt.Sprintf(format, args...)
	r.sink.Log("%s", r.manifest.Error)
	return ExitWrapperFailed
}

func since(t time.Time) int64 { return time.Since(t).Milliseconds() }

func (r *Runner) openLog() {
	var w io.Writer
	if r.Spec.Log != nil {
		if err := os.MkdirAll(r.Spec.StateDir, 0o755); err == nil {
			if f, err := os.Create(filepath.Join(r.Spec.StateDir, "log")); err == nil {
				r.logFile, w = f, f
			}
		}
	}
	max := int64(0)
	if r.Spec.Log != nil {
		max = r.Spec.Log.MaxBytes
	}
	r.sink = newLogSink(r.Stderr, w, max)
	if r.Spec.Log != nil && r.logFile == nil {
		r.warn("log not archived: %s is not writable", r.Spec.StateDir)
	}
}

func (r *Runner) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.manifest.Warnings = append(r.manifest.Warnings, msg)
	r.sink.Log("warning: %s", msg)
}

// ---------------------------------------------------------------- inputs

func (r *Runner) fetchInputs() error {
	if err := os.MkdirAll(r.Spec.WorkDir, 0o755); err != nil {
		return fmt.Errorf("making the work dir: %v", err)
	}
	if err := os.Chdir(r.Spec.WorkDir); err != nil {
		return fmt.Errorf("entering the work dir: %v", err)
	}
	if len(r.Spec.InputFiles) == 0 {
		return nil
	}
	t0 := time.Now()
	var total int64
	for _, in := range r.Spec.InputFiles {
		dest := filepath.Join(r.Spec.WorkDir, filepath.FromSlash(in.Path))
		if in.Text != nil {
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				return fmt.Errorf("%s: %v", in.Path, err)
			}
			if err := os.WriteFile(dest, []byte(*in.Text), 0o644); err != nil {
				return fmt.Errorf("%s: %v", in.Path, err)
			}
			total += int64(len(*in.Text))
			continue
		}
		n, err := r.Xfer.Download(in.URL, dest)
		if err != nil {
			return fmt.Errorf("%s: %v", in.Path, err)
		}
		total += n
	}
	r.sink.Log("fetched %d input file(s), %s, in %s", len(r.Spec.InputFiles), bytesText(total), time.Since(t0).Round(time.Millisecond))
	return nil
}

// ---------------------------------------------------------------- the command

func (r *Runner) runCommand(argv []string) (int, error) {
	stdout := &Stream{pass: r.Stdout, sink: r.sink, outputs: &OutputLines{}}
	stderr := &Stream{pass: r.Stderr, sink: r.sink}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = r.Env
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so a signal reaches a shell's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A background child that keeps stdout open must not hold the task after the command ends.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		switch {
		case errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist):
			return 127, fmt.Errorf("command %q not found", argv[0])
		case errors.Is(err, fs.ErrPermission):
			return 126, fmt.Errorf("command %q is not executable", argv[0])
		default:
			return 126, fmt.Errorf("command %q did not start: %v", argv[0], err)
		}
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				syscall.Kill(-cmd.Process.Pid, sig.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	signal.Stop(signals)
	close(done)
	stdout.Flush()
	stderr.Flush()
	r.outputLines = stdout.outputs
	for _, w := range stdout.outputs.Warnings {
		r.warn("%s", w)
	}
	state := cmd.ProcessState
	if state == nil {
		return 126, fmt.Errorf("command %q: %v", argv[0], err)
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return state.ExitCode(), nil
}

// ---------------------------------------------------------------- results

func (r *Runner) storeOutputs() error {
	spec := r.Spec.Outputs
	merged := map[string]json.RawMessage{}
	if r.outputLines != nil {
		for k, v := range r.outputLines.Outputs {
			merged[k] = v
		}
	}
	if spec.File != "" {
		fromFile, err := readOutputsFile(spec.File)
		if err != nil {
			return err
		}
		for k, v := range fromFile {
			merged[k] = v
		}
	}
	for _, key := range slices.Sorted(maps.Keys(spec.FromFiles)) {
		value, err := readOutputText(spec.FromFiles[key], spec.MaxBytes)
		if err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
		merged[key] = value
	}
	if f := r.Spec.OutputFiles; f != nil && f.URIPrefix != "" && r.manifest.Files != nil {
		if _, taken := merged["files"]; taken {
			return fmt.Errorf("the output \"files\" is taken by outputFiles (the stored files' references)")
		}
		refs := make(map[string]string, len(r.manifest.Files))
		for name := range r.manifest.Files {
			refs[name] = f.URIPrefix + strconv.Itoa(r.fileSlots[name])
		}
		merged["files"], _ = json.Marshal(refs)
	}
	if len(merged) == 0 {
		return nil
	}
	data, err := json.Marshal(merged)
	if err != nil {
		return err
	}
	if spec.MaxBytes > 0 && int64(len(data)) > spec.MaxBytes {
		return fmt.Errorf("%s of outputs, over the limit of %s", bytesText(int64(len(data))), bytesText(spec.MaxBytes))
	}
	r.manifest.Outputs = merged
	if len(data) > spec.InlineLimit {
		return r.spillOutputs()
	}
	return nil
}

func readOutputsFile(name string) (map[string]json.RawMessage, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(data)) == "" {
		return nil, nil
	}
	var value map[string]json.RawMessage
	if err := json.Unmarshal(data, &value); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, fmt.Errorf("%s must hold a JSON object, not %s", name, typeErr.Value)
		}
		return nil, fmt.Errorf("%s is not valid JSON (%v)", name, err)
	}
	return value, nil
}

// readOutputText is one output read from a file: its text as a JSON string, one trailing
// newline dropped (what `echo` adds). Read up to maxBytes+1 (0: no limit) so a huge file fails
// the task instead of filling the wrapper's memory.
func readOutputText(name string, maxBytes int64) (json.RawMessage, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s was not written by the command", name)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var reader io.Reader = f
	if maxBytes > 0 {
		reader = io.LimitReader(f, maxBytes+1)
	}
	data, err := io.ReadAll(reader)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", name, err)
	}
	if maxBytes > 0 && int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%s is over the limit of %s for outputs", name, bytesText(maxBytes))
	}
	text := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	encoded, _ := json.Marshal(text) // invalid UTF-8 becomes U+FFFD
	return encoded, nil
}

func (r *Runner) spillOutputs() error {
	m := &r.manifest
	data, _ := json.Marshal(m.Outputs)
	if r.Spec.Outputs.PutURL == "" {
		return fmt.Errorf("%s of outputs do not fit a termination message and no store is configured to keep them", bytesText(int64(len(data))))
	}
	if err := r.Xfer.PutBytes(r.Spec.Outputs.PutURL, data); err != nil {
		return fmt.Errorf("storing outputs.json: %v", err)
	}
	m.Outputs, m.OutputsSize = nil, int64(len(data))
	return nil
}

func (r *Runner) storeFiles() error {
	spec := r.Spec.OutputFiles
	if spec == nil {
		return nil
	}
	files, unmatched, err := findFiles(r.Spec.WorkDir, spec.Globs)
	if err != nil {
		return fmt.Errorf("looking for files in %s: %v", r.Spec.WorkDir, err)
	}
	for _, g := range unmatched {
		msg := fmt.Sprintf("%q matched no file in %s", g, r.Spec.WorkDir)
		if spec.IfNoMatch == "fail" {
			return fmt.Errorf("%s", msg)
		}
		r.warn("outputFiles: %s", msg)
	}
	if len(files) > len(spec.Slots.Signatures) {
		return fmt.Errorf("%d files matched, over the limit of %d files a task (OVERTURE_MAX_OUTPUT_FILES); archive them into fewer", len(files), len(spec.Slots.Signatures))
	}
	for _, f := range files {
		if spec.MaxFileBytes > 0 && f.Size > spec.MaxFileBytes {
			return fmt.Errorf("%s is %s, over the limit of %s per file", f.Name, bytesText(f.Size), bytesText(spec.MaxFileBytes))
		}
	}
	t0 := time.Now()
	listing := make(map[string]int64, len(files))
	r.fileSlots = make(map[string]int, len(files))
	var total int64
	for i, f := range files {
		if err := r.Xfer.PutFile(spec.Slots.SlotURL(i), f.Path); err != nil {
			return fmt.Errorf("storing %s: %v", f.Name, err)
		}
		listing[f.Name] = f.Size
		r.fileSlots[f.Name] = i
		total += f.Size
	}
	if len(files) > 0 {
		r.sink.Log("stored %d output file(s), %s, in %s", len(files), bytesText(total), time.Since(t0).Round(time.Millisecond))
	}
	r.manifest.Files, r.manifest.FilesBytes = listing, total
	return nil
}

// fit moves inline outputs, then the file listing, to the store while the manifest is over budget.
func (r *Runner) fit(budget int) error {
	m := &r.manifest
	if len(m.encode()) > budget && m.Outputs != nil {
		if err := r.spillOutputs(); err != nil {
			return fmt.Errorf("outputs: %v", err)
		}
	}
	if len(m.encode()) > budget && m.Files != nil {
		data, _ := json.Marshal(m.Files)
		url := r.Spec.OutputFiles.ListPutURL
		if url == "" {
			return fmt.Errorf("outputFiles: the listing of %d files does not fit a termination message and no store is configured to keep it", len(m.Files))
		}
		if err := r.Xfer.PutBytes(url, data); err != nil {
			return fmt.Errorf("outputFiles: storing files.json: %v", err)
		}
		m.FilesCount, m.Files = len(m.Files), nil
	}
	return nil
}

// ---------------------------------------------------------------- the end

func (r *Runner) finish(code int) {
	m := &r.manifest
	if r.logFile != nil {
		r.archiveLog()
	}
	if code != 0 {
		m.LogTail = r.sink.Tail(tailBytes)
	}
	data := m.shrink(ManifestBudget)
	if err := os.WriteFile(r.Spec.TerminationMessagePath, data, 0o644); err != nil {
		fmt.Fprintf(r.Stderr, "[overture] writing the manifest to %s failed: %v\n", r.Spec.TerminationMessagePath, err)
	}
}

func (r *Runner) archiveLog() {
	m := &r.manifest
	size := r.sink.written
	if err := r.logFile.Close(); err != nil {
		r.warn("log not archived: %v", err)
		return
	}
	if err := r.Xfer.PutFile(r.Spec.Log.PutURL, r.logFile.Name()); err != nil {
		// The attempt's result does not depend on its log: a warning, not a failure.
		m.Warnings = append(m.Warnings, fmt.Sprintf("log not archived: %v", err))
		fmt.Fprintf(r.Stderr, "[overture] warning: log not archived: %v\n", err)
		return
	}
	m.LogSize = &size
}

// bytesText: 52.4 MB, 812 B.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type runResult struct {
	code     int
	manifest Manifest
	raw      []byte
	stdout   string
	stderr   string
}

// runTask runs argv with a spec pointing at the fake store under prefix "ns/ex/t/1/".
func runTask(t *testing.T, store *fakeStore, edit func(*Spec), argv ...string) runResult {
	t.Helper()
	cwd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(cwd) })
	root := t.TempDir()
	text := "inline config\n"
	spec := Spec{
		WorkDir:                filepath.Join(root, "work"),
		StateDir:               filepath.Join(root, "state"),
		TerminationMessagePath: filepath.Join(root, "termination-log"),
		InputFiles: []InputFile{
			{Path: "in/data.csv", URL: store.url("ns/ex/up/1/files/data.csv")},
			{Path: "config.txt", Text: &text},
		},
		Outputs:     OutputsSpec{File: filepath.Join(root, "outputs.json"), PutURL: store.url("ns/ex/t/1/outputs.json")},
		OutputFiles: &OutputFiles{Globs: []string{"out/*.csv"}, Slots: store.slots("ns/ex/t/1/files/", 200), ListPutURL: store.url("ns/ex/t/1/files.json")},
		Log:         &LogSpec{PutURL: store.url("ns/ex/t/1/log")},
	}
	store.put("ns/ex/up/1/files/data.csv", "a,b\n1,2\n")
	if edit != nil {
		edit(&spec)
	}
	raw, _ := json.Marshal(spec)
	parsed, err := ParseSpec(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	r := &Runner{Spec: parsed, Xfer: testTransfer(), Stdout: &stdout, Stderr: &stderr,
		Env: append(os.Environ(), "OUTPUTS="+spec.Outputs.File)}
	code := r.Run(argv)
	res := runResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
	res.raw, _ = os.ReadFile(parsed.TerminationMessagePath)
	if err := json.Unmarshal(res.raw, &res.manifest); err != nil {
		t.Fatalf("manifest is not JSON: %q", res.raw)
	}
	if len(res.raw) > ManifestBudget {
		t.Fatalf("manifest of %d bytes", len(res.raw))
	}
	return res
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestARunFetchesRunsAndStores(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, nil, sh(`
		set -e
		mkdir -p out
		cat in/data.csv config.txt > out/result.csv
		echo '::{"outputs": {"rows": 2, "from": "stdout"}}::'
		echo '{"from": "file"}' > "$OUTPUTS"
		echo to-stderr >&2
		test -z "$OVERTURE_WRAPPER_SPEC"
	`)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s %s", res.code, res.raw, res.stderr)
	}
	m := res.manifest
	if string(m.Outputs["rows"]) != "2" || string(m.Outputs["from"]) != `"file"` {
		t.Fatalf("outputs: the file's keys win over the stdout lines: %v", m.Outputs)
	}
	if got, _ := store.get("ns/ex/t/1/files/0"); got != "a,b\n1,2\ninline config\n" {
		t.Fatalf("stored file: %q", got)
	}
	if m.Files["out/result.csv"] != 22 || m.FilesBytes != 22 || *m.ExitCode != 0 || m.Error != "" {
		t.Fatalf("manifest: %s", res.raw)
	}
	log, _ := store.get("ns/ex/t/1/log")
	if !strings.Contains(log, "to-stderr\n") || !strings.Contains(log, "[overture] fetched 2 input file(s)") ||
		!strings.Contains(log, "[overture] stored 1 output file(s)") || m.LogSize == nil || *m.LogSize != int64(len(log)) {
		t.Fatalf("log (%v bytes in the manifest): %q", m.LogSize, log)
	}
	if !strings.Contains(res.stdout, `::{"outputs"`) || !strings.Contains(res.stderr, "to-stderr") {
		t.Fatalf("streams must pass through: %q %q", res.stdout, res.stderr)
	}
	if m.LogTail != "" {
		t.Fatal("no log tail for a success")
	}
}

func TestStoredFilesAreAnOutputWithAURIPrefix(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) { s.OutputFiles.URIPrefix = "s3://b/ns/ex/t/1/files/" },
		sh(`mkdir out; echo b > out/b.csv; echo a > out/a.csv; echo '{"n": 1}' > "$OUTPUTS"`)...)
	var files map[string]string
	json.Unmarshal(res.manifest.Outputs["files"], &files)
	if res.code != 0 || files["out/a.csv"] != "s3://b/ns/ex/t/1/files/0" || files["out/b.csv"] != "s3://b/ns/ex/t/1/files/1" ||
		string(res.manifest.Outputs["n"]) != "1" {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
	if a, _ := store.get("ns/ex/t/1/files/0"); a != "a\n" {
		t.Fatalf("out/a.csv (first by name) goes to slot 0, got %q", a)
	}
	res = runTask(t, store, func(s *Spec) { s.OutputFiles.URIPrefix = "s3://b/" },
		sh(`mkdir out; echo x > out/a.csv; echo '{"files": 1}' > "$OUTPUTS"`)...)
	if res.code != ExitWrapperFailed || !strings.Contains(res.manifest.Error, `the output "files" is taken by outputFiles`) {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
}

func TestBigOutputsGoToTheStore(t *testing.T) {
	store := newFakeStore(t)
	big := strings.Repeat("x", 20000)
	res := runTask(t, store, func(s *Spec) { s.OutputFiles = nil },
		sh(`printf '{"big": "%s", "n": 1}' "`+big+`" > "$OUTPUTS"`)...)
	if res.code != 0 || res.manifest.Outputs != nil || res.manifest.OutputsSize != 20016 {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
	stored, _ := store.get("ns/ex/t/1/outputs.json")
	var back map[string]any
	if json.Unmarshal([]byte(stored), &back) != nil || back["big"] != big {
		t.Fatalf("outputs.json: %.80q", stored)
	}
}

func TestManyFilesPutTheListingInTheStore(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, nil, sh(`mkdir -p out; for i in $(seq 1 150); do echo $i > out/file-with-a-long-name-$i.csv; done`)...)
	if res.code != 0 || res.manifest.Files != nil || res.manifest.FilesCount != 150 {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
	listing, _ := store.get("ns/ex/t/1/files.json")
	var back map[string]int64
	if json.Unmarshal([]byte(listing), &back) != nil || len(back) != 150 || back["out/file-with-a-long-name-7.csv"] != 2 {
		t.Fatalf("files.json: %.120q", listing)
	}
}

func TestOutputsFromFilesAreTextAndWin(t *testing.T) {
	store := newFakeStore(t)
	fixed := filepath.Join(t.TempDir(), "result.txt")
	res := runTask(t, store, func(s *Spec) {
		s.OutputFiles = nil
		s.Outputs.FromFiles = map[string]string{"rows": "rows.txt", "where": fixed, "n": "n.txt"}
	}, sh(`echo 42 > rows.txt; printf 'a "quoted"\nline' > `+fixed+`; printf '7' > n.txt; echo '{"n": 1, "kept": true}' > "$OUTPUTS"`)...)
	want := `{"kept":true,"n":"7","rows":"42","where":"a \"quoted\"\nline"}`
	got, _ := json.Marshal(res.manifest.Outputs)
	if res.code != 0 || string(got) != want {
		t.Fatalf("exit %d, outputs %s, want %s", res.code, got, want)
	}
}

func TestAnOutputFileThatIsMissingOrTooBigFailsTheTask(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) {
		s.OutputFiles = nil
		s.Outputs.FromFiles = map[string]string{"rows": "rows.txt"}
	}, sh(`true`)...)
	if res.code != ExitWrapperFailed || !strings.Contains(res.manifest.Error, "outputs: rows: rows.txt was not written by the command") {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
	res = runTask(t, store, func(s *Spec) {
		s.OutputFiles = nil
		s.Outputs.MaxBytes = 100
		s.Outputs.FromFiles = map[string]string{"rows": "rows.txt"}
	}, sh(`head -c 5000 /dev/zero > rows.txt`)...)
	if res.code != ExitWrapperFailed || !strings.Contains(res.manifest.Error, "outputs: rows: rows.txt is over the limit of 100 B for outputs") {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
}

func TestAGlobThatMatchesNothing(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, nil, sh(`true`)...)
	if res.code != ExitWrapperFailed || !strings.Contains(res.manifest.Error, `outputFiles: "out/*.csv" matched no file in`) {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
	if res.manifest.ExitCode == nil || *res.manifest.ExitCode != 0 {
		t.Fatal("the command's own exit code is kept")
	}
	res = runTask(t, store, func(s *Spec) { s.OutputFiles.IfNoMatch = "warn" }, sh(`true`)...)
	if res.code != 0 || len(res.manifest.Warnings) != 1 || !strings.Contains(res.manifest.Warnings[0], "matched no file") {
		t.Fatalf("warn: exit %d, manifest %s", res.code, res.raw)
	}
}

func TestAFileOverTheLimitFailsBeforeAnyUpload(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) { s.OutputFiles.MaxFileBytes = 1000 },
		sh(`mkdir out; echo small > out/a.csv; head -c 5000 /dev/zero > out/b.csv`)...)
	if res.code != ExitWrapperFailed || !strings.Contains(res.manifest.Error, "out/b.csv is 4.9 KiB, over the limit of 1000 B per file") {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
	if _, ok := store.get("ns/ex/t/1/files/0"); ok {
		t.Fatal("nothing is stored for a failed attempt")
	}
}

func TestMoreFilesThanSlotsFailBeforeAnyUpload(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) { s.OutputFiles.Slots = store.slots("ns/ex/t/1/files/", 2) },
		sh(`mkdir out; for f in a b c; do echo $f > out/$f.csv; done`)...)
	if res.code != ExitWrapperFailed || !strings.Contains(res.manifest.Error, "3 files matched, over the limit of 2 files a task (OVERTURE_MAX_OUTPUT_FILES)") {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
	if _, ok := store.get("ns/ex/t/1/files/0"); ok {
		t.Fatal("nothing is stored for a failed attempt")
	}
}

func TestAFailedCommandStoresOnlyItsLog(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, nil, sh(`mkdir out; echo x > out/a.csv; echo '{"a": 1}' > "$OUTPUTS"; echo last words >&2; exit 3`)...)
	m := res.manifest
	if res.code != 3 || *m.ExitCode != 3 || m.Error != "" || m.Outputs != nil || m.Files != nil {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
	if !strings.HasSuffix(m.LogTail, "last words\n") {
		t.Fatalf("log tail: %q", m.LogTail)
	}
	if _, ok := store.get("ns/ex/t/1/files/0"); ok {
		t.Fatal("files of a failed command must not be stored")
	}
	if log, _ := store.get("ns/ex/t/1/log"); !strings.Contains(log, "last words") {
		t.Fatalf("log: %q", log)
	}
}

func TestAMissingInputFailsBeforeTheCommand(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) { s.InputFiles[0].URL = store.url("ns/ex/up/1/files/gone.csv") },
		sh(`touch ran`)...)
	if res.code != ExitWrapperFailed || res.manifest.ExitCode != nil ||
		!strings.Contains(res.manifest.Error, "inputFiles: in/data.csv: GET "+store.srv.URL+"/ns/ex/up/1/files/gone.csv: 404 NoSuchKey") {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
}

func TestAStoreThatIsGoneFailsClearly(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) { s.InputFiles = nil; store.srv.Close() },
		sh(`mkdir out; echo x > out/a.csv`)...)
	m := res.manifest
	if res.code != ExitWrapperFailed || !strings.Contains(m.Error, "outputFiles: storing out/a.csv: PUT "+store.srv.URL+"/ns/ex/t/1/files/0:") ||
		!strings.Contains(m.Error, "connection refused (3 attempts)") {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
	if m.LogSize != nil || len(m.Warnings) != 1 || !strings.HasPrefix(m.Warnings[0], "log not archived: PUT") {
		t.Fatalf("the log could not be archived either: %s", res.raw)
	}
	if !strings.Contains(m.LogTail, "storing out/a.csv") {
		t.Fatalf("log tail: %q", m.LogTail)
	}
}

func TestBadOutputsFailTheTask(t *testing.T) {
	store := newFakeStore(t)
	for script, want := range map[string]string{
		`echo '[1, 2]' > "$OUTPUTS"`: "must hold a JSON object, not array",
		`echo '{"a": ' > "$OUTPUTS"`: "is not valid JSON",
	} {
		res := runTask(t, store, func(s *Spec) { s.OutputFiles = nil }, sh(script)...)
		if res.code != ExitWrapperFailed || !strings.Contains(res.manifest.Error, want) {
			t.Errorf("%s: exit %d, manifest %s", script, res.code, res.raw)
		}
	}
}

func TestOutputsOverTheMaximum(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) { s.OutputFiles = nil; s.Outputs.MaxBytes = 100 },
		sh(`printf '{"a": "%0200d"}' 0 > "$OUTPUTS"`)...)
	if res.code != ExitWrapperFailed || !strings.Contains(res.manifest.Error, "outputs: 208 B of outputs, over the limit of 100 B") {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
}

func TestACommandThatIsNotThere(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) { s.InputFiles = nil }, "no-such-command-here")
	if res.code != 127 || !strings.Contains(res.manifest.Error, `command "no-such-command-here" not found`) || res.manifest.ExitCode != nil {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
}

func TestASignalledCommand(t *testing.T) {
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) { s.InputFiles = nil }, sh(`kill -TERM $$`)...)
	if res.code != 128+15 {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
}

func TestABackgroundChildDoesNotHoldTheTask(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 5 s WaitDelay")
	}
	store := newFakeStore(t)
	res := runTask(t, store, func(s *Spec) { s.InputFiles = nil; s.OutputFiles = nil }, sh(`sleep 60 & echo started`)...)
	if res.code != 0 || res.manifest.Millis.Command > 20000 {
		t.Fatalf("exit %d, manifest %s", res.code, res.raw)
	}
}

func TestInstallCopiesTheBinary(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "bin", "overture-wrapper")
	if code := cli([]string{"install", dest}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	info, err := os.Stat(dest)
	self, _ := os.Executable()
	selfInfo, _ := os.Stat(self)
	if err != nil || info.Mode().Perm() != 0o755 || info.Size() != selfInfo.Size() {
		t.Fatalf("installed: %v %v", info, err)
	}
}

func TestABadSpecIsReported(t *testing.T) {
	t.Setenv(SpecEnv, `{"workDir": "relative"}`)
	bareManifestPath = filepath.Join(t.TempDir(), "termination-log")
	if code := cli([]string{"run", "--", "true"}); code != ExitWrapperFailed {
		t.Fatalf("exit %d", code)
	}
	raw, _ := os.ReadFile(bareManifestPath)
	if !strings.Contains(string(raw), `workDir: \"relative\" must be an absolute path`) {
		t.Fatalf("manifest: %s", raw)
	}
}

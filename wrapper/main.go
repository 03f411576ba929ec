// overture-wrapper runs a task's command inside its pod and moves the task's data through an
// S3-compatible store, with presigned requests only (the pod holds no store credentials and
// the operator is not in the data path). An init container copies it into the pod's shared
// emptyDir (`install`), so any image works, busybox included; the task container then runs
// `overture-wrapper run -- <command...>` with the plan in $OVERTURE_WRAPPER_SPEC:
//
//  1. inputFiles are downloaded (presigned GET) or written (inline text) into the work dir;
//  2. the command runs there; its stdout and stderr pass through and are kept as one log;
//     ::{"outputs": {...}}:: lines on stdout are outputs;
//  3. if it succeeded: outputs (those lines, then the outputs file) and the files matched by the
//     outputFiles globs are stored (presigned PUTs: outputs.json, and each file to its own slot
//     <attempt>/files/<i>, a key signed by the operator that the command cannot change);
//  4. the log is archived (presigned PUT), whatever happened;
//  5. a manifest (manifest.go) goes to the termination message, under 4 KiB.
//
// Exit code: the command's; ExitWrapperFailed (125) when the command succeeded or never ran but
// the wrapper's part failed; 127/126 when the command was not found / could not start.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Version is set at build time (-ldflags "-X main.Version=...").
var Version = "dev"

const usage = `usage:
  overture-wrapper run -- COMMAND [ARG...]   run COMMAND as a task ($OVERTURE_WRAPPER_SPEC says how)
  overture-wrapper install DEST               copy this binary to DEST (an init container's job)
  overture-wrapper version`

func main() {
	os.Exit(cli(os.Args[1:]))
}

func cli(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		argv := args[1:]
		if len(argv) > 0 && argv[0] == "--" {
			argv = argv[1:]
		}
		if len(argv) == 0 {
			fmt.Fprintln(os.Stderr, "overture-wrapper run: no command given\n"+usage)
			return 2
		}
		return run(argv)
	case "install":
		if len(args) != 2 {
			fmt.Fprintln(os.Stderr, usage)
			return 2
		}
		if err := install(args[1]); err != nil {
			fmt.Fprintf(os.Stderr, "overture-wrapper install: %v\n", err)
			return 1
		}
		return 0
	case "version":
		fmt.Println(Version)
		return 0
	}
	fmt.Fprintf(os.Stderr, "overture-wrapper: unknown command %q\n%s\n", args[0], usage)
	return 2
}

func run(argv []string) int {
	spec, err := ParseSpec(os.Getenv(SpecEnv))
	if err != nil {
		// No plan, nothing to store: say why where the operator will read it.
		fmt.Fprintf(os.Stderr, "[overture] %v\n", err)
		writeBareManifest(err)
		return ExitWrapperFailed
	}
	r := &Runner{
		Spec:   spec,
		Xfer:   newTransfer(spec.Transfers),
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Env:    envWithout(os.Environ(), SpecEnv),
	}
	return r.Run(argv)
}

// bareManifestPath: without a spec the termination message path is unknown; the operator
// leaves the container's at its default.
var bareManifestPath = defaultTerminationPath

func writeBareManifest(err error) {
	m := Manifest{Version: ManifestVersion, Error: err.Error()}
	os.WriteFile(bareManifestPath, m.shrink(ManifestBudget), 0o644)
}

func envWithout(env []string, name string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// install copies the running binary to dest (through a temporary file and a rename, so a
// half-copied binary is never run).
func install(dest string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".install-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

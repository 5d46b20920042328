package vendor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Review 15: the release and vault.sh scripts, run in a scratch copy with
// stub `go` and `vault` binaries, so that nothing is built.

func writeExec(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
}

func copyInto(t *testing.T, dst string, files ...string) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeExec(t, filepath.Join(dst, f), string(b))
	}
}

// release.sh says it pins "the Go environment knobs that change code
// generation", clearing GOFLAGS (GOFLAGS=) and GOEXPERIMENT (env -u). But
// the go command reads an empty or unset variable from the user's go env
// file (`go env -w GOFLAGS=...`, GOENV), so a release built on a machine
// with such a setting carries it (here -gcflags=all=-N, or an experiment)
// and its bytes differ from everyone else's; GOFIPS140, which picks the
// crypto module linked in, is not pinned at all. The release must refuse
// such an environment or not read the go env file.
func TestReview15ReleaseIgnoresTheGoEnvFile(t *testing.T) {
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go")
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	dir := t.TempDir()
	copyInto(t, dir, "scripts/release.sh")
	record := filepath.Join(dir, "record")
	stub := filepath.Join(dir, "stub")
	// The stub go records what the real one would build with, and makes
	// the output file.
	writeExec(t, filepath.Join(stub, "go"), `#!/usr/bin/env bash
case "$1" in
build)
  echo "GOFLAGS=$(`+realGo+` env GOFLAGS) GOEXPERIMENT=$(`+realGo+` env GOEXPERIMENT) GOFIPS140=$(`+realGo+` env GOFIPS140)" >> "`+record+`"
  while [ $# -gt 0 ]; do [ "$1" = -o ] && { echo bin > "$2"; }; shift; done ;;
version) echo "go version stub" ;;
env) exec `+realGo+` "$@" ;;
esac
`)
	for name, env := range map[string]string{
		"GOFLAGS":      "GOFLAGS=-gcflags=all=-N\n",
		"GOEXPERIMENT": "GOEXPERIMENT=loopvar\n",
		"GOFIPS140":    "",
	} {
		t.Run(name, func(t *testing.T) {
			os.Remove(record)
			goenv := filepath.Join(dir, "goenv-"+name)
			os.WriteFile(goenv, []byte(env), 0o644)
			cmd := exec.Command("bash", filepath.Join(dir, "scripts/release.sh"), "v1.2.3")
			cmd.Env = append(os.Environ(), "PATH="+stub+":"+os.Getenv("PATH"), "GOENV="+goenv)
			cmd.Env = append(cmd.Env, "GOFLAGS=", "GOEXPERIMENT=")
			if name == "GOFIPS140" {
				cmd.Env = append(cmd.Env, "GOFIPS140=v1.0.0")
			} else {
				cmd.Env = append(cmd.Env, "GOFIPS140=")
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				return // refused: fine
			}
			rec, _ := os.ReadFile(record)
			for _, line := range strings.Split(strings.TrimSpace(string(rec)), "\n") {
				// -buildvcs=false is a flag the release passes anyway.
				if line != "GOFLAGS= GOEXPERIMENT= GOFIPS140=off" && line != "GOFLAGS=-buildvcs=false GOEXPERIMENT= GOFIPS140=off" {
					t.Fatalf("the release built with %q from the user's go environment:\n%s", line, out)
				}
			}
		})
	}
}

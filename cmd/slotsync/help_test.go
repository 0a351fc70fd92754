package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestHelpOnReadOnlyFilesystem starts the built binary as the manifests run it, with
// nowhere to write (readOnlyRootFilesystem): nothing may write at init, as envtest's
// port cache did under $HOME/.cache or $TMPDIR.
func TestHelpOnReadOnlyFilesystem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses /proc as the directory nothing can be created in")
	}
	const readOnly = "/proc"
	if err := os.Mkdir(filepath.Join(readOnly, "slotsync-probe"), 0o700); err == nil {
		t.Fatalf("created a directory in %s; the test needs one where that fails", readOnly)
	}
	bin := filepath.Join(t.TempDir(), "slotsync")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "HOME" && name != "TMPDIR" && name != "XDG_CACHE_HOME" {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+readOnly, "TMPDIR="+readOnly)

	help := func(t *testing.T, args ...string) string {
		t.Helper()
		args = append(args, "--help")
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("slotsync %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	commands := []string{"api", "manager", "migrate", "sync", "version"}
	t.Run("slotsync", func(t *testing.T) {
		out := help(t)
		if got := listedCommands(out); !slices.Equal(got, commands) {
			t.Errorf("slotsync --help lists commands %q, want %q:\n%s", got, commands, out)
		}
	})
	for _, c := range commands {
		t.Run(c, func(t *testing.T) {
			if out := help(t, c); !strings.Contains(out, "slotsync "+c+" [flags]") {
				t.Errorf("slotsync %s --help does not name the command:\n%s", c, out)
			}
		})
	}
}

// listedCommands returns the names under cobra's "Available Commands:", less
// cobra's own completion and help.
func listedCommands(help string) []string {
	_, list, _ := strings.Cut(help, "Available Commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	var names []string
	for line := range strings.Lines(list) {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "completion" && f[0] != "help" {
			names = append(names, f[0])
		}
	}
	return names
}

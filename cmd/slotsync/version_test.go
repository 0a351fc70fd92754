package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionIsStampedByLdflags builds the binary as the Makefile and the
// Dockerfile do and checks that `slotsync version` reports what they passed.
func TestVersionIsStampedByLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "slotsync")
	ldflags := "-X github.com/slotsync/slotsync/internal/version.Version=v9.8.7 -X main.revision=abc1234"
	build := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("slotsync version: %v\n%s", err, out)
	}
	want := "version: v9.8.7\nrevision: abc1234\ngo: " + runtime.Version() + "\n"
	if string(out) != want {
		t.Errorf("slotsync version printed\n%s\nwant\n%s", out, want)
	}
	if strings.Contains(string(out), "dev") {
		t.Errorf("the ldflags version did not replace the default: %s", out)
	}
}

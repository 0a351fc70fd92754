package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingSlotsync checks that the commands that run the production binary say
// how to get it before they start anything.
func TestMissingSlotsync(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "slotsync")
	notExec := filepath.Join(t.TempDir(), "slotsync")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"dev", []string{"dev", "--slotsync", missing, "--root", t.TempDir()}, "make build"},
		{"dev, not executable", []string{"dev", "--slotsync", notExec, "--root", t.TempDir()}, "not an executable file"},
		{"bench controller", []string{"bench", "--topics", "budget,controller", "--slotsync", missing, "--out", t.TempDir()}, "make build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			cmd.SetArgs(tt.args)
			err := cmd.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), "--slotsync") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("slotsync-dev %s: error %v, want one naming --slotsync and %q", strings.Join(tt.args, " "), err, tt.want)
			}
		})
	}
}

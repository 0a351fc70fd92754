package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestAPIRefusesPlainHTTPUnlessAsked: without a certificate `slotsync api`
// stops before it serves, saying how to give it one; --insecure-http is the
// only way to plain HTTP.
func TestAPIRefusesPlainHTTPUnlessAsked(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // empty: the flags pass this check
	}{
		{"no TLS, no flag", nil, "--insecure-http"},
		{"certificate without key", []string{"--tls-cert-file=tls.crt"}, "set both"},
		{"key without certificate", []string{"--tls-key-file=tls.key"}, "set both"},
		{"TLS and insecure", []string{"--tls-cert-file=tls.crt", "--tls-key-file=tls.key", "--insecure-http"}, "choose one"},
		{"insecure asked for", []string{"--insecure-http"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The next check needs DATABASE_URL: its error proves this one passed.
			t.Setenv("DATABASE_URL", "")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := newRootCmd()
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			cmd.SetArgs(append([]string{"api", "--schedule=default/sample"}, tt.args...))
			err := cmd.ExecuteContext(ctx)
			if err == nil {
				t.Fatal("api started")
			}
			want := tt.wantErr
			if want == "" {
				want = "DATABASE_URL"
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}

// TestAPIRefusesNegativeShutdownDelay: a negative --shutdown-delay stops
// `slotsync api` before it reaches the cluster or the database.
func TestAPIRefusesNegativeShutdownDelay(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := newRootCmd()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"api", "--schedule=default/sample", "--insecure-http", "--shutdown-delay=-1s"})
	err := cmd.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "--shutdown-delay") {
		t.Errorf("api with --shutdown-delay=-1s: %v, want an error naming the flag", err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/cli"
	"github.com/slotsync/slotsync/internal/partnersim"
	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/syncertest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestSyncExitCodes runs the sync command as a Job's pod does and checks the exit
// code its pod failure policy reads: 0 when every pair was written, 3 when the
// partner rejected the key, 1 when pairs failed for any other reason.
func TestSyncExitCodes(t *testing.T) {
	const key = "exit-code-key"
	tests := []struct {
		name   string
		faults partnersim.Faults
		want   int
	}{
		{"every pair written", partnersim.Faults{}, 0},
		{"key rejected", partnersim.Faults{RevokedKeys: []string{key}}, int(inventoryv1alpha1.ExitCodePartnerUnauthorized)},
		{"partner failing", partnersim.Faults{ErrorRate: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := partnersim.New(partnersim.Config{Seed: 3, Limit: -1, Keys: []string{key}, Faults: tt.faults})
			partnerURL := syncertest.Serve(t, sim, nil)
			t.Setenv("PARTNER_API_KEY", key)
			t.Setenv("DATABASE_URL", pgtest.NewDatabase(t))

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := newRootCmd()
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			cmd.SetArgs([]string{"sync", "--products=14,15", "--from-day=0", "--to-day=1", "--partner-url=" + partnerURL,
				"--rate-limit=1000", "--rate-window=1s", "--max-attempts=1", "--termination-log=", "--migrate"})
			err := cmd.ExecuteContext(ctx)
			got := 0
			if err != nil {
				got = cli.ExitCode(err)
			}
			if got != tt.want {
				t.Errorf("exit code %d (error %v), want %d", got, err, tt.want)
			}
			if st := sim.Stats(); tt.want == int(inventoryv1alpha1.ExitCodePartnerUnauthorized) && st.Requests != 1 {
				t.Errorf("the partner got %d requests after rejecting the key, want 1", st.Requests)
			}
		})
	}
}

// TestSyncPollingFlag: --polling=adaptive reaches the worker (after a run over
// three weeks of product 14, it leaves out the 12 dates Thursday to Sunday and
// says so in the termination message), the default fetches everything and writes no
// pairsPlanned, and an unknown mode is refused.
func TestSyncPollingFlag(t *testing.T) {
	const key = "polling-key"
	sim := partnersim.New(partnersim.Config{Seed: 3, Limit: -1, Keys: []string{key}})
	partnerURL := syncertest.Serve(t, sim, nil)
	t.Setenv("PARTNER_API_KEY", key)
	t.Setenv("DATABASE_URL", pgtest.NewDatabase(t))
	run := func(t *testing.T, extra ...string) (map[string]any, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		log := filepath.Join(t.TempDir(), "termination-log")
		cmd := newRootCmd()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"sync", "--products=14", "--from-day=0", "--to-day=20", "--partner-url=" + partnerURL,
			"--rate-limit=1000", "--rate-window=1s", "--max-attempts=1", "--every=15m", "--termination-log=" + log, "--migrate"}, extra...))
		if err := cmd.ExecuteContext(ctx); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		var sum map[string]any
		if err := json.Unmarshal(b, &sum); err != nil {
			t.Fatal(err)
		}
		return sum, nil
	}
	if _, err := run(t, "--polling=sometimes"); err == nil || !strings.Contains(err.Error(), "--polling") {
		t.Errorf("--polling=sometimes: error %v, want it refused", err)
	}
	// The uniform run's answers are the history the adaptive ones learn from.
	for i, want := range []any{nil, float64(12), float64(12)} {
		mode := []string{"--polling=uniform", "--polling=adaptive", "--polling=adaptive"}[i]
		sum, err := run(t, mode)
		if err != nil {
			t.Fatalf("run %d %s: %v", i+1, mode, err)
		}
		if sum["pairsPlanned"] != want {
			t.Errorf("run %d %s: pairsPlanned %v, want %v (summary %v)", i+1, mode, sum["pairsPlanned"], want, sum)
		}
	}
	sum, err := run(t)
	if err != nil || sum["pairsPlanned"] != nil || sum["requests"] != float64(21) {
		t.Errorf("run without --polling: error %v, summary %v; want all 21 fetched", err, sum)
	}
}

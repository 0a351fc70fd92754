package main

import (
	"context"
	"io"
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

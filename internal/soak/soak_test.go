package soak_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/soak"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Environment of the long soak (make soak).
const (
	envCycles = "SLOTSYNC_SOAK_CYCLES"
	envSeed   = "SLOTSYNC_SOAK_SEED"
)

// TestSoakShort is the soak of every `make test`: ten cycles cover every fault.
func TestSoakShort(t *testing.T) {
	runSoak(t, 10)
}

// TestSoak is the long soak: SLOTSYNC_SOAK_CYCLES cycles (make soak runs 120).
func TestSoak(t *testing.T) {
	v := os.Getenv(envCycles)
	if v == "" {
		t.Skipf("set %s to run the long soak, e.g. %s=120 (make soak)", envCycles, envCycles)
	}
	cycles, err := strconv.Atoi(v)
	if err != nil || cycles < 1 {
		t.Fatalf("%s=%q: want a positive number of cycles", envCycles, v)
	}
	runSoak(t, cycles)
}

func runSoak(t *testing.T, cycles int) {
	seed := int64(1)
	if v := os.Getenv(envSeed); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: want an integer", envSeed, v)
		}
	}
	// A server of the soak's own: it restarts it.
	srv := pgtest.NewServer(t)
	url := srv.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 19*time.Minute)
	defer cancel()
	report, err := soak.Run(ctx, soak.Config{
		Seed:        seed,
		Cycles:      cycles,
		DatabaseURL: url,
		RestartDatabase: func(ctx context.Context) error {
			return srv.Restart(ctx)
		},
		Logf: t.Logf,
	})
	t.Log("\n" + report.String())
	if err != nil {
		t.Fatalf("soak with seed %d did not finish: %v (replay the plan with %s=%d)", seed, err, envSeed, seed)
	}
	for _, f := range soak.AllFaults {
		if report.Injected[f] == 0 {
			t.Errorf("fault %q was never injected", f)
		}
	}
	// In a few cycles a rare fault may be switched on yet hit no answer, when
	// another body fault of the same cycle takes precedence; in many it cannot.
	for _, f := range soak.PartnerFaults {
		if report.Answers[f] == 0 && cycles >= 50 {
			t.Errorf("no partner answer carried fault %q", f)
		}
	}
	if report.PairFailures == 0 || report.SimFaults == 0 || report.RateLimited == 0 {
		t.Errorf("the faults hurt nothing (%d pair failures, %d simulator faults, %d 429s): the soak tests nothing",
			report.PairFailures, report.SimFaults, report.RateLimited)
	}
	if len(report.Violations) > 0 || report.RowsLost+report.RowsDuplicated+report.WrongAnswers+report.PartialSnapshots+report.FinalMismatches > 0 {
		t.Errorf("soak with seed %d broke its promises (replay the plan with %s=%d)", seed, envSeed, seed)
	}
}

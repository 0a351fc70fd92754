// Package bench measures slotsync against its baselines and physical limits, side
// by side in one run, and writes the results as Markdown tables, JSON and SVG plots
// (`slotsync-dev bench`, `make bench`). Each goal of the project is a ratio measured
// in the same run, never an absolute time: the machines it runs on are small and
// shared.
//
// Benchmarks are not tests: a figure that misses its goal is reported with a ✗, not
// an error. But every benchmark checks its own work (rows written, answers equal,
// Jobs created) and stops with an error when that is wrong, since a fast wrong
// answer measures nothing.
//
// Each topic has a file of its own: budget (partner budget utilisation), write
// (snapshot write speed), read (API read throughput against pgbench), controller
// (SyncSchedules at scale on envtest) and capacity (products per partner key).
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Topics are the benchmarks in the order they run. Read comes after write so that
// a slow API build never holds the others back; capacity is last as the longest.
var Topics = []string{"budget", "write", "read", "controller", "capacity"}

// Options configure a run.
type Options struct {
	// Topics to run; empty means all of Topics.
	Topics []string
	// OutDir receives <topic>.md, <topic>.json and plots.
	OutDir string
	// Quick shrinks every benchmark to a smoke run of seconds: it checks that the
	// code works, and its figures mean little.
	Quick bool
	// CapacityCandidates, when set, are the only capacity candidates run
	// (adaptive-450, uniform-450, adaptive-open-276, uniform-open-276), each
	// over the whole span, without the searches: a scaled day each, for one
	// figure at a time.
	CapacityCandidates []string
	// CapacityCompression is how much faster than real time the capacity
	// topic's scaled days run; zero means defaultCompression.
	CapacityCompression float64
	// Manager is the production slotsync binary, which the controller benchmark
	// runs as `slotsync manager`; required for that topic.
	Manager string
}

// topicFunc runs one benchmark and fills its report.
type topicFunc func(ctx context.Context, h *harness, r *Report) error

var topicFuncs = map[string]topicFunc{
	"budget":     runBudget,
	"write":      runWrite,
	"read":       runRead,
	"controller": runController,
	"capacity":   runCapacity,
}

// Run runs the chosen topics one after another and writes a report per topic. It
// stops at the first topic that fails its own checks; the reports of the topics
// before it are written.
func Run(ctx context.Context, opts Options) error {
	log := logr.FromContextOrDiscard(ctx)
	// envtest and the in-process manager log through controller-runtime; their
	// chatter is not the benchmark's.
	ctrllog.SetLogger(logr.Discard())
	topics := opts.Topics
	if len(topics) == 0 {
		topics = Topics
	}
	for _, t := range topics {
		if _, ok := topicFuncs[t]; !ok {
			return fmt.Errorf("unknown topic %q: want some of %s", t, strings.Join(Topics, ","))
		}
	}
	if opts.OutDir == "" {
		return errors.New("no output directory")
	}
	if c := opts.CapacityCompression; c != 0 && c < 1 {
		return fmt.Errorf("capacity compression %g: want 1 (real time) or more", c)
	}
	if slices.Contains(topics, "controller") && opts.Manager == "" {
		return errors.New("no slotsync binary for the controller benchmark's manager")
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", opts.OutDir, err)
	}
	h, err := newHarness(ctx, opts)
	if err != nil {
		return err
	}
	defer h.close()

	for _, t := range Topics { // in the fixed order, whatever order was asked
		if !slices.Contains(topics, t) {
			continue
		}
		log.Info("benchmark starting", "topic", t, "quick", opts.Quick)
		began := time.Now()
		r := h.newReport(t)
		cpu := startCPUWatch()
		err := topicFuncs[t](ctx, h, r)
		r.Machine = h.machine
		r.finish(cpu.stop(), time.Since(began))
		if err != nil {
			return fmt.Errorf("benchmark %s: %w", t, err)
		}
		if err := r.write(opts.OutDir); err != nil {
			return err
		}
		log.Info("benchmark done", "topic", t, "elapsed", time.Since(began).Round(time.Second).String(),
			"results", filepath.Join(opts.OutDir, t+".md"))
	}
	return nil
}

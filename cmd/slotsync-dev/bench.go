package main

import (
	"slices"

	"github.com/spf13/cobra"

	"github.com/slotsync/slotsync/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		topics      []string
		out         string
		quick       bool
		slotsync    string
		capacity    []string
		compression float64
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure slotsync against its baselines and limits, and write the result tables",
		Long: `bench runs the benchmarks of bench/README.md and writes bench/results/<topic>.md,
a .json beside each, and SVG plots:

  budget      partner budget used by the shared limiter vs a fire-until-429 client
  write       snapshot writes vs a per-row upsert loop and bare COPY
  read        the slots API under load vs pgbench running the same SQL
  controller  1,000 SyncSchedules on envtest: time to Jobs, reconciles/s, manager RSS
  capacity    products one partner key keeps fresh, in compressed time

It starts what it needs: a throwaway PostgreSQL (as the tests do), the partner
simulator, envtest's etcd and kube-apiserver (KUBEBUILDER_ASSETS, see make
envtest-assets) and 'slotsync manager' from the production binary (--slotsync, built
by make build). The read benchmark needs pgbench (Debian: postgresql). A full run
takes about 75 minutes, most of it the capacity topic's scaled days; --quick checks in a few minutes that every benchmark works,
with figures that mean little.`,
		Example: `  KUBEBUILDER_ASSETS=$PWD/bin/k8s bin/slotsync-dev bench --out bench/results
  bin/slotsync-dev bench --topics write,read --quick --out /tmp/bench`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Only the controller benchmark runs the manager; the others need no build.
			var manager string
			if len(topics) == 0 || slices.Contains(topics, "controller") {
				var err error
				if manager, err = slotsyncBinary(slotsync); err != nil {
					return err
				}
			}
			return bench.Run(cmd.Context(), bench.Options{Topics: topics, OutDir: out, Quick: quick, Manager: manager, CapacityCandidates: capacity, CapacityCompression: compression})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&topics, "topics", bench.Topics, "benchmarks to run, comma-separated")
	f.StringVar(&out, "out", "bench/results", "directory for the result tables, JSON and plots")
	f.BoolVar(&quick, "quick", false, "a short smoke run of every benchmark")
	f.StringSliceVar(&capacity, "capacity-candidates", nil, "run only these capacity candidates, each a whole scaled day, e.g. adaptive-450,uniform-450,adaptive-open-276")
	f.Float64Var(&compression, "capacity-compression", 0, "time compression of the capacity topic's scaled days (default 360: a day in 4 minutes); lower is slower and closer to real time")
	f.StringVar(&slotsync, "slotsync", defaultSlotsync, "the production slotsync binary, run as 'slotsync manager' by the controller benchmark")
	return cmd
}

// Command slotsync-dev is slotsync's development tooling: the local environment, the
// partner simulator and the benchmarks. It is never shipped: it links envtest,
// virtual-kubelet and the test harnesses, and runs the production binary, slotsync,
// for the manager, the API and the sync worker.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "slotsync-dev:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var verbosity int
	var development bool
	root := &cobra.Command{
		Use:   "slotsync-dev",
		Short: "Run slotsync on this machine: local environment, partner simulator, benchmarks",
		Long: `slotsync-dev holds what develops and measures slotsync and never ships: a local
Kubernetes environment, the partner simulator and the benchmarks. It runs the
production binary (--slotsync, built by 'make build' into bin/slotsync) for the
manager, the REST API and the sync worker.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			log := zap.New(zap.UseDevMode(development), zap.Level(zapcore.Level(-verbosity)))
			cmd.SetContext(logr.NewContext(cmd.Context(), log))
		},
	}
	root.PersistentFlags().IntVarP(&verbosity, "verbosity", "v", 0, "log verbosity: 0 for info, 1 and more for detail")
	root.PersistentFlags().BoolVar(&development, "dev-log", false, "human-readable console logs instead of JSON")
	root.AddCommand(newDevCmd(), newPartnerSimCmd(), newBenchCmd())
	return root
}

// defaultSlotsync is where `make build` puts the production binary.
const defaultSlotsync = "bin/slotsync"

// slotsyncBinary returns the absolute path of the production binary at path, which
// the --slotsync flag gave.
func slotsyncBinary(path string) (string, error) {
	p := abs(path)
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("--slotsync %s: %w; run `make build`, or point --slotsync at the slotsync binary", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("--slotsync %s: not an executable file", path)
	}
	return p, nil
}

// Command slotsync is the production binary of slotsync, the one the image ships:
// the operator's manager, the REST API, the sync worker that each Job runs and
// migrations. Development tooling is cmd/slotsync-dev; nothing here may link it
// (deps_test.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/slotsync/slotsync/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "slotsync:", err)
		os.Exit(exitCode(err))
	}
}

// exitError is an error with an exit code other than 1, which a Job's pod
// failure policy can tell apart.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the process's exit code for err.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

func newRootCmd() *cobra.Command {
	var verbosity int
	var development bool
	root := &cobra.Command{
		Use:   "slotsync",
		Short: "Mirror a ticketing partner's inventory into PostgreSQL and serve it in Kubernetes",
		Long: `slotsync keeps a ticketing partner's time slots, availability and prices mirrored
in PostgreSQL, driven by SyncSchedule resources, and serves them over REST.

Secrets never go on the command line: the partner key comes from PARTNER_API_KEY
and the database URL from DATABASE_URL.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			log := zap.New(zap.UseDevMode(development), zap.Level(zapcore.Level(-verbosity)))
			cmd.SetContext(logr.NewContext(cmd.Context(), log))
		},
	}
	root.PersistentFlags().IntVarP(&verbosity, "verbosity", "v", 0, "log verbosity: 0 for info, 1 and more for detail")
	root.PersistentFlags().BoolVar(&development, "dev-log", false, "human-readable console logs instead of JSON")
	root.AddCommand(newMigrateCmd(), newSyncCmd(), newManagerCmd(), newAPICmd())
	return root
}

// envSecret reads a secret from the environment; secrets never come from flags so
// they stay out of process lists and shell history.
func envSecret(name string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("environment variable %s is not set", name)
	}
	return v, nil
}

// openStore connects to Postgres, first applying pending migrations when asked.
func openStore(ctx context.Context, databaseURL string, migrate bool) (*store.Store, error) {
	if migrate {
		if err := store.Migrate(ctx, databaseURL); err != nil {
			return nil, err
		}
	}
	return store.Open(ctx, databaseURL)
}

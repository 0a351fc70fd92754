// Package cli is the root that slotsync's binaries share: the logging flags, the
// signal context and how a command's error becomes the exit code.
package cli

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
)

// NewRoot returns a root command with the logging flags; its subcommands find
// the logger in their context. Errors are left to Main, which prints them once.
func NewRoot(use, short, long string, commands ...*cobra.Command) *cobra.Command {
	var verbosity int
	var development bool
	root := &cobra.Command{
		Use:           use,
		Short:         short,
		Long:          long,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			log := zap.New(zap.UseDevMode(development), zap.Level(zapcore.Level(-verbosity)))
			cmd.SetContext(logr.NewContext(cmd.Context(), log))
		},
	}
	root.PersistentFlags().IntVarP(&verbosity, "verbosity", "v", 0, "log verbosity: 0 for info, 1 and more for detail")
	root.PersistentFlags().BoolVar(&development, "dev-log", false, "human-readable console logs instead of JSON")
	root.AddCommand(commands...)
	return root
}

// Main runs root until SIGINT or SIGTERM cancels its context, and exits with
// the code of its error.
func Main(root *cobra.Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", root.Name(), err)
		os.Exit(ExitCode(err))
	}
}

// ExitError is an error with an exit code other than 1, which a Job's pod
// failure policy can tell apart.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the process's exit code for err: an ExitError's code, else 1.
func ExitCode(err error) int {
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return 1
}

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/slotsync/slotsync/internal/store"
)

func newMigrateCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema to this version of slotsync",
		Long: `migrate applies the schema migrations built into this binary (goose, versioned
SQL files) to the database at DATABASE_URL, and prints the schema version before
and after.

It is idempotent: on a current schema it changes nothing. It is safe to run
concurrently, for example from an init container of every replica: a Postgres
advisory lock lets one run apply the migrations while the others wait for it and
then find nothing left to do.`,
		Example: `  DATABASE_URL=postgres://slotsync@db:5432/slotsync slotsync migrate --timeout 2m`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			databaseURL, err := envSecret("DATABASE_URL")
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			log := logr.FromContextOrDiscard(ctx)

			report, err := store.ApplyMigrations(ctx, databaseURL)
			if err != nil {
				return err
			}
			log.Info("schema migrated", "database", store.RedactURL(databaseURL),
				"fromVersion", report.Before, "toVersion", report.After, "applied", report.Applied)
			applied := "nothing to apply"
			if len(report.Applied) > 0 {
				applied = "applied " + strings.Join(report.Applied, ", ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema version %d -> %d (%s)\n", report.Before, report.After, applied)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute,
		"give up after this long, waiting for another migrating process included")
	return cmd
}

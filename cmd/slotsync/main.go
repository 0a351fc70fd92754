// Command slotsync is the production binary of slotsync, the one the image ships:
// the operator's manager, the REST API, the sync worker that each Job runs and
// migrations. Development tooling is cmd/slotsync-dev; nothing here may link it
// (deps_test.go).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/slotsync/slotsync/internal/cli"
	"github.com/slotsync/slotsync/internal/store"
)

func main() { cli.Main(newRootCmd()) }

func newRootCmd() *cobra.Command {
	return cli.NewRoot("slotsync",
		"Mirror a ticketing partner's inventory into PostgreSQL and serve it in Kubernetes",
		`slotsync keeps a ticketing partner's time slots, availability and prices mirrored
in PostgreSQL, driven by SyncSchedule resources, and serves them over REST.

Secrets never go on the command line: the partner key comes from PARTNER_API_KEY
and the database URL from DATABASE_URL.`,
		newMigrateCmd(), newSyncCmd(), newManagerCmd(), newAPICmd(), newVersionCmd())
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

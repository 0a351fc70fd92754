// Package migrations holds the versioned schema of slotsync's PostgreSQL database as
// numbered goose SQL files. They are applied by `slotsync migrate` (store.Migrate);
// a file that has shipped is never edited, a change is a new file.
package migrations

import "embed"

// FS holds every migration file, in goose's numbered naming.
//
//go:embed *.sql
var FS embed.FS

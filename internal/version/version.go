// Package version holds the release version of the slotsync binaries, set at
// build time with -ldflags "-X github.com/slotsync/slotsync/internal/version.Version=v1.2.3".
package version

// Version is the release this binary was built from; "dev" when built without ldflags.
var Version = "dev"

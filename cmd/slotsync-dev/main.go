// Command slotsync-dev is slotsync's development tooling: the local environment, the
// partner simulator and the benchmarks. It is never shipped: it links envtest,
// virtual-kubelet and the test harnesses, and runs the production binary, slotsync,
// for the manager, the API and the sync worker.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/slotsync/slotsync/internal/cli"
)

func main() { cli.Main(newRootCmd()) }

func newRootCmd() *cobra.Command {
	return cli.NewRoot("slotsync-dev",
		"Run slotsync on this machine: local environment, partner simulator, benchmarks",
		`slotsync-dev holds what develops and measures slotsync and never ships: a local
Kubernetes environment, the partner simulator and the benchmarks. It runs the
production binary (--slotsync, built by 'make build' into bin/slotsync) for the
manager, the REST API and the sync worker.`,
		newDevCmd(), newPartnerSimCmd(), newBenchCmd(), newImageCmd())
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

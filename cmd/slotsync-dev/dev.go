package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/slotsync/slotsync/internal/devenv"
)

func newDevCmd() *cobra.Command {
	var (
		root, k8sBin, repo, slotsync, node string
		fast                               bool
		readyTimeout                       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole of slotsync on this machine, with a local Kubernetes control plane",
		Long: `dev starts, on this machine only: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler (from --k8s-bin; 'make k8s-binaries' builds them), a node, PostgreSQL
and the partner simulator. It installs config/ and the Secrets, applies the sample
SyncSchedule for products 14 and 15, waits for its first successful sync and prints
how to look at it. Ctrl-C stops everything. State lives in --root and is wiped at
each start.

The real node (as root, where the machine has cgroups; 'make deps-real-node
real-node-binaries') runs pods in containers: containerd, a kubelet and kube-proxy,
the image 'slotsync-dev image' builds from the production binary (--slotsync; 'make
build'), on a bridge in 10.213.0.0/16 that reaches nothing off the machine. There
config/default is installed as users install it, with only the image set: the
manager and the API run as its Deployments, and the API answers through its Service
over HTTPS. The process node runs pods as host processes instead (no images, no
security contexts, no probes, no Service networking), with the manager and the API as
host processes; --node auto (the default) falls back to it and says why. See
docs/real-node.md and docs/local-node.md.

--fast runs time 60 times faster (intervals, the partner's rate-limit window and the
simulator's inventory clock), so several runs happen within minutes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			bin, err := slotsyncBinary(slotsync)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			began := time.Now()
			env, err := devenv.Start(ctx, devenv.Options{
				Root: abs(root), K8sBin: abs(k8sBin), RepoRoot: abs(repo), Slotsync: bin, Fast: fast, Progress: out, Node: node,
			})
			if err != nil {
				return err
			}
			defer env.Stop()
			fmt.Fprintln(out, "waiting for the first successful sync of every window...")
			if err := env.WaitReady(ctx, readyTimeout); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), env.Logs())
				return err
			}
			fmt.Fprintf(out, "\nup in %s\n\n%s\n", time.Since(began).Round(time.Second), env.Instructions())
			<-ctx.Done()
			fmt.Fprintln(out, "\nstopping everything")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&root, "root", ".dev", "directory for all state; wiped at start")
	f.StringVar(&k8sBin, "k8s-bin", "bin/k8s", "directory holding etcd, kube-apiserver, kube-controller-manager and kube-scheduler")
	f.StringVar(&repo, "repo", ".", "the slotsync checkout, for config/")
	f.StringVar(&slotsync, "slotsync", defaultSlotsync, "the production slotsync binary, run for the manager, the API and the image slotsync:dev")
	f.BoolVar(&fast, "fast", false, "run time 60x faster for demos")
	f.StringVar(&node, "node", "", "the node that runs pods: real (containerd and kubelet), process, or auto: real where this machine allows (default: $SLOTSYNC_DEV_NODE, else auto)")
	f.DurationVar(&readyTimeout, "ready-timeout", 10*time.Minute, "how long to wait for the first successful sync")
	return cmd
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

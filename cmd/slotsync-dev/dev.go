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
		Long: `dev starts, on 127.0.0.1 only: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler (from --k8s-bin; 'make k8s-binaries' builds them), a node that runs pods
as local processes, PostgreSQL, the partner simulator, and the manager and the REST API
from the production binary (--slotsync; 'make build' builds it).
It installs the CRD and RBAC from config/, creates the Secrets, applies the sample
SyncSchedule for products 14 and 15, waits for its first successful sync and prints
how to look at it. Ctrl-C stops everything. State lives in --root and is wiped at
each start.

--fast runs time 60 times faster (intervals, the partner's rate-limit window and the
simulator's inventory clock), so several runs happen within minutes.

The node runs pods as plain processes: no container isolation, no images (slotsync:dev
maps to --slotsync), no resource limits, everything on 127.0.0.1. --node real runs
pods in containers instead (containerd, a kubelet and kube-proxy, as root; 'make
deps-real-node real-node-binaries'), with the images 'slotsync-dev image' builds, on a
bridge in 10.213.0.0/16 that reaches nothing off the machine; --node auto picks it
where the machine allows and says why not otherwise. SLOTSYNC_DEV_NODE sets the
default. See docs/real-node.md.`,
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
	f.StringVar(&node, "node", devenv.NodeProcess, "the node that runs pods: process, real (containerd and kubelet) or auto")
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

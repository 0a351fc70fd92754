package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// forbidden are import paths, or prefixes ending in "/", that must never be linked
// into the production binary: dev tooling and test harnesses bring the testing
// package, envtest (whose init panics on a read-only filesystem) and virtual-kubelet;
// k8s.io/apiserver (controller-runtime's metrics filters link it) would nearly double
// the binary's size, and the manager checks scrapers with internal/kubeauth instead.
var forbidden = []string{
	"testing",
	"testing/",
	"sigs.k8s.io/controller-runtime/pkg/envtest",
	"sigs.k8s.io/controller-runtime/pkg/envtest/",
	"sigs.k8s.io/controller-runtime/pkg/internal/testing/",
	"github.com/virtual-kubelet/",
	"k8s.io/apiserver",
	"k8s.io/apiserver/",
	"github.com/slotsync/slotsync/internal/bench",
	"github.com/slotsync/slotsync/internal/devenv",
	"github.com/slotsync/slotsync/internal/fixture",
	"github.com/slotsync/slotsync/internal/kubetest",
	"github.com/slotsync/slotsync/internal/localnode",
	"github.com/slotsync/slotsync/internal/managertest",
	"github.com/slotsync/slotsync/internal/partnersim",
	"github.com/slotsync/slotsync/internal/pgtest",
	"github.com/slotsync/slotsync/internal/security",
	"github.com/slotsync/slotsync/internal/soak",
	"github.com/slotsync/slotsync/internal/syncertest",
}

func isForbidden(pkg string) bool {
	for _, f := range forbidden {
		if pkg == f || strings.HasSuffix(f, "/") && strings.HasPrefix(pkg, f) {
			return true
		}
	}
	return false
}

// TestProductionDeps keeps dev tooling out of the shipped binary, naming the import
// chain that pulls in each forbidden package.
func TestProductionDeps(t *testing.T) {
	// go test puts its own go first on PATH. CGO_ENABLED=0 as the Makefile and the
	// Dockerfile build, since cgo changes the standard library's imports.
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{.DepOnly}}{{range .Imports}} {{.}}{{end}}`, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
	} else if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	imports := map[string][]string{}
	var root string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("go list -deps: unexpected line %q", line)
		}
		imports[f[0]] = f[2:]
		if f[1] == "false" {
			root = f[0]
		}
	}
	if root == "" || len(imports) < 10 {
		t.Fatalf("go list -deps listed %d packages and no root; want the whole graph:\n%s", len(imports), out)
	}
	for _, chain := range forbiddenChains(root, imports) {
		t.Errorf("the production binary links %s: %s", chain[len(chain)-1], strings.Join(chain, " -> "))
	}
}

// forbiddenChains returns the shortest import chain from root to each forbidden
// package it reaches, without looking past a forbidden package.
func forbiddenChains(root string, imports map[string][]string) [][]string {
	parent := map[string]string{root: ""}
	queue := []string{root}
	var chains [][]string
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if isForbidden(pkg) {
			var chain []string
			for p := pkg; p != ""; p = parent[p] {
				chain = append([]string{p}, chain...)
			}
			chains = append(chains, chain)
			continue
		}
		for _, imp := range imports[pkg] {
			if _, seen := parent[imp]; !seen {
				parent[imp] = pkg
				queue = append(queue, imp)
			}
		}
	}
	return chains
}

package security_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/slotsync/slotsync/internal/kubetest"
)

// cnpgModule at cnpgVersion is the CloudNativePG release whose CRDs
// config/components/cnpg is validated against; raise it with the release the
// component is meant for. This is the only place the version is pinned. The
// CRDs come from the Go module's zip (it holds the whole repository,
// config/crd/bases included), downloaded into the module cache by the test: the
// module is no dependency of ours, since its requirements would move our k8s.io
// and controller-runtime versions, and its CRDs are not copied into this repo.
const (
	cnpgModule  = "github.com/cloudnative-pg/cloudnative-pg"
	cnpgVersion = "v1.30.1"
	cnpgGroup   = "postgresql.cnpg.io"
)

// cnpgCRDDir downloads CloudNativePG at cnpgVersion with `go mod download`
// (once; the module cache keeps it) and returns its directory of CRDs.
func cnpgCRDDir(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to download %s@%s: %v", cnpgModule, cnpgVersion, err)
	}
	// Outside our module, so that neither go.mod nor go.sum is touched.
	cmd := exec.Command(gobin, "mod", "download", "-json", cnpgModule+"@"+cnpgVersion)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); jerr != nil || err != nil || mod.Error != "" {
		t.Fatalf("go mod download %s@%s: %v %s %s", cnpgModule, cnpgVersion, err, mod.Error, stderr.String())
	}
	dir := filepath.Join(mod.Dir, "config", "crd", "bases")
	if _, err := os.Stat(filepath.Join(dir, cnpgGroup+"_clusters.yaml")); err != nil {
		t.Fatalf("%s@%s has no Cluster CRD: %v", cnpgModule, cnpgVersion, err)
	}
	return dir
}

// renderWithCNPG builds config/default, from a copy of config/, with
// config/components/cnpg enabled.
func renderWithCNPG(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-R", repoPath("config"), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy config: %v: %s", err, out)
	}
	k := filepath.Join(dir, "config", "default", "kustomization.yaml")
	b, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, append(b, "components:\n- ../components/cnpg\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	return kustomizePath(t, filepath.Join(dir, "config", "default"))
}

func objectKey(u *unstructured.Unstructured) string {
	return u.GetAPIVersion() + "/" + u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

// TestCNPGComponentIsValid enables config/components/cnpg in a copy of
// config/default: a Cluster with the API's login role, and the API connecting
// as that role straight to the primary. Every object the component adds or
// changes is created, dry run, with strict field validation on an API server
// that has CloudNativePG's CRDs at cnpgVersion: a misspelt field or a value
// the schema refuses fails the test.
func TestCNPGComponentIsValid(t *testing.T) {
	objs := renderWithCNPG(t)
	var cluster *unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "Cluster" && u.GetAPIVersion() == cnpgGroup+"/v1" {
			cluster = u
		}
	}
	if cluster == nil || cluster.GetName() != "slotsync-postgres" || cluster.GetNamespace() != "slotsync-system" {
		t.Fatalf("no CNPG Cluster slotsync-postgres in slotsync-system: %v", cluster)
	}
	roles, _, _ := unstructured.NestedSlice(cluster.Object, "spec", "managed", "roles")
	if len(roles) != 1 || roles[0].(map[string]any)["name"] != "slotsync_api" {
		t.Errorf("managed roles = %v, want slotsync_api", roles)
	}
	env := map[string]string{}
	for _, e := range deployment(t, objs, "slotsync-api").Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if got := env["DATABASE_URL"]; !strings.HasPrefix(got, "postgres://slotsync_api:$(API_DB_PASSWORD)@slotsync-postgres-rw.") {
		t.Errorf("API DATABASE_URL = %q, want the slotsync_api role on the primary's Service", got)
	}

	// What the component adds or changes: the objects that differ from
	// config/default's.
	plain := map[string]*unstructured.Unstructured{}
	for _, u := range kustomize(t, "default") {
		plain[objectKey(u)] = u
	}
	var changed []*unstructured.Unstructured
	cnpgKinds := 0
	for _, u := range objs {
		if p, ok := plain[objectKey(u)]; ok && reflect.DeepEqual(p.Object, u.Object) {
			continue
		}
		if u.GetKind() == "Namespace" || u.GetKind() == "CustomResourceDefinition" {
			t.Fatalf("the component changes %s %s: check it another way", u.GetKind(), u.GetName())
		}
		if u.GroupVersionKind().Group == cnpgGroup {
			cnpgKinds++
		}
		changed = append(changed, u)
	}
	if cnpgKinds == 0 {
		t.Fatalf("no %s object among the %d the component adds or changes", cnpgGroup, len(changed))
	}

	kube := kubetest.Start(t)
	if _, err := envtest.InstallCRDs(kube.Config, envtest.CRDInstallOptions{
		Paths:              []string{cnpgCRDDir(t)},
		ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("install CloudNativePG %s CRDs: %v", cnpgVersion, err)
	}
	ctx := context.Background()
	// A dry run creates nothing, so the objects need their namespaces for real.
	for _, u := range objs {
		if u.GetKind() == "Namespace" {
			if err := kube.Client.Create(ctx, u.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("create Namespace %s: %v", u.GetName(), err)
			}
		}
	}
	create := func(u *unstructured.Unstructured) error {
		// Create writes the answer into its argument: keep objs as rendered.
		return kube.Client.Create(ctx, u.DeepCopy(), client.DryRunAll, client.FieldValidation("Strict"))
	}
	for _, u := range changed {
		t.Logf("strict dry-run create of %s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
		if err := create(u); err != nil {
			t.Errorf("the API server refuses %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}

	// The check can fail: a misspelt field, and a value out of the schema's
	// range, are refused.
	misspelt := cluster.DeepCopy()
	if err := unstructured.SetNestedField(misspelt.Object, int64(2), "spec", "instance"); err != nil {
		t.Fatal(err)
	}
	if err := create(misspelt); err == nil || !strings.Contains(err.Error(), "spec.instance") {
		t.Errorf("a Cluster with spec.instance was not refused: %v", err)
	}
	outOfRange := cluster.DeepCopy()
	if err := unstructured.SetNestedField(outOfRange.Object, int64(0), "spec", "instances"); err != nil {
		t.Fatal(err)
	}
	if err := create(outOfRange); err == nil || !strings.Contains(err.Error(), "spec.instances") {
		t.Errorf("a Cluster with spec.instances 0 was not refused: %v", err)
	}
}

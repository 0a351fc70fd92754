package security_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/slotsync/slotsync/internal/kubetest"
)

// pinnedImage is a release image pinned by digest, as `make dist IMG=...` takes it.
const pinnedImage = "registry.example.com/slotsync@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// renderDist writes dist/install.yaml for image as `make dist` does, into a
// temporary directory, and returns its objects.
func renderDist(t *testing.T, image string) []*unstructured.Unstructured {
	t.Helper()
	out := filepath.Join(t.TempDir(), "install.yaml")
	cmd := exec.Command(repoPath("hack", "dist.sh"), image, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/dist.sh: %v\n%s", err, b)
	}
	return decodeYAMLFile(t, out)
}

// TestDistInstallIsValid renders dist/install.yaml and has the API server
// validate every object against its real schema (a server-side apply, dry run,
// with the CRD installed) and the sample schedule against the CRD's OpenAPI
// schema; every container, and the Jobs' default image, runs the pinned image.
func TestDistInstallIsValid(t *testing.T) {
	objs := renderDist(t, pinnedImage)
	if len(objs) < 10 {
		t.Fatalf("install.yaml has %d objects; config/default has more", len(objs))
	}
	for _, name := range []string{"slotsync-manager", "slotsync-api"} {
		d := deployment(t, objs, name)
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Image != pinnedImage {
				t.Errorf("%s container %s runs %q, want %q", name, c.Name, c.Image, pinnedImage)
			}
			for _, env := range c.Env {
				if env.Name == "SLOTSYNC_WORKER_IMAGE" && env.Value != pinnedImage {
					t.Errorf("%s: the Jobs' default image is %q, want %q", name, env.Value, pinnedImage)
				}
			}
		}
	}

	kube := kubetest.Start(t)
	ctx := context.Background()
	apply := func(u *unstructured.Unstructured, dryRun bool) error {
		opts := []client.ApplyOption{client.FieldOwner("dist-test"), client.ForceOwnership}
		if dryRun {
			opts = append(opts, client.DryRunAll)
		}
		// Apply writes the answer into its argument: keep objs as rendered.
		return kube.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), opts...)
	}
	// A dry run creates nothing, so the namespaced objects need their namespace for real.
	for _, u := range objs {
		if u.GetKind() == "Namespace" {
			if err := apply(u, false); err != nil {
				t.Fatalf("apply Namespace %s: %v", u.GetName(), err)
			}
		}
	}
	for _, u := range objs {
		if err := apply(u, true); err != nil {
			t.Errorf("the API server refuses %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	for _, u := range kustomize(t, "samples") {
		u.SetNamespace(kube.Namespace(t))
		if err := apply(u, true); err != nil {
			t.Errorf("the CRD's schema refuses sample %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}

	// The check can fail: a field the schema lacks is refused.
	bad := deployment(t, objs, "slotsync-api").DeepCopy()
	for _, u := range objs {
		if u.GetKind() == "Deployment" && u.GetName() == bad.Name {
			broken := u.DeepCopy()
			if err := unstructured.SetNestedField(broken.Object, int64(1), "spec", "template", "spec", "replicas"); err != nil {
				t.Fatal(err)
			}
			if err := apply(broken, true); err == nil || !strings.Contains(err.Error(), "replicas") {
				t.Errorf("a Deployment with spec.template.spec.replicas was not refused: %v", err)
			}
		}
	}
}

// TestDistRefusesAnUnpinnedImage: a release names its image by tag or digest.
func TestDistRefusesAnUnpinnedImage(t *testing.T) {
	cmd := exec.Command(repoPath("hack", "dist.sh"), "registry.example.com:5000/slotsync", filepath.Join(t.TempDir(), "install.yaml"))
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("hack/dist.sh accepted an image without tag or digest:\n%s", out)
	}
}

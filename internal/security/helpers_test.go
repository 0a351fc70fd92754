package security_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/controllers"
	"github.com/slotsync/slotsync/internal/fixture"
	"github.com/slotsync/slotsync/internal/kubetest"
	"github.com/slotsync/slotsync/internal/managertest"
	"github.com/slotsync/slotsync/internal/pgtest"
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	pgtest.Main(m, kubetest.Stop)
}

const (
	workerImage = "registry.example.com/slotsync:test"
	wait        = 30 * time.Second
	// partnerURL is the partner of the tests' schedules; nothing answers there.
	partnerURL = "https://partner.example.com"
)

// repoPath is a path under the module root.
func repoPath(parts ...string) string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", ".."}, parts...)...)
}

// kustomize builds a directory of config/ with kubectl, as users install it.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	return kustomizePath(t, repoPath("config", dir))
}

// kustomizePath builds the kustomization in path with kubectl.
func kustomizePath(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatalf("kubectl is needed to build config/ (make deps installs it): %v", err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("kubectl", "kustomize", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v: %s", path, err, stderr.String())
	}
	return decodeYAML(t, path, out)
}

// decodeYAMLFile reads the objects of a multi-document YAML file.
func decodeYAMLFile(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeYAML(t, path, b)
}

func decodeYAML(t *testing.T, source string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(data), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		if len(u.Object) == 0 {
			continue // empty, or only comments
		}
		objs = append(objs, u)
	}
	return objs
}

// typed converts the object of kind and name (after config/default's prefix)
// into out.
func typed(t *testing.T, objs []*unstructured.Unstructured, kind, name string, out any) {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return
		}
	}
	t.Fatalf("config/default has no %s %s", kind, name)
}

func deployment(t *testing.T, objs []*unstructured.Unstructured, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	typed(t, objs, "Deployment", name, &d)
	return &d
}

// controllerEnv is an API server with the reconciler running in a manager, on
// a fake clock, for one namespace of the test's own.
type controllerEnv struct {
	kube *kubetest.Env
	c    client.Client
	ns   string
}

// startController runs the reconciler as `slotsync manager` does, logging to
// log, for a new namespace.
func startController(t *testing.T, log logr.Logger) *controllerEnv {
	t.Helper()
	kube := kubetest.Start(t)
	e := &controllerEnv{kube: kube, c: kube.Client, ns: kube.Namespace(t)}
	e.secret(t, "partner", map[string]string{"apiKey": "test-key"})
	e.secret(t, "database", map[string]string{"url": "postgres://slotsync@db.example:5432/slotsync"})
	managertest.Start(t, kube, managerOptions(e.ns, log, nil))
	return e
}

// secret creates or replaces a Secret of the namespace that every schedule
// there may use.
func (e *controllerEnv) secret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	if err := allowedSecret(context.Background(), e.c, e.ns, name, data); err != nil {
		t.Fatal(err)
	}
}

// allowedSecret creates or replaces a Secret that every schedule of its
// namespace may use.
func allowedSecret(ctx context.Context, c client.Client, ns, name string, data map[string]string) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	_, err := controllerutil.CreateOrUpdate(ctx, c, s, func() error {
		s.Annotations = map[string]string{inventoryv1alpha1.AnnotationAllowedSchedules: "*"}
		s.Data, s.StringData = nil, data
		return nil
	})
	if err != nil {
		return fmt.Errorf("create Secret %s/%s: %w", ns, name, err)
	}
	return nil
}

// managerOptions are those of the tests' managers: on a fake clock, naming
// themselves as the manager Deployment does.
func managerOptions(ns string, log logr.Logger, adjust func(*ctrl.Options)) managertest.Options {
	return managertest.Options{
		Namespace: ns, Logger: log, Adjust: adjust,
		Clock:       clocktesting.NewFakeClock(time.Date(2026, 12, 1, 8, 0, 5, 0, time.UTC)),
		WorkerImage: workerImage, EventSource: "slotsync-manager",
		// TestPodsAreHardened overrides the image.
		AllowedImages: controllers.AllowedImages{"registry.example.com/other:*"},
	}
}

// schedule creates a schedule with one window, today, and returns its Jobs
// once the controller has created them.
func (e *controllerEnv) schedule(t *testing.T, name string, mutate ...func(*inventoryv1alpha1.SyncSchedule)) []batchv1.Job {
	t.Helper()
	ss := fixture.SyncSchedule(name, e.ns, append([]func(*inventoryv1alpha1.SyncSchedule){
		fixture.WithShards(2), fixture.TodayOnly, fixture.WithPartnerURL(partnerURL), fixture.WithDatabaseSecret("database", "url"),
	}, mutate...)...)
	if err := e.c.Create(context.Background(), ss); err != nil {
		t.Fatalf("create schedule: %v", err)
	}
	var jobs batchv1.JobList
	kubetest.Eventually(t, wait, func() error {
		if err := e.c.List(context.Background(), &jobs, client.InNamespace(e.ns),
			client.MatchingLabels{inventoryv1alpha1.LabelSchedule: name}); err != nil {
			return err
		}
		if len(jobs.Items) == 0 {
			return fmt.Errorf("no Job for schedule %s yet", name)
		}
		return nil
	})
	return jobs.Items
}

package security_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

// hardeningProblems lists how a pod spec falls short of what every slotsync pod
// promises: non-root, read-only root filesystem, no privilege escalation, every
// capability dropped, RuntimeDefault seccomp, nothing of the host's.
func hardeningProblems(spec corev1.PodSpec) []string {
	var problems []string
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		problems = append(problems, "shares the host's network, PID or IPC namespace")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			problems = append(problems, "mounts host path "+v.HostPath.Path)
		}
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		problems = append(problems, "pod runs as user 0")
	}
	// Stated, not left to the image's USER, which another image may lack.
	if ptr.Deref(psc.RunAsUser, -1) != 65532 || ptr.Deref(psc.RunAsGroup, -1) != 65532 {
		problems = append(problems, "pod does not set runAsUser and runAsGroup 65532")
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if _, ok := c.Resources.Requests[corev1.ResourceEphemeralStorage]; !ok {
			problems = append(problems, c.Name+": no ephemeral-storage request")
		}
		if _, ok := c.Resources.Limits[corev1.ResourceEphemeralStorage]; !ok {
			problems = append(problems, c.Name+": no ephemeral-storage limit")
		}
		sc := c.SecurityContext
		if sc == nil {
			problems = append(problems, c.Name+": no security context")
			continue
		}
		nonRoot := ptr.Deref(sc.RunAsNonRoot, ptr.Deref(psc.RunAsNonRoot, false))
		if !nonRoot || ptr.Deref(sc.RunAsUser, ptr.Deref(psc.RunAsUser, -1)) == 0 {
			problems = append(problems, c.Name+": may run as root")
		}
		if !ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
			problems = append(problems, c.Name+": root filesystem writable")
		}
		if ptr.Deref(sc.AllowPrivilegeEscalation, true) {
			problems = append(problems, c.Name+": privilege escalation allowed")
		}
		if ptr.Deref(sc.Privileged, false) {
			problems = append(problems, c.Name+": privileged")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			problems = append(problems, c.Name+": capabilities not all dropped")
		}
		seccomp := psc.SeccompProfile
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			problems = append(problems, c.Name+": seccomp profile is not RuntimeDefault")
		}
	}
	return problems
}

// TestPodsAreHardened checks the manager's and the API's pods of config/ and the
// sync Jobs' pods as the controller builds them, with the defaults and with every
// override a schedule may make: each meets the hardening promise, and the API
// server's Pod Security admission, enforcing "restricted" as config/ does for
// slotsync-system, admits each. A privileged pod is refused there, so the check
// can fail.
func TestPodsAreHardened(t *testing.T) {
	objs := kustomize(t, "default")
	var ns corev1.Namespace
	typed(t, objs, "Namespace", "slotsync-system", &ns)
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace slotsync-system enforces Pod Security level %q, want restricted", got)
	}

	e := startController(t, logr.Discard())
	plain := e.schedule(t, "plain")[0]
	custom := e.schedule(t, "custom", func(ss *inventoryv1alpha1.SyncSchedule) {
		ss.Spec.JobTemplate = inventoryv1alpha1.JobTemplateOverrides{
			Image:              "registry.example.com/other:v2",
			ImagePullPolicy:    corev1.PullAlways,
			ServiceAccountName: "sync",
			PodLabels:          map[string]string{"team": "inventory"},
			PodAnnotations:     map[string]string{"example.com/note": "x"},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("128Mi"),
			}},
		}
	})[0]
	pods := map[string]corev1.PodSpec{
		"manager":                          deployment(t, objs, "slotsync-manager").Spec.Template.Spec,
		"api":                              deployment(t, objs, "slotsync-api").Spec.Template.Spec,
		"sync Job":                         plain.Spec.Template.Spec,
		"sync Job with template overrides": custom.Spec.Template.Spec,
	}
	for name, spec := range pods {
		if problems := hardeningProblems(spec); len(problems) > 0 {
			t.Errorf("%s pod: %s", name, strings.Join(problems, "; "))
		}
	}
	for _, j := range []string{"sync Job", "sync Job with template overrides"} {
		if spec := pods[j]; ptr.Deref(spec.AutomountServiceAccountToken, true) {
			t.Errorf("%s pods get a service account token; the worker needs no API access", j)
		}
	}

	// Pod Security admission of the real API server, level restricted.
	ctx := context.Background()
	restricted := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "restricted-",
		Labels:       map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}
	if err := e.c.Create(ctx, restricted); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.c.Delete(context.Background(), restricted) })
	admit := func(name string, spec corev1.PodSpec) error {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "pss-", Namespace: restricted.Name}, Spec: *spec.DeepCopy()}
		pod.Spec.ServiceAccountName = "" // the namespace's default account exists; others need not
		return e.c.Create(ctx, pod)
	}
	for name, spec := range pods {
		if err := admit(name, spec); err != nil {
			t.Errorf("Pod Security (restricted) refuses the %s pod: %v", name, err)
		}
	}
	jobSpec := pods["sync Job"]
	bad := *jobSpec.DeepCopy()
	bad.Containers[0].SecurityContext.Privileged = ptr.To(true)
	bad.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	if err := admit("privileged", bad); err == nil {
		t.Error("Pod Security (restricted) admitted a privileged pod: the admission check proves nothing")
	} else if problems := hardeningProblems(bad); len(problems) == 0 {
		t.Error("hardeningProblems finds nothing wrong with a privileged pod")
	}
}

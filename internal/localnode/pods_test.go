package localnode

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const jobIndexAnnotation = "batch.kubernetes.io/job-completion-index"

func (f *fixture) testJobPodSucceeds(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	if _, err := f.client.CoreV1().Secrets(ns).Create(f.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "partner-creds"},
		Data:       map[string][]byte{"token": []byte("s3cr3t")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CoreV1().ConfigMaps(ns).Create(f.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "sync-config"},
		Data:       map[string]string{"region": "eu"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Shaped like an Indexed Job's pod: the completion index arrives as an
	// annotation and reaches the process through fieldRef.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "sync-3",
			Labels:      map[string]string{"app": "slotsync"},
			Annotations: map[string]string{jobIndexAnnotation: "3"},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name:  "prepare",
				Image: "slotsync:dev",
				Args:  []string{"-c", `echo prepared; printf init-ok > /dev/termination-log`},
			}},
			Containers: []corev1.Container{{
				Name:  "sync",
				Image: "ghcr.io/acme/slotsync:v1",
				Args: []string{"-c",
					`echo "shard $JOB_COMPLETION_INDEX in $PWD"; ` +
						`printf 'index=%s token=%s region=%s pod=%s app=%s node=%s' "$JOB_COMPLETION_INDEX" "$TOKEN" "$REGION" "$1" "$APP" "$FROM_NODE_CONFIG" > "$2"`,
					"sh", "$(POD_NAME)", "/dev/termination-log"},
				Env: []corev1.EnvVar{
					{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "partner-creds"}, Key: "token"}}},
					{Name: "REGION", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "sync-config"}, Key: "region"}}},
					{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
						FieldPath: "metadata.annotations['" + jobIndexAnnotation + "']"}}},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
				},
			}},
		},
	}
	f.createPod(t, ns, pod)
	got := f.waitPhase(t, ns, "sync-3", corev1.PodSucceeded)

	init := terminated(t, containerStatus(t, got.Status.InitContainerStatuses, "prepare"))
	if init.ExitCode != 0 || init.Message != "init-ok" {
		t.Errorf("init container: exit %d message %q, want 0 %q", init.ExitCode, init.Message, "init-ok")
	}
	main := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "sync"))
	if main.ExitCode != 0 || main.Reason != "Completed" {
		t.Errorf("container: exit %d reason %q, want 0 Completed", main.ExitCode, main.Reason)
	}
	if want := "index=3 token=s3cr3t region=eu pod=sync-3 app=slotsync node=yes"; main.Message != want {
		t.Errorf("termination message %q, want %q", main.Message, want)
	}
	if main.StartedAt.Before(&init.FinishedAt) {
		t.Errorf("container started %v, before the init container finished %v", main.StartedAt, init.FinishedAt)
	}
	if main.FinishedAt.IsZero() {
		t.Error("finishedAt not set")
	}
	if got.Status.PodIP != "127.0.0.1" || got.Status.HostIP != "127.0.0.1" || got.Status.StartTime == nil {
		t.Errorf("podIP %q hostIP %q startTime %v, want 127.0.0.1 and a start time", got.Status.PodIP, got.Status.HostIP, got.Status.StartTime)
	}
	if !podCondition(got, corev1.PodInitialized) || !podCondition(got, corev1.PodScheduled) {
		t.Errorf("conditions %v, want Initialized and PodScheduled True", got.Status.Conditions)
	}
	if podCondition(got, corev1.PodReady) || conditionReason(got, corev1.PodReady) != "PodCompleted" {
		t.Errorf("Ready condition %v, want False PodCompleted", got.Status.Conditions)
	}
	// The working directory is the container's own.
	code, body := f.kubeletGet(t, "/containerLogs/"+ns+"/sync-3/sync")
	if code != 200 || !strings.HasPrefix(body, "shard 3 in "+f.workDir+"/pods/"+ns+"_sync-3_") || !strings.HasSuffix(body, "/sync\n") {
		t.Errorf("log: %d %q, want the shard and a working directory of its own", code, body)
	}
}

func (f *fixture) testFailingPod(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	fallback := shContainer("fallback", `for i in $(seq 1 100); do echo "line $i"; done; exit 4`)
	fallback.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	custom := shContainer("custom", `printf quota > /var/msg; exit 5`)
	custom.TerminationMessagePath = "/var/msg"
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "broken"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			shContainer("fail", `echo boom >&2; echo "bad input" > /dev/termination-log; exit 3`),
			fallback,
			custom,
		}},
	})
	got := f.waitPhase(t, ns, "broken", corev1.PodFailed)

	fail := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "fail"))
	if fail.ExitCode != 3 || fail.Reason != "Error" || fail.Message != "bad input\n" {
		t.Errorf("fail: exit %d reason %q message %q, want 3 Error %q", fail.ExitCode, fail.Reason, fail.Message, "bad input\n")
	}
	fb := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "fallback"))
	if fb.ExitCode != 4 || !strings.HasPrefix(fb.Message, "line 21\n") || !strings.HasSuffix(fb.Message, "line 100\n") {
		t.Errorf("fallback: exit %d message %q, want 4 and the last 80 log lines", fb.ExitCode, fb.Message)
	}
	cu := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "custom"))
	if cu.ExitCode != 5 || cu.Message != "quota" {
		t.Errorf("custom path: exit %d message %q, want 5 %q", cu.ExitCode, cu.Message, "quota")
	}
	if podCondition(got, corev1.PodReady) {
		t.Error("failed pod is Ready")
	}
}

func (f *fixture) testOnFailureRestarts(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	// The working directory survives restarts, so the count does too.
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "flaky"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyOnFailure,
			Containers: []corev1.Container{shContainer("main",
				`n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "run $n"; [ "$n" -ge 3 ]`)},
		},
	})
	got := f.waitPhase(t, ns, "flaky", corev1.PodSucceeded)
	st := containerStatus(t, got.Status.ContainerStatuses, "main")
	if st.RestartCount != 2 || terminated(t, st).ExitCode != 0 {
		t.Errorf("restarts %d exit %d, want 2 restarts and exit 0", st.RestartCount, terminated(t, st).ExitCode)
	}
	if code, body := f.kubeletGet(t, "/containerLogs/"+ns+"/flaky/main"); code != 200 || body != "run 3\n" {
		t.Errorf("current log: %d %q, want %q", code, body, "run 3\n")
	}
	if code, body := f.kubeletGet(t, "/containerLogs/"+ns+"/flaky/main?previous=true"); code != 200 || body != "run 2\n" {
		t.Errorf("previous log: %d %q, want %q", code, body, "run 2\n")
	}
}

func (f *fixture) testUnsupportedImage(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}}},
	})
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-deployment"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers:    []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}},
		},
	})
	got := f.waitPhase(t, ns, "web", corev1.PodFailed)
	if got.Status.Reason != ReasonUnsupportedImage || !strings.Contains(got.Status.Message, `"nginx:1.27"`) {
		t.Errorf("pod reason %q message %q, want %s naming the image", got.Status.Reason, got.Status.Message, ReasonUnsupportedImage)
	}
	st := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "nginx"))
	if st.Reason != ReasonUnsupportedImage || st.ExitCode == 0 {
		t.Errorf("container reason %q exit %d, want %s and a failure", st.Reason, st.ExitCode, ReasonUnsupportedImage)
	}
	// A Deployment's pod waits, as with ErrImageNeverPull, instead of
	// failing into a replace loop.
	f.waitPod(t, ns, "web-deployment", 30*time.Second, "waiting with "+ReasonUnsupportedImage, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodPending && len(p.Status.ContainerStatuses) == 1 &&
			p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == ReasonUnsupportedImage
	})
}

func (f *fixture) testMissingSecret(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	c := shContainer("main", `printf "$TOKEN" > /dev/termination-log`)
	c.Env = []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "late"}, Key: "token"}}}}
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "early"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	})
	f.waitPod(t, ns, "early", 30*time.Second, "waiting with CreateContainerConfigError", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "CreateContainerConfigError" &&
			strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, `"late"`)
	})
	if _, err := f.client.CoreV1().Secrets(ns).Create(f.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "late"},
		Data:       map[string][]byte{"token": []byte("finally")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := f.waitPhase(t, ns, "early", corev1.PodSucceeded)
	if msg := terminated(t, containerStatus(t, got.Status.ContainerStatuses, "main")).Message; msg != "finally" {
		t.Errorf("message %q, want the secret created after the pod", msg)
	}
}

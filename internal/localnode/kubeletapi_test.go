package localnode

import (
	"context"
	"io"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

func (f *fixture) testLogs(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "talker"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			shContainer("main", `for i in 1 2 3 4 5; do echo "line $i"; done; echo "to stderr" >&2`),
		}},
	})
	f.waitPhase(t, ns, "talker", corev1.PodSucceeded)

	const all = "line 1\nline 2\nline 3\nline 4\nline 5\nto stderr\n"
	tests := []struct {
		name     string
		path     string
		wantCode int
		want     string
	}{
		{name: "all", path: "/containerLogs/" + ns + "/talker/main", wantCode: 200, want: all},
		{name: "tail", path: "/containerLogs/" + ns + "/talker/main?tailLines=2", wantCode: 200, want: "line 5\nto stderr\n"},
		{name: "limit bytes", path: "/containerLogs/" + ns + "/talker/main?limitBytes=6", wantCode: 200, want: "line 1"},
		{name: "no previous run", path: "/containerLogs/" + ns + "/talker/main?previous=true", wantCode: 400},
		{name: "unknown container", path: "/containerLogs/" + ns + "/talker/nope", wantCode: 404},
		{name: "unknown pod", path: "/containerLogs/" + ns + "/nope/main", wantCode: 404},
		{name: "exec is not offered", path: "/exec/" + ns + "/talker/main?command=ls", wantCode: 501},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.kubeletGet(t, tt.path)
			if code != tt.wantCode || (tt.want != "" && body != tt.want) {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.wantCode, tt.want)
			}
		})
	}

	// kubectl logs goes through the API server, which finds the node's
	// address and kubelet port in its status.
	t.Run("via API server", func(t *testing.T) {
		body, err := f.client.CoreV1().Pods(ns).GetLogs("talker", &corev1.PodLogOptions{Container: "main", TailLines: ptr.To[int64](3)}).DoRaw(f.ctx)
		if err != nil {
			t.Fatalf("pods/log: %v", err)
		}
		if want := "line 4\nline 5\nto stderr\n"; string(body) != want {
			t.Errorf("pods/log = %q, want %q", body, want)
		}
	})
}

func (f *fixture) testFollowLogs(t *testing.T) {
	t.Parallel()
	ns := f.namespace(t)
	f.createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "streamer"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			shContainer("main", `echo one; sleep 2; echo two`),
		}},
	})
	f.waitRunning(t, ns, "streamer")
	// Through the API server, as kubectl logs -f: the stream ends when the
	// process does.
	start := time.Now()
	stream, err := f.client.CoreV1().Pods(ns).GetLogs("streamer", &corev1.PodLogOptions{Container: "main", Follow: true}).Stream(f.ctx)
	if err != nil {
		t.Fatalf("follow pods/log: %v", err)
	}
	defer stream.Close()
	body, err := io.ReadAll(stream)
	if err != nil {
		t.Fatalf("read followed log: %v", err)
	}
	if string(body) != "one\ntwo\n" {
		t.Errorf("followed log %q, want %q", body, "one\ntwo\n")
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("follow took %s, want it to end with the process", time.Since(start))
	}
}

// waitLog polls the kubelet API until the container's log is want.
func (f *fixture) waitLog(t *testing.T, ns, pod, container, want string) {
	t.Helper()
	var code int
	var body string
	err := wait.PollUntilContextTimeout(f.ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		code, body = f.kubeletGet(t, "/containerLogs/"+ns+"/"+pod+"/"+container)
		return code == 200 && body == want, nil
	})
	if err != nil {
		t.Fatalf("log of %s/%s/%s: %d %q, want %q", ns, pod, container, code, body, want)
	}
}

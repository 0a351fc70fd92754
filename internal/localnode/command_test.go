package localnode

import (
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestImageName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"slotsync", "slotsync"},
		{"slotsync:dev", "slotsync"},
		{"ghcr.io/acme/slotsync:v1.2.3", "slotsync"},
		{"localhost:5000/slotsync", "slotsync"},
		{"localhost:5000/slotsync:dev", "slotsync"},
		{"slotsync@sha256:abcd", "slotsync"},
		{"ghcr.io/acme/slotsync:v1@sha256:abcd", "slotsync"},
		{"nginx:1.27", "nginx"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := imageName(tt.in); got != tt.want {
				t.Errorf("imageName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestResolverArgv(t *testing.T) {
	r := resolver{
		binaries: map[string]string{"slotsync": "/src/bin/slotsync"},
		resolveImage: func(image string) (string, bool) {
			return "/opt/tool", image == "example.com/tool:1"
		},
	}
	tests := []struct {
		name      string
		container corev1.Container
		want      []string
		wantErr   bool
	}{
		{
			name:      "image by name, no command",
			container: corev1.Container{Image: "slotsync:dev", Args: []string{"sync", "--shard=1"}},
			want:      []string{"/src/bin/slotsync", "sync", "--shard=1"},
		},
		{
			name:      "image from a registry",
			container: corev1.Container{Image: "ghcr.io/acme/slotsync:v1"},
			want:      []string{"/src/bin/slotsync"},
		},
		{
			name:      "ResolveImage first",
			container: corev1.Container{Image: "example.com/tool:1", Args: []string{"x"}},
			want:      []string{"/opt/tool", "x"},
		},
		{
			name:      "absolute command naming a binary",
			container: corev1.Container{Image: "anything", Command: []string{"/slotsync", "sync"}, Args: []string{"--a"}},
			want:      []string{"/src/bin/slotsync", "sync", "--a"},
		},
		{
			name:      "bare command naming a binary",
			container: corev1.Container{Image: "slotsync:dev", Command: []string{"slotsync"}, Args: []string{"manager"}},
			want:      []string{"/src/bin/slotsync", "manager"},
		},
		{
			name:      "deep absolute path naming a binary",
			container: corev1.Container{Command: []string{"/usr/local/bin/slotsync"}},
			want:      []string{"/src/bin/slotsync"},
		},
		{
			name:      "host command whatever the image",
			container: corev1.Container{Image: "busybox", Command: []string{"/bin/sh", "-c"}, Args: []string{"exit 0"}},
			want:      []string{"/bin/sh", "-c", "exit 0"},
		},
		{
			name:      "relative path is not a binary name",
			container: corev1.Container{Command: []string{"bin/slotsync"}},
			want:      []string{"bin/slotsync"},
		},
		{
			name:      "unmapped image without command",
			container: corev1.Container{Name: "web", Image: "nginx:1.27"},
			wantErr:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.argv(&tt.container)
			if tt.wantErr {
				var uerr *unsupportedImageError
				if !errors.As(err, &uerr) {
					t.Fatalf("argv() error = %v, want an unsupportedImageError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("argv() error = %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("argv() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLookPath(t *testing.T) {
	env := []string{"HOME=/x", "PATH=/nonexistent:/bin:/usr/bin"}
	got, err := lookPath("sh", env)
	if err != nil {
		t.Fatalf("lookPath(sh) error = %v", err)
	}
	if got != "/bin/sh" && got != "/usr/bin/sh" {
		t.Errorf("lookPath(sh) = %q", got)
	}
	if _, err := lookPath("no-such-program-here", env); err == nil {
		t.Error("lookPath of a missing program: no error")
	}
	if got, _ := lookPath("./run", env); got != "./run" {
		t.Errorf("lookPath(./run) = %q, want it unchanged", got)
	}
}

func TestSubstitutePath(t *testing.T) {
	const file = "/work/pods/p/c.termination-log"
	tests := []struct{ in, from, want string }{
		{"/dev/termination-log", "/dev/termination-log", file},
		{"--termination-log=/dev/termination-log", "/dev/termination-log", "--termination-log=" + file},
		{"/dev/termination-logs", "/dev/termination-log", file + "s"},
		{"/tmp/msg", "/tmp/msg", file},
		{"unrelated", "/dev/termination-log", "unrelated"},
	}
	for _, tt := range tests {
		if got := substitutePath(tt.in, tt.from, file); got != tt.want {
			t.Errorf("substitutePath(%q, %q) = %q, want %q", tt.in, tt.from, got, tt.want)
		}
	}
}

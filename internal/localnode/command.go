package localnode

import (
	"fmt"
	"os/exec"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Reasons this node puts in container and pod statuses besides the kubelet's
// own (Completed, Error, CrashLoopBackOff, CreateContainerConfigError,
// StartError, ContainerCreating, PodInitializing).
const (
	// ReasonUnsupportedImage: the container has no command and its image
	// maps to no local executable.
	ReasonUnsupportedImage = "UnsupportedImage"
	// ReasonNodeRestarted: a pod with restartPolicy Never had started before
	// the node restarted; running it again would break that policy.
	ReasonNodeRestarted = "NodeRestarted"
)

// unsupportedImageError says which image could not be mapped and how to fix it.
type unsupportedImageError struct {
	container, image string
}

func (e *unsupportedImageError) Error() string {
	return fmt.Sprintf("container %q: image %q has no local executable: this node runs processes, not images; "+
		"map the image's name in the local node's binaries or give the container a command", e.container, e.image)
}

// resolver finds the executable of a container (see "Which program runs" in
// the package documentation).
type resolver struct {
	binaries     map[string]string
	resolveImage func(image string) (string, bool)
}

// argv returns the executable and its arguments, before $(VAR) expansion.
// The executable may still be a bare name to look up in PATH.
func (r resolver) argv(c *corev1.Container) ([]string, error) {
	if len(c.Command) > 0 {
		if bin, ok := r.binaryFor(c.Command[0]); ok {
			return concat([]string{bin}, c.Command[1:], c.Args), nil
		}
		return concat(c.Command, c.Args), nil
	}
	if r.resolveImage != nil {
		if bin, ok := r.resolveImage(c.Image); ok {
			return concat([]string{bin}, c.Args), nil
		}
	}
	if bin, ok := r.binaries[imageName(c.Image)]; ok {
		return concat([]string{bin}, c.Args), nil
	}
	return nil, &unsupportedImageError{container: c.Name, image: c.Image}
}

// binaryFor maps "slotsync" and "/any/dir/slotsync" to Binaries["slotsync"];
// a relative path with a directory ("bin/slotsync") is left to the host.
func (r resolver) binaryFor(arg0 string) (string, bool) {
	name := arg0
	if strings.HasPrefix(arg0, "/") {
		name = path.Base(arg0)
	} else if strings.Contains(arg0, "/") {
		return "", false
	}
	bin, ok := r.binaries[name]
	return bin, ok
}

// imageName is the last element of an image's repository, without registry,
// tag or digest: "ghcr.io/acme/slotsync:v1@sha256:ab" -> "slotsync".
func imageName(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	// A colon after the last slash starts the tag; one before it is a
	// registry port (localhost:5000/slotsync).
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return path.Base(image)
}

// lookPath finds a bare command name in the container's PATH, as a runtime
// does inside the image; names with a slash are used as they are.
func lookPath(arg0 string, env []string) (string, error) {
	if strings.Contains(arg0, "/") {
		return arg0, nil
	}
	pathList := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathList = v
		}
	}
	for _, dir := range strings.Split(pathList, ":") {
		if dir == "" {
			continue
		}
		p := path.Join(dir, arg0)
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in $PATH (%s)", arg0, pathList)
}

// substitutePath replaces every occurrence of the container's termination
// message path with the file the process can write.
func substitutePath(s, from, to string) string {
	if from == "" {
		return s
	}
	return strings.ReplaceAll(s, from, to)
}

func terminationMessagePath(c *corev1.Container) string {
	if c.TerminationMessagePath != "" {
		return c.TerminationMessagePath
	}
	return corev1.TerminationMessagePathDefault
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

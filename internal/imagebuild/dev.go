package imagebuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DevArchive writes the images a local real node needs into one docker-archive at
// out: slotsync (SlotsyncImage) from the binary slotsyncBin, and the sandbox image
// (PauseImage) from internal/imagebuild/pause, built with the Go toolchain in
// repoRoot.
func DevArchive(ctx context.Context, repoRoot, slotsyncBin, out string) error {
	pauseBin := filepath.Join(filepath.Dir(out), "pause")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", pauseBin, "./internal/imagebuild/pause")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the pause program: %w: %s", err, b)
	}
	pause, err := Pause(pauseBin)
	if err != nil {
		return err
	}
	rev, _ := exec.CommandContext(ctx, "git", "-C", repoRoot, "rev-parse", "HEAD").Output()
	slotsync, err := Slotsync(Options{Binary: slotsyncBin, Labels: Labels(strings.TrimSpace(string(rev)))})
	if err != nil {
		return err
	}
	return WriteArchive(out, map[string]v1.Image{SlotsyncImage: slotsync, PauseImage: pause})
}

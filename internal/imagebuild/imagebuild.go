// Package imagebuild builds slotsync's container image, and the pod sandbox image a
// local real node needs, without a container daemon: go-containerregistry assembles
// layers and config and writes a docker-archive that `ctr images import` reads.
//
// The slotsync image has what the Dockerfile's image has: the final stage's files,
// user, entrypoint and labels on top of the content of its base image, rebuilt here
// from the build machine (CA certificates, time zone data, passwd and group).
package imagebuild

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"github.com/slotsync/slotsync/internal/version"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// What the Dockerfile's final stage is made of.
const (
	// BaseImage is the final stage's FROM; Slotsync rebuilds the parts of it the
	// binary uses.
	BaseImage = "gcr.io/distroless/static-debian12:nonroot"
	// Binary is where the final stage copies the slotsync binary.
	Binary = "/slotsync"
	// User is the final stage's USER, distroless's nonroot.
	User = "65532:65532"
	// CACerts is where Go's crypto/x509 finds the roots on Linux.
	CACerts = "/etc/ssl/certs/ca-certificates.crt"
	// ZoneInfo is where time.LoadLocation looks; the binary embeds no tzdata.
	ZoneInfo = "/usr/share/zoneinfo"
)

// Tags the dev environment gives the images.
const (
	SlotsyncImage = "slotsync:dev"
	// PauseImage is containerd 1.6's default sandbox_image, so the real node's
	// containerd config and this tag stay equal by construction.
	PauseImage = "registry.k8s.io/pause:3.6"
)

// Options say where the slotsync image's content comes from.
type Options struct {
	// Binary is the static slotsync binary.
	Binary string
	// CACerts and ZoneInfo default to the build machine's CACerts and ZoneInfo.
	CACerts, ZoneInfo string
	// Labels go into the image config; Dockerfile LABELs are the required ones.
	Labels map[string]string
}

// entry is one file of a layer.
type entry struct {
	hdr  tar.Header
	data []byte
}

// Slotsync builds the product image.
func Slotsync(o Options) (v1.Image, error) {
	if o.CACerts == "" {
		o.CACerts = CACerts
	}
	if o.ZoneInfo == "" {
		o.ZoneInfo = ZoneInfo
	}
	bin, err := staticBinary(o.Binary)
	if err != nil {
		return nil, err
	}
	certs, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates: %w", err)
	}
	// distroless's passwd, group and directories.
	files := []entry{
		dir("/etc", 0o755, 0), dir("/etc/ssl", 0o755, 0), dir("/etc/ssl/certs", 0o755, 0),
		file("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")),
		file("/etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n")),
		file(CACerts, 0o644, certs),
		dir("/home", 0o755, 0), dir("/home/nonroot", 0o700, 65532),
		dir("/tmp", 0o1777, 0),
		dir("/usr", 0o755, 0), dir("/usr/share", 0o755, 0),
		file(Binary, 0o755, bin),
	}
	zones, err := tree(o.ZoneInfo, ZoneInfo)
	if err != nil {
		return nil, fmt.Errorf("read time zone data: %w", err)
	}
	files = append(files, zones...)
	return image(files, v1.Config{
		User:       User,
		Entrypoint: []string{Binary},
		WorkingDir: "/home/nonroot",
		Env:        []string{"PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=" + CACerts},
		Labels:     o.Labels,
	})
}

// Pause builds the sandbox image from the static program internal/imagebuild/pause.
func Pause(binary string) (v1.Image, error) {
	bin, err := staticBinary(binary)
	if err != nil {
		return nil, err
	}
	return image([]entry{file("/pause", 0o755, bin)}, v1.Config{User: "65535:65535", Entrypoint: []string{"/pause"}})
}

// WriteArchive writes images, by tag, into one docker-archive at path.
func WriteArchive(path string, images map[string]v1.Image) error {
	refs := map[name.Reference]v1.Image{}
	for tag, img := range images {
		// docker.io, not index.docker.io: containerd names an imported image by the
		// tag as written, and the kubelet asks for docker.io/library/slotsync:dev.
		t, err := name.NewTag(tag, name.WithDefaultRegistry("docker.io"))
		if err != nil {
			return err
		}
		refs[t] = img
	}
	return tarball.MultiRefWriteToFile(path, refs)
}

// Files lists the paths of img's layers, with their headers.
func Files(img v1.Image) (map[string]*tar.Header, error) {
	out := map[string]*tar.Header{}
	err := eachFile(img, func(path string, h *tar.Header, _ io.Reader) error {
		out[path] = h
		return nil
	})
	return out, err
}

// FileData is the content of the file at path in img, as its last layer to
// hold one has it.
func FileData(img v1.Image, path string) ([]byte, error) {
	var data []byte
	found := false
	err := eachFile(img, func(p string, _ *tar.Header, r io.Reader) error {
		if p != path {
			return nil
		}
		b, err := io.ReadAll(r)
		data, found = b, true
		return err
	})
	if err == nil && !found {
		err = fmt.Errorf("no %s in the image", path)
	}
	return data, err
}

// eachFile calls fn for each entry of img's layers, bottom layer first, with
// its absolute, cleaned path and a reader of its content.
func eachFile(img v1.Image, fn func(path string, h *tar.Header, r io.Reader) error) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		if err := eachLayerFile(l, fn); err != nil {
			return err
		}
	}
	return nil
}

func eachLayerFile(l v1.Layer, fn func(path string, h *tar.Header, r io.Reader) error) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn("/"+strings.TrimPrefix(filepath.Clean("/"+h.Name), "/"), h, tr); err != nil {
			return err
		}
	}
}

func image(files []entry, cfg v1.Config) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := f.hdr
		h.Name = strings.TrimPrefix(h.Name, "/")
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerData := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerData)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// staticBinary reads an ELF executable that needs no dynamic loader: the images
// have no libc.
func staticBinary(path string) ([]byte, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("binary %s is dynamically linked: build it with CGO_ENABLED=0", path)
		}
	}
	return os.ReadFile(path)
}

func file(path string, mode int64, data []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: mode, Size: int64(len(data))}, data: data}
}

func dir(path string, mode int64, owner int) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: path + "/", Mode: mode, Uid: owner, Gid: owner}}
}

// tree copies the directory src to dst in the image, symbolic links as links.
func tree(src, dst string) ([]entry, error) {
	var out []entry
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.ToSlash(filepath.Join(dst, rel))
		switch {
		case d.IsDir():
			out = append(out, dir(target, 0o755, 0))
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: target, Linkname: link, Mode: 0o777}})
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, file(target, 0o644, data))
		}
		return nil
	})
	return out, err
}

// Labels are the slotsync image's OCI labels, the Dockerfile's: the version
// stamped into the binary, and the commit when known.
func Labels(revision string) map[string]string {
	if revision == "" {
		revision = "unknown" // the Dockerfile's default
	}
	return map[string]string{
		"org.opencontainers.image.title":       "slotsync",
		"org.opencontainers.image.description": "Mirrors a ticketing partner's inventory into PostgreSQL: operator, REST API and sync worker",
		"org.opencontainers.image.version":     version.Version,
		"org.opencontainers.image.revision":    revision,
		"org.opencontainers.image.source":      "https://github.com/slotsync/slotsync",
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
}

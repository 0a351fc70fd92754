package imagebuild_test

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slotsync/slotsync/internal/imagebuild"
)

// finalStage is what the Dockerfile's last stage says about the image.
type finalStage struct {
	from       string
	copies     map[string]string // destination: source
	user       string
	entrypoint []string
	labels     map[string]string
}

// parseFinalStage reads the instructions this Dockerfile uses; any other
// instruction in the final stage fails the test, so a new one gets compared too.
func parseFinalStage(t *testing.T, path string) finalStage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	var cont string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cont == "") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cont+l)
		cont = ""
	}
	var st finalStage
	// Build arguments and their defaults: the global ones before the first FROM
	// name the bases, a stage's own feed its LABELs.
	args := map[string]string{}
	expand := func(s string) string { return os.Expand(s, func(k string) string { return args[k] }) }
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			args[k] = v
		case "FROM":
			from := strings.Fields(rest)
			if strings.HasPrefix(from[0], "--platform=") {
				from = from[1:]
			}
			st = finalStage{from: expand(from[0]), copies: map[string]string{}, labels: map[string]string{}}
		case "COPY":
			args := strings.Fields(rest)
			st.copies[args[len(args)-1]] = strings.Join(args[:len(args)-1], " ")
		case "USER":
			st.user = rest
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &st.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s: want the exec (JSON) form: %v", rest, err)
			}
		case "LABEL":
			for _, kv := range splitLabels(t, rest) {
				k, v, _ := strings.Cut(kv, "=")
				v = strings.Trim(v, `"`)
				if strings.Contains(v, "$") {
					// Set at build time (version, revision): the image must carry
					// the label, whatever its value.
					v = labelFromBuildArg
				}
				st.labels[k] = expand(v)
			}
		case "WORKDIR", "RUN":
			// Only in the build stage, which a later FROM resets.
			st.copies["!"+instr] = rest
		default:
			t.Fatalf("Dockerfile instruction %s: teach this test and imagebuild about it", instr)
		}
	}
	for k := range st.copies {
		if strings.HasPrefix(k, "!") {
			t.Fatalf("the final stage has %s, which imagebuild does not reproduce", k[1:])
		}
	}
	return st
}

// labelFromBuildArg stands for a LABEL value that a build argument sets.
const labelFromBuildArg = "<from a build argument>"

// splitLabels splits k="v with spaces" k2="v2" on the spaces outside quotes.
func splitLabels(t *testing.T, s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if quoted {
		t.Fatalf("LABEL %s: unbalanced quote", s)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// staticProgram builds the pause program, a small static binary that stands in
// for slotsync: the image's layout and config do not depend on the binary.
func staticProgram(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pause")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the pause program: %v\n%s", err, b)
	}
	return out
}

func TestImageAgreesWithDockerfile(t *testing.T) {
	st := parseFinalStage(t, filepath.Join("..", "..", "Dockerfile"))
	img, err := imagebuild.Slotsync(imagebuild.Options{Binary: staticProgram(t), Labels: imagebuild.Labels("")})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	files, err := imagebuild.Files(img)
	if err != nil {
		t.Fatal(err)
	}

	if st.from != imagebuild.BaseImage {
		t.Errorf("Dockerfile final stage FROM %s, imagebuild rebuilds %s: update imagebuild's base content", st.from, imagebuild.BaseImage)
	}
	if st.user != cf.Config.User {
		t.Errorf("USER %q in the Dockerfile, %q in the image", st.user, cf.Config.User)
	}
	if !reflect.DeepEqual(st.entrypoint, cf.Config.Entrypoint) {
		t.Errorf("ENTRYPOINT %q in the Dockerfile, %q in the image", st.entrypoint, cf.Config.Entrypoint)
	}
	for k, v := range st.labels {
		if got, ok := cf.Config.Labels[k]; v == labelFromBuildArg && ok && got != "" {
			continue
		}
		if cf.Config.Labels[k] != v {
			t.Errorf("LABEL %s=%q in the Dockerfile, %q in the image", k, v, cf.Config.Labels[k])
		}
	}
	for dst, src := range st.copies {
		h, ok := files[dst]
		if !ok {
			t.Errorf("the Dockerfile copies %s to %s; the image has no %s", src, dst, dst)
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
			t.Errorf("%s in the image: type %c mode %o, want an executable file", dst, h.Typeflag, h.Mode)
		}
	}
	if len(st.copies) != 1 || st.copies[imagebuild.Binary] == "" {
		t.Errorf("the Dockerfile's final stage copies %v; imagebuild copies only the binary to %s", st.copies, imagebuild.Binary)
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("image platform %s/%s", cf.OS, cf.Architecture)
	}

	// What the base image gives the binary.
	if h := files["/tmp"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("/tmp in the image: %+v, want a directory with mode 1777", h)
	}
	if h := files[imagebuild.CACerts]; h == nil || h.Size == 0 {
		t.Errorf("no CA certificates at %s", imagebuild.CACerts)
	}
	passwd := fileData(t, img, "/etc/passwd")
	if !strings.Contains(passwd, "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", passwd)
	}
	if group := fileData(t, img, "/etc/group"); !strings.Contains(group, "nonroot:x:65532:") {
		t.Errorf("/etc/group has no nonroot group 65532:\n%s", group)
	}
	// time.LoadLocation reads the image's zone files, the binary embedding none.
	tz := fileData(t, img, imagebuild.ZoneInfo+"/Europe/Berlin")
	berlin, err := time.LoadLocationFromTZData("Europe/Berlin", []byte(tz))
	if err != nil {
		t.Fatalf("zone data in the image: %v", err)
	}
	if _, off := time.Date(2026, 7, 1, 12, 0, 0, 0, berlin).Zone(); off != 2*3600 {
		t.Errorf("Europe/Berlin in July from the image's zone data: offset %d, want 7200", off)
	}
}

func TestWriteArchive(t *testing.T) {
	pause, err := imagebuild.Pause(staticProgram(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "images.tar")
	if err := imagebuild.WriteArchive(path, map[string]v1.Image{imagebuild.PauseImage: pause}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("no manifest.json in the archive")
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || !reflect.DeepEqual(m[0].RepoTags, []string{imagebuild.PauseImage}) {
			t.Errorf("manifest.json tags %+v, want [%s]", m, imagebuild.PauseImage)
		}
		return
	}
}

func fileData(t *testing.T, img v1.Image, path string) string {
	t.Helper()
	b, err := imagebuild.FileData(img, path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

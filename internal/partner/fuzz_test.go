package partner

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every error it returns is a
// *MalformedError, and that an accepted answer re-encodes to JSON that decodes to
// the same slots. Seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		slots, err := Decode(body, 14, day)
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %T %v is not a *MalformedError", err, err)
			}
			return
		}
		again, err := json.Marshal(slots)
		if err != nil {
			t.Fatalf("re-encode accepted slots: %v", err)
		}
		back, err := Decode(again, 14, day)
		if err != nil {
			t.Fatalf("re-encoded answer is rejected: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(slots, back) {
			t.Fatalf("round trip changed the slots:\n%+v\n%+v", slots, back)
		}
	})
}

// TestFuzzCorpus keeps the committed seeds meaningful: valid-* must decode and
// invalid-* must not.
func TestFuzzCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, lit, ok := strings.Cut(strings.TrimSpace(string(b)), "\n")
			lit, ok2 := strings.CutPrefix(lit, "[]byte(")
			lit, ok3 := strings.CutSuffix(lit, ")")
			body, err := strconv.Unquote(lit)
			if !ok || !ok2 || !ok3 || err != nil {
				t.Fatalf("not a one-value []byte corpus file: %v", err)
			}
			_, err = Decode([]byte(body), 14, day)
			switch {
			case strings.HasPrefix(name, "valid-") && err != nil:
				t.Errorf("valid seed rejected: %v", err)
			case strings.HasPrefix(name, "invalid-") && err == nil:
				t.Error("invalid seed accepted")
			}
		})
	}
}

package localnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTailOffset(t *testing.T) {
	long := strings.Repeat("x", 40<<10) // longer than one read chunk
	tests := []struct {
		name    string
		content string
		n       int
		want    string
	}{
		{name: "empty", content: "", n: 3, want: ""},
		{name: "fewer lines than asked", content: "a\nb\n", n: 5, want: "a\nb\n"},
		{name: "last two", content: "a\nb\nc\nd\n", n: 2, want: "c\nd\n"},
		{name: "no final newline", content: "a\nb\nc", n: 2, want: "b\nc"},
		{name: "last one", content: "a\nb\n", n: 1, want: "b\n"},
		{name: "empty lines count", content: "a\n\n\nb\n", n: 2, want: "\nb\n"},
		{name: "across chunks", content: "first\n" + long + "\nlast\n", n: 2, want: long + "\nlast\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			off, err := tailOffset(f, tt.n)
			if err != nil {
				t.Fatalf("tailOffset() error = %v", err)
			}
			if got := tt.content[off:]; got != tt.want {
				t.Errorf("tail %d of %q = %q, want %q", tt.n, trim(tt.content), trim(got), trim(tt.want))
			}
		})
	}
}

func TestReadTail(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		b.WriteString(strings.Repeat("y", i) + "\n")
	}
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readTail(path, 80, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2048 || !strings.HasSuffix(got, strings.Repeat("y", 99)+"\n") {
		t.Errorf("readTail kept %d bytes ending %q, want the last 2048", len(got), trim(got[len(got)-10:]))
	}
	got, err = readTail(path, 2, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("y", 98) + "\n" + strings.Repeat("y", 99) + "\n"; got != want {
		t.Errorf("readTail(2 lines) = %d bytes, want %d", len(got), len(want))
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-20:]
	}
	return s
}

package syncer

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostileTexts are what a partner's answers can put into error messages: the
// decoder quotes field values, and escaping in Go and again in JSON multiplies
// their size.
var hostileTexts = []struct {
	name string
	text string
}{
	{"long", strings.Repeat("x", 20000)},
	{"quotes", strings.Repeat(`"`, 3000)},
	{"backslashes", strings.Repeat(`\`, 3000)},
	{"control characters", strings.Repeat("\x00\x01\x1f\n\t\r", 500)},
	{"invalid UTF-8", strings.Repeat("\xff\xfe\xc3", 1000)},
	{"script end", strings.Repeat("</script><!--&", 300)},
	{"line separators", strings.Repeat("\u2028\u2029", 1000)},
	{"a rune cut by truncation", strings.Repeat("é", 200)},
	{"quoted by the decoder", `decode slot 3: startDate: "` + strings.Repeat(`\x00\"\\`, 500) + `" is not the requested date`},
}

func TestTerminationMessageFitsWhateverThePartnerSays(t *testing.T) {
	for _, tt := range hostileTexts {
		t.Run(tt.name, func(t *testing.T) {
			requireFittingMessage(t, tt.text, 25)
		})
	}
	// Random mixtures of the bytes that escape worst, seeded so a failure repeats.
	alphabet := []string{`"`, `\`, "\x00", "\x1f", "\n", "<", ">", "&", "\xff", "é", "\u2028", "a", "</script>"}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 12))
		var b strings.Builder
		for range rng.IntN(5000) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		text := b.String()
		failures := 1 + rng.IntN(40)
		t.Run("mixture", func(t *testing.T) { requireFittingMessage(t, text, failures) })
	}
}

func FuzzTerminationMessage(f *testing.F) {
	for _, tt := range hostileTexts {
		f.Add(tt.text, uint8(12))
	}
	f.Fuzz(func(t *testing.T, text string, failures uint8) {
		requireFittingMessage(t, text, int(failures))
	})
}

// requireFittingMessage writes the summary of a run whose failures each say text
// and checks that what Kubernetes keeps of it is whole, valid JSON with every count.
// maxMessage is what Kubernetes keeps of a termination message.
const maxMessage = 4096

func requireFittingMessage(t *testing.T, text string, failures int) {
	t.Helper()
	sum := Summary{PairsTotal: failures + 7, PairsOK: 7, PairsPlanned: 1 << 40, Requests: 1 << 40, RateLimited: 3, Reason: "PartnerUnauthorized"}
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range failures {
		sum.addFailure(Pair{ProductID: 1 << 60, Date: day.AddDate(0, 0, i)}, errors.New(text))
	}
	path := filepath.Join(t.TempDir(), "termination-log")
	if err := sum.WriteTerminationMessage(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxMessage {
		t.Fatalf("termination message is %d bytes, Kubernetes keeps %d", len(b), maxMessage)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("termination message is not JSON: %v", err)
	}
	for k, want := range map[string]float64{"pairsTotal": float64(failures + 7), "pairsOK": 7, "pairsFailed": float64(failures), "pairsPlanned": 1 << 40, "requests": 1 << 40, "rateLimited": 3} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if got["reason"] != "PartnerUnauthorized" {
		t.Errorf("reason = %v, want PartnerUnauthorized", got["reason"])
	}
	samples, _ := got["failures"].([]any)
	omitted, _ := got["failuresOmitted"].(float64)
	if failures > 0 && len(samples) == 0 {
		t.Errorf("no failure sample kept of %d", failures)
	}
	if len(samples)+int(omitted) != failures {
		t.Errorf("%d failure samples and %v omitted, want %d in all", len(samples), omitted, failures)
	}
	cut := omitted > 0
	for _, s := range samples {
		if msg := s.(map[string]any)["error"].(string); msg != strings.ToValidUTF8(text, "\uFFFD") {
			cut = true
		}
	}
	if truncated, _ := got["truncated"].(bool); truncated != cut {
		t.Errorf("truncated = %v, but samples were cut or left out: %v", truncated, cut)
	}
}

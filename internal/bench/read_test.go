package bench

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPgbenchScriptSubstitutesParameters(t *testing.T) {
	script := pgbenchScript(readSizes{products: 500, days: 100}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, want := range []string{`\set p random(1, 500)`, `\set d random(0, 99)`,
		"WHERE s.product_id = :p AND s.date = (date '2027-01-01' + :d::integer)"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	// One statement, as the API runs it: no transaction around it.
	if strings.Contains(script, "BEGIN") || strings.Count(script, ";") != 1 {
		t.Errorf("script is not a single statement:\n%s", script)
	}
	if strings.Contains(script, "$") {
		t.Errorf("script keeps a $ parameter:\n%s", script)
	}
	// pgbench takes every :name as a variable, even in a string literal.
	for _, v := range regexp.MustCompile(`(?:^|[^:]):([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(script, -1) {
		if v[1] != "p" && v[1] != "d" {
			t.Errorf("script uses :%s, which pgbench would take for an undefined variable", v[1])
		}
	}
	// Back-substituted, the statement is the store's again.
	back := strings.ReplaceAll(strings.ReplaceAll(script, ":p", "$1"), "(date '2027-01-01' + :d::integer)", "$2")
	if !strings.Contains(back, strings.TrimSpace(readSlotsSQL)+";") {
		t.Errorf("script does not hold\n%s", readSlotsSQL)
	}
}

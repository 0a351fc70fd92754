package bench

import (
	"strings"
	"testing"
	"time"
)

func TestPgbenchScriptSubstitutesParameters(t *testing.T) {
	script := pgbenchScript(readSizes{products: 500, days: 100}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, want := range []string{`\set p random(1, 500)`, `\set d random(0, 99)`, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
		"WHERE s.product_id = :p AND s.date = (date '2027-01-01' + :d::integer)", "ROLLBACK;"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "$") {
		t.Errorf("script keeps a $ parameter:\n%s", script)
	}
	// Back-substituted, the statements are the store's again.
	back := strings.ReplaceAll(strings.ReplaceAll(script, ":p", "$1"), "(date '2027-01-01' + :d::integer)", "$2")
	for _, sql := range []string{readSyncTimesSQL, readSlotsSQL} {
		if !strings.Contains(back, strings.TrimSpace(sql)+";") {
			t.Errorf("script does not hold\n%s", sql)
		}
	}
}

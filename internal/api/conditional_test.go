package api

import "testing"

func TestNoneMatchMatches(t *testing.T) {
	const etag = `"1-abc"`
	tests := []struct {
		list string
		want bool
	}{
		{`"1-abc"`, true},
		{`W/"1-abc"`, true}, // weak comparison
		{`*`, true},
		{` * `, true},
		{`"x", "1-abc"`, true},
		{`"x",W/"1-abc"`, true},
		{`"a,b", "1-abc"`, true}, // a comma inside a tag
		{`"1-ab"`, false},
		{`1-abc`, false}, // unquoted: malformed
		{`"1-abc`, false},
		{`"x" "1-abc"`, false}, // no comma: malformed
		{`"x", *`, false},      // * only alone
		{``, false},
		{`,`, false},
	}
	for _, tt := range tests {
		if got := noneMatchMatches(tt.list, etag); got != tt.want {
			t.Errorf("If-None-Match %q against %s: %v, want %v", tt.list, etag, got, tt.want)
		}
	}
}

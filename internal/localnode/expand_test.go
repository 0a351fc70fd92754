package localnode

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "EMPTY": "", "IDX": "3"}
	tests := []struct {
		name, in, want string
	}{
		{name: "no reference", in: "plain text", want: "plain text"},
		{name: "reference", in: "--index=$(IDX)", want: "--index=3"},
		{name: "two references", in: "$(A)-$(IDX)", want: "alpha-3"},
		{name: "empty value", in: "x$(EMPTY)y", want: "xy"},
		{name: "undefined stays", in: "$(NOPE)", want: "$(NOPE)"},
		{name: "escaped", in: "$$(A)", want: "$(A)"},
		{name: "double dollar", in: "cost: $$5", want: "cost: $5"},
		{name: "lone dollar", in: "a$b", want: "a$b"},
		{name: "trailing dollar", in: "a$", want: "a$"},
		{name: "unterminated", in: "$(A", want: "$(A"},
		{name: "shell syntax untouched", in: "${A} $A", want: "${A} $A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expand(tt.in, vars); got != tt.want {
				t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

package money

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParseAmount(t *testing.T) {
	good := map[string]string{"0": "0", "12": "12", "12.5": "12.5", "12.50": "12.5", "-3.01": "-3.01", "999999999999.99": "999999999999.99", "007.10": "7.1"}
	for in, want := range good {
		d, err := ParseAmount(in)
		if err != nil || !d.Equal(decimal.RequireFromString(want)) {
			t.Errorf("ParseAmount(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"", "abc", "1e400", "1E2", "12.345", "1,000.00", "+1", ".5", "5.", "NaN", "Infinity", "0x10", "1000000000000.00", "１２"} {
		if d, err := ParseAmount(in); err == nil {
			t.Errorf("ParseAmount(%q) = %v, want an error", in, d)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	b, err := json.Marshal(struct{ A Amount }{A(decimal.RequireFromString("1200.5"))})
	if err != nil || string(b) != `{"A":"1200.50"}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var v struct{ A Amount }
	if err := json.Unmarshal([]byte(`{"A":"0.10"}`), &v); err != nil || !v.A.Equal(decimal.RequireFromString("0.1")) {
		t.Fatalf("unmarshal = %v, %v", v.A, err)
	}
	if err := json.Unmarshal([]byte(`{"A":0.1}`), &v); err == nil {
		t.Fatal("a JSON number must be refused: money travels as a string")
	}
	// Rounding at the edge of Format is explicit: half away from zero.
	if got := Format(decimal.RequireFromString("2.345")); got != "2.35" {
		t.Fatalf("Format(2.345) = %s", got)
	}
}

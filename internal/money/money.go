// Package money parses and formats the decimal amounts of the back office.
// Amounts are CNY with two decimals, carried as shopspring decimals and sent
// in JSON as strings; floats are never used.
package money

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
)

// Scale is the number of decimals of the currency (CNY: fen).
const Scale = 2

var plain = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// ErrFormat is returned for text that is not a plain decimal number.
var ErrFormat = errors.New(`must be a plain decimal number such as "1234.50"`)

// Parse reads a decimal written plainly (no exponent, no sign other than a
// leading minus, no thousands separator) with at most scale decimals and at
// most intDigits digits before the point. It never rounds: more decimals than
// scale is an error.
func Parse(s string, intDigits, scale int) (decimal.Decimal, error) {
	s = strings.TrimSpace(s)
	if len(s) > 64 || !plain.MatchString(s) {
		return decimal.Decimal{}, ErrFormat
	}
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac) > scale {
		return decimal.Decimal{}, fmt.Errorf("has %d decimals, at most %d allowed", len(frac), scale)
	}
	if len(strings.TrimLeft(intPart, "0")) > intDigits {
		return decimal.Decimal{}, fmt.Errorf("is too large: at most %d digits before the decimal point", intDigits)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, ErrFormat
	}
	return d, nil
}

// ParseAmount reads a money amount: at most 2 decimals and 12 integer digits
// (SQL numeric(14,2)).
func ParseAmount(s string) (decimal.Decimal, error) { return Parse(s, 12, Scale) }

// Format renders d with exactly the currency's decimals, rounding half away
// from zero when d has more (which callers should have done explicitly).
func Format(d decimal.Decimal) string { return d.StringFixed(Scale) }

// Amount is a decimal that marshals to JSON as a string with exactly the
// currency's two decimals ("1200.00"), for API responses.
type Amount struct{ decimal.Decimal }

// A wraps d for a response.
func A(d decimal.Decimal) Amount { return Amount{d} }

// MarshalJSON writes the amount as a quoted fixed-point string.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + Format(a.Decimal) + `"`), nil
}

// UnmarshalJSON reads a quoted decimal string (never a JSON number).
func (a *Amount) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("amount %s: %w", b, ErrFormat)
	}
	d, err := Parse(string(b[1:len(b)-1]), 30, 30)
	if err != nil {
		return fmt.Errorf("amount %s: %w", b, err)
	}
	a.Decimal = d
	return nil
}

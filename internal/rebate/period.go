package rebate

import (
	"fmt"
	"time"
)

// DefaultGraceDays is how many days after the period end returns still count
// against the period's volume.
const DefaultGraceDays = 5

// Period is a calendar quarter, keyed like "2026-Q3".
type Period struct {
	Year    int
	Quarter int
}

// ParsePeriod parses a period key such as "2026-Q3".
func ParsePeriod(key string) (Period, error) {
	var p Period
	var rest string
	n, _ := fmt.Sscanf(key, "%4d-Q%1d%s", &p.Year, &p.Quarter, &rest)
	if n != 2 || p.Year < 2000 || p.Year > 9999 || p.Quarter < 1 || p.Quarter > 4 || p.Key() != key {
		return Period{}, fmt.Errorf("%w: period %q is not like 2026-Q3", ErrInput, key)
	}
	return p, nil
}

// PeriodOf is the quarter t falls in, in t's location.
func PeriodOf(t time.Time) Period {
	return Period{Year: t.Year(), Quarter: (int(t.Month())-1)/3 + 1}
}

// Key is the period's key, e.g. "2026-Q3".
func (p Period) Key() string { return fmt.Sprintf("%04d-Q%d", p.Year, p.Quarter) }

// Start is the first instant of the period in loc.
func (p Period) Start(loc *time.Location) time.Time {
	return time.Date(p.Year, time.Month(3*(p.Quarter-1)+1), 1, 0, 0, 0, 0, loc)
}

// End is the first instant after the period in loc (exclusive): orders
// delivered before it count.
func (p Period) End(loc *time.Location) time.Time { return p.Start(loc).AddDate(0, 3, 0) }

// ReturnsCutoff is the first instant after the grace days (exclusive):
// returns of the period's orders recorded before it count.
func (p Period) ReturnsCutoff(loc *time.Location, graceDays int) time.Time {
	return p.End(loc).AddDate(0, 0, graceDays)
}

// CountsDelivery says whether an order delivered at t counts in the period.
func (p Period) CountsDelivery(t time.Time) bool {
	return !t.Before(p.Start(t.Location())) && t.Before(p.End(t.Location()))
}

// CountsReturn says whether a return recorded at t, of an order delivered at
// delivered, counts against the period's volume with graceDays of grace.
func (p Period) CountsReturn(delivered, t time.Time, graceDays int) bool {
	return p.CountsDelivery(delivered) && t.Before(p.ReturnsCutoff(t.Location(), graceDays))
}

// Prev is the quarter before p.
func (p Period) Prev() Period {
	if p.Quarter == 1 {
		return Period{Year: p.Year - 1, Quarter: 4}
	}
	return Period{Year: p.Year, Quarter: p.Quarter - 1}
}

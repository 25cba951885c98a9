package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/money"
)

func (s *server) returnRoutes(g *echo.Group) {
	g.POST("/orders/:id/returns", s.recordReturn)
	g.GET("/orders/:id/returns", s.listReturns)
}

// returnRecorders may record returns: HQ roles that change data.
var returnRecorders = []auth.Role{auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance}

// maxReturnQty bounds a returned quantity as order lines bound theirs.
const maxReturnQty = 1_000_000

// OrderReturn is goods coming back on a delivered order, valued line by line.
type OrderReturn struct {
	ID         int64        `json:"id"`
	Order      string       `json:"order"`
	Amount     money.Amount `json:"amount"`
	Reason     string       `json:"reason"`
	RecordedAt time.Time    `json:"recorded_at"`
	// RecordedBy is the name of the user who recorded it.
	RecordedBy string       `json:"recorded_by"`
	Lines      []ReturnLine `json:"lines"`
}

// ReturnLine is what a return took back of one order line.
type ReturnLine struct {
	LineNo int32        `json:"line_no"`
	SKU    string       `json:"sku"`
	Qty    int64        `json:"qty"`
	Amount money.Amount `json:"amount"`
}

// OrderReturns are an order's returns, oldest first, and what they took
// back in all.
type OrderReturns struct {
	Order         string        `json:"order"`
	TotalReturned money.Amount  `json:"total_returned"`
	Items         []OrderReturn `json:"items"`
}

type returnLineInput struct {
	LineNo *int64  `json:"line_no"`
	SKU    *string `json:"sku"`
	Qty    *int64  `json:"qty"`
}

type returnInput struct {
	Reason *string           `json:"reason"`
	Lines  []json.RawMessage `json:"lines"`
}

// returnEntry is one entry of a return request, as named by the caller.
type returnEntry struct {
	field  string // "lines[i]"
	lineNo int32  // 0 until resolved
	sku    string
	qty    int64
}

// returnAmount values qty units returned from an order line: the line's net
// value (its share of the order's net total) is taken back pro rata to the
// units. When the return takes the line's last units (qty = line qty −
// returned qty) it takes exactly what is left of the line's net value (net
// value − what earlier returns took); otherwise net value × qty / line qty,
// rounded half away from zero to the fen, but never more than what is left.
// So a line's returns add up to its net value once all its units are back,
// and never exceed it.
func returnAmount(l dbgen.OrderLinesReturnedRow, qty int64) decimal.Decimal {
	left := l.NetValue.Sub(l.ReturnedAmount)
	if qty == l.Qty-l.ReturnedQty {
		return left
	}
	share := l.NetValue.Mul(decimal.NewFromInt(qty)).DivRound(decimal.NewFromInt(l.Qty), money.Scale)
	return decimal.Min(share, left)
}

// errReturnRepeated ends the write transaction of a request that repeats
// an Idempotency-Key already recorded: nothing is written, the recorded
// return is the answer.
var errReturnRepeated = errors.New("return already recorded under this Idempotency-Key")

// recordReturn records goods coming back on a delivered order (HQ:
// hq_admin, hq_sales, finance). Each entry names a line of the order by
// line_no or by SKU; its amount is returnAmount. The order row is locked in
// the write transaction, so concurrent returns of one order are serialised
// and never take back more units than were delivered. The Idempotency-Key
// header is required: the same key with the same body and caller answers the
// recorded return (200); with another body or caller, 409.
func (s *server) recordReturn(c echo.Context) error {
	p, err := allow(c, returnRecorders...)
	if err != nil {
		return err
	}
	key, err := requiredIdempotencyKey(c)
	if err != nil {
		return err
	}
	var in returnInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	v := &validator{}
	reason := v.text("reason", in.Reason, true, 500)
	entries := returnEntries(v, in.Lines)

	id := c.Param("id")
	var out OrderReturn
	err = s.write(c, "return", "order", id, &out, func(q *dbgen.Queries) (err error) {
		out, err = takeBack(c.Request().Context(), q, p, id, key, reason, entries, v)
		return err
	})
	switch {
	case errors.Is(err, errReturnRepeated):
		return c.JSON(http.StatusOK, out)
	case err != nil:
		return err
	}
	return created(c, "/v1/orders/"+id+"/returns", out)
}

// takeBack records the return in the write transaction of q: it locks the
// order (serialising its returns), checks it is delivered, resolves the
// entries to its lines, answers a repeated Idempotency-Key with the
// recorded return (errReturnRepeated), checks each quantity against what
// is left on its line and records the return and its lines, each valued by
// returnAmount. Field errors are collected on v.
func takeBack(ctx context.Context, q *dbgen.Queries, p auth.Principal, id, key, reason string, entries []returnEntry, v *validator) (OrderReturn, error) {
	o, err := q.LockOrder(ctx, id)
	if err != nil {
		return OrderReturn{}, err
	}
	if o.Status != activities.OrderDelivered {
		return OrderReturn{}, errConflict(fmt.Sprintf("order %s is %s: only a delivered order takes returns", id, o.Status))
	}
	lines, err := q.OrderLinesReturned(ctx, id)
	if err != nil {
		return OrderReturn{}, err
	}
	resolveReturnLines(v, id, lines, entries)
	if err := v.err(); err != nil {
		return OrderReturn{}, err
	}
	if prev, err := q.GetOrderReturnByKey(ctx, dbgen.GetOrderReturnByKeyParams{OrderID: id, IdempotencyKey: &key}); err == nil {
		out, err := repeatedReturn(ctx, q, prev, p, reason, entries)
		if err != nil {
			return out, err
		}
		return out, errReturnRepeated
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return OrderReturn{}, err
	}
	byNo := map[int32]dbgen.OrderLinesReturnedRow{}
	for _, l := range lines {
		byNo[l.LineNo] = l
	}
	total := decimal.Zero
	amounts := make([]decimal.Decimal, len(entries))
	for i, e := range entries {
		l := byNo[e.lineNo]
		if left := l.Qty - l.ReturnedQty; e.qty > left {
			v.add(e.field+".qty", fmt.Sprintf("is more than can still be returned on line %d (%s): %d of the %d delivered (%d already returned)",
				l.LineNo, l.Sku, left, l.Qty, l.ReturnedQty))
			continue
		}
		amounts[i] = returnAmount(l, e.qty)
		total = total.Add(amounts[i])
	}
	if err := v.err(); err != nil {
		return OrderReturn{}, err
	}
	r, err := q.InsertOrderReturn(ctx, dbgen.InsertOrderReturnParams{OrderID: id, Amount: total, Reason: reason,
		RecordedBy: &p.UserID, IdempotencyKey: &key})
	if err != nil {
		return OrderReturn{}, err
	}
	out := OrderReturn{ID: r.ID, Order: id, Amount: money.A(r.Amount), Reason: r.Reason, RecordedAt: r.RecordedAt,
		RecordedBy: p.Name, Lines: []ReturnLine{}}
	for i, e := range entries {
		if err := q.InsertOrderReturnLine(ctx, dbgen.InsertOrderReturnLineParams{ReturnID: r.ID, OrderID: id, LineNo: e.lineNo,
			Sku: e.sku, Qty: e.qty, Amount: amounts[i]}); err != nil {
			return OrderReturn{}, err
		}
		out.Lines = append(out.Lines, ReturnLine{LineNo: e.lineNo, SKU: e.sku, Qty: e.qty, Amount: money.A(amounts[i])})
	}
	slices.SortFunc(out.Lines, func(a, b ReturnLine) int { return int(a.LineNo) - int(b.LineNo) })
	return out, nil
}

// returnEntries checks the shape of the request's lines (how many, each
// naming a line by line_no or sku, a positive quantity); which order lines
// they name is resolved under the order's lock.
func returnEntries(v *validator, raw []json.RawMessage) []returnEntry {
	if len(raw) == 0 {
		v.add("lines", "at least one line is required")
		return nil
	}
	if len(raw) > maxOrderLines {
		v.add("lines", fmt.Sprintf("at most %d lines", maxOrderLines))
		return nil
	}
	var out []returnEntry
	for i, l := range decodeEach[returnLineInput](v, "lines", raw) {
		f := fmt.Sprintf("lines[%d]", i)
		if transferElementFailed(v, f) {
			continue
		}
		e := returnEntry{field: f}
		e.qty = v.positiveInt(f+".qty", l.Qty, true, maxReturnQty)
		if l.LineNo != nil {
			e.lineNo = int32(v.positiveInt(f+".line_no", l.LineNo, false, maxOrderLines))
		}
		if l.SKU != nil {
			e.sku = v.code(f+".sku", l.SKU, false)
		}
		if l.LineNo == nil && l.SKU == nil {
			v.add(f+".line_no", "name the order line: line_no, or sku when the SKU is on one line of the order")
		}
		out = append(out, e)
	}
	return out
}

// resolveReturnLines finds the order line each entry names, reporting
// unknown lines and SKUs, a SKU on several lines (line_no needed), a line_no
// and sku that disagree, and a line named twice.
func resolveReturnLines(v *validator, orderID string, lines []dbgen.OrderLinesReturnedRow, entries []returnEntry) {
	byNo := map[int32]dbgen.OrderLinesReturnedRow{}
	bySKU := map[string][]int32{}
	for _, l := range lines {
		byNo[l.LineNo] = l
		bySKU[l.Sku] = append(bySKU[l.Sku], l.LineNo)
	}
	seen := map[int32]string{}
	for i := range entries {
		e := &entries[i]
		if returnFieldReported(v, e.field, e.field+".line_no", e.field+".sku") {
			continue // already reported
		}
		named := e.field + ".line_no"
		switch {
		case e.lineNo != 0:
			l, ok := byNo[e.lineNo]
			if !ok {
				v.add(named, fmt.Sprintf("order %s has no line %d (it has %d lines)", orderID, e.lineNo, len(lines)))
				continue
			}
			if e.sku != "" && e.sku != l.Sku {
				v.add(e.field+".sku", fmt.Sprintf("line %d is %s, not %s", l.LineNo, l.Sku, e.sku))
				continue
			}
			e.sku = l.Sku
		default:
			named = e.field + ".sku"
			nos := bySKU[e.sku]
			switch len(nos) {
			case 0:
				v.add(named, fmt.Sprintf("%s is not on order %s", e.sku, orderID))
				continue
			case 1:
				e.lineNo = nos[0]
			default:
				v.add(e.field+".line_no", fmt.Sprintf("%s is on lines %s of order %s: give line_no", e.sku, returnLineNos(nos), orderID))
				continue
			}
		}
		if first, dup := seen[e.lineNo]; dup {
			v.add(named, fmt.Sprintf("names line %d again (as %s does): put its whole quantity in one entry", e.lineNo, first))
			e.lineNo = 0
			continue
		}
		seen[e.lineNo] = e.field
	}
}

// repeatedReturn answers a request whose Idempotency-Key the order already
// has a return under: the same caller, reason and lines get the recorded
// return; anything else is a 409.
func repeatedReturn(ctx context.Context, q *dbgen.Queries, prev dbgen.OrderReturn, p auth.Principal, reason string, entries []returnEntry) (OrderReturn, error) {
	conflict := errConflict(fmt.Sprintf("Idempotency-Key %s was already used for a different return (%d) of order %s",
		*prev.IdempotencyKey, prev.ID, prev.OrderID))
	lines, err := q.ListOrderReturnLines(ctx, prev.OrderID)
	if err != nil {
		return OrderReturn{}, err
	}
	out := OrderReturn{ID: prev.ID, Order: prev.OrderID, Amount: money.A(prev.Amount), Reason: prev.Reason, RecordedAt: prev.RecordedAt,
		RecordedBy: p.Name, Lines: []ReturnLine{}}
	for _, l := range lines {
		if l.ReturnID == prev.ID {
			out.Lines = append(out.Lines, ReturnLine{LineNo: l.LineNo, SKU: l.Sku, Qty: l.Qty, Amount: money.A(l.Amount)})
		}
	}
	if prev.RecordedBy == nil || *prev.RecordedBy != p.UserID || prev.Reason != reason || len(out.Lines) != len(entries) {
		return out, conflict
	}
	want := map[int32]int64{}
	for _, e := range entries {
		want[e.lineNo] = e.qty
	}
	for _, l := range out.Lines {
		if want[l.LineNo] != l.Qty {
			return out, conflict
		}
	}
	return out, nil
}

// listReturns answers an order's returns with their lines: HQ roles any
// order's, an agent its own orders' and its stores', a store its own (as
// GET /v1/orders/{id}: 404 unknown, 403 outside the caller's scope).
func (s *server) listReturns(c echo.Context) error {
	o, err := s.visibleOrder(c, principal(c))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	returns, err := s.q.ListOrderReturns(ctx, o.ID)
	if err != nil {
		return err
	}
	lines, err := s.q.ListOrderReturnLines(ctx, o.ID)
	if err != nil {
		return err
	}
	byReturn := map[int64][]ReturnLine{}
	for _, l := range lines {
		byReturn[l.ReturnID] = append(byReturn[l.ReturnID], ReturnLine{LineNo: l.LineNo, SKU: l.Sku, Qty: l.Qty, Amount: money.A(l.Amount)})
	}
	out := OrderReturns{Order: o.ID, Items: []OrderReturn{}}
	total := decimal.Zero
	for _, r := range returns {
		rl := byReturn[r.ID]
		if rl == nil {
			rl = []ReturnLine{} // returns recorded before lines were
		}
		out.Items = append(out.Items, OrderReturn{ID: r.ID, Order: o.ID, Amount: money.A(r.Amount), Reason: r.Reason,
			RecordedAt: r.RecordedAt, RecordedBy: r.RecordedBy, Lines: rl})
		total = total.Add(r.Amount)
	}
	out.TotalReturned = money.A(total)
	return c.JSON(http.StatusOK, out)
}

// returnFieldReported reports whether an error of v names one of fields.
func returnFieldReported(v *validator, fields ...string) bool {
	for _, e := range v.errs {
		if slices.Contains(fields, e.Field) {
			return true
		}
	}
	return false
}

func returnLineNos(ns []int32) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
)

// debitNote posts a debit note to agent in settlement (created if need be),
// as a final whose total fell below what interims paid does.
func (h *harness) debitNote(t *testing.T, settlement, agent, program, amount string) dbgen.CreditNote {
	t.Helper()
	at := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO rebate_settlements (id, period, kind, cutoff, returns_cutoff)
		VALUES ($1, $1, 'final', $2, $3) ON CONFLICT DO NOTHING`, settlement, at, at.AddDate(0, 0, 5)); err != nil {
		t.Fatal(err)
	}
	n, err := dbgen.New(h.pool).InsertCreditNote(context.Background(), dbgen.InsertCreditNoteParams{No: fmt.Sprintf("DN-%s-%s-%s", settlement, agent, program),
		SettlementID: settlement, Period: settlement, AgentCode: agent, ProgramCode: program, Kind: "debit", Amount: decimal.RequireFromString(amount)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (h *harness) ledger(t *testing.T, user, agent string) api.CreditNoteLedger {
	t.Helper()
	var l api.CreditNoteLedger
	h.do("GET", "/v1/agents/"+agent+"/credit-notes", user, nil).expect(t, 200).json(t, &l)
	return l
}

// names reports whether the problem has an error for field.
func names(p api.Problem, field string) bool { return slices.Contains(problemFields(p), field) }

func remaining(l api.CreditNoteLedger, no string) string {
	for _, n := range l.Notes {
		if n.No == no {
			return n.Remaining.StringFixed(2)
		}
	}
	return "absent"
}

// A debit note is carried forward: recovered from the agent's unspent credit
// when it is posted, else from the next credit note, else when an order
// gives its credit back — oldest first, never more than is owed or held.
func TestDebitNotesAreCarriedForwardAndRecovered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	// AG-NORTH owes 206.40 with no credit: carried forward.
	h.debitNote(t, "2026-Q2", "AG-NORTH", "VOL", "206.40")
	l := h.ledger(t, "demo-agent-north", "AG-NORTH")
	if !l.Balance.IsZero() || l.Owed.StringFixed(2) != "206.40" || remaining(l, "DN-2026-Q2-AG-NORTH-VOL") != "206.40" {
		t.Fatalf("after the debit: %+v", l)
	}
	// The next quarter's credit note recovers it: 1000.00 − 206.40.
	h.creditNote(t, "2026-Q3", "AG-NORTH", "VOL", "1000.00")
	l = h.ledger(t, "demo-agent-north", "AG-NORTH")
	if l.Balance.StringFixed(2) != "793.60" || !l.Owed.IsZero() || remaining(l, "DN-2026-Q2-AG-NORTH-VOL") != "0.00" ||
		remaining(l, "CN-2026-Q3-AG-NORTH-VOL") != "793.60" {
		t.Fatalf("after the next credit: %+v", l)
	}
	var recovered []string
	for _, e := range l.Entries {
		if e.Kind == "recovery" {
			recovered = append(recovered, e.CreditNote+">"+e.DebitNote+"="+e.Amount.StringFixed(2))
		}
	}
	if fmt.Sprint(recovered) != "[CN-2026-Q3-AG-NORTH-VOL>DN-2026-Q2-AG-NORTH-VOL=206.40]" {
		t.Fatalf("recoveries %v", recovered)
	}
	// The order pricing offsets only what is left.
	if b := h.creditBalance(t, "AG-NORTH"); b != "793.60" {
		t.Fatalf("balance for orders %s", b)
	}

	// AG-EAST: 100.00 unspent, then a debit of 250.00: 100.00 recovered at
	// once, 150.00 owed; a 50.00 credit goes to it whole; a 300.00 credit
	// clears it and leaves 200.00.
	h.creditNote(t, "2026-Q1", "AG-EAST", "VOL", "100.00")
	h.debitNote(t, "2026-Q2", "AG-EAST", "VOL", "250.00")
	l = h.ledger(t, agentEast, "AG-EAST")
	if !l.Balance.IsZero() || l.Owed.StringFixed(2) != "150.00" {
		t.Fatalf("east after the debit: balance %s owed %s", l.Balance, l.Owed)
	}
	h.creditNote(t, "2026-Q3", "AG-EAST", "VOL", "50.00")
	if l = h.ledger(t, agentEast, "AG-EAST"); !l.Balance.IsZero() || l.Owed.StringFixed(2) != "100.00" {
		t.Fatalf("east after 50.00: balance %s owed %s", l.Balance, l.Owed)
	}
	h.creditNote(t, "2026-Q4", "AG-EAST", "VOL", "300.00")
	if l = h.ledger(t, agentEast, "AG-EAST"); l.Balance.StringFixed(2) != "200.00" || !l.Owed.IsZero() {
		t.Fatalf("east after 300.00: balance %s owed %s", l.Balance, l.Owed)
	}

	// AG-SOUTH spends its 500.00 on an order, then owes 200.00: nothing to
	// recover it from until the order is cancelled and gives the 500.00 back.
	h.creditNote(t, "2026-Q1", "AG-SOUTH", "VOL", "500.00")
	o := h.submit(t, agentSouth, "ledger-1", lines("HY-01", 10))
	if o.Pricing.CreditOffset.StringFixed(2) != "500.00" {
		t.Fatalf("offset %s", o.Pricing.CreditOffset)
	}
	h.debitNote(t, "2026-Q2", "AG-SOUTH", "VOL", "200.00")
	if l = h.ledger(t, agentSouth, "AG-SOUTH"); !l.Balance.IsZero() || l.Owed.StringFixed(2) != "200.00" {
		t.Fatalf("south while spent: balance %s owed %s", l.Balance, l.Owed)
	}
	h.do("POST", "/v1/orders/"+o.ID+"/cancel", agentSouth, map[string]any{"reason": "changed my mind"}).expect(t, 200)
	h.waitOrder(t, agentSouth, o.ID, func(o api.Order) bool { return o.Status == "cancelled" })
	if l = h.ledger(t, agentSouth, "AG-SOUTH"); l.Balance.StringFixed(2) != "300.00" || !l.Owed.IsZero() {
		t.Fatalf("south after the release: %+v", l)
	}
	kinds := map[string]int{}
	for _, e := range l.Entries {
		kinds[e.Kind]++
	}
	if kinds["use"] != 1 || kinds["release"] != 1 || kinds["recovery"] != 1 {
		t.Fatalf("south entries %+v", l.Entries)
	}

	// Posting the same note again changes nothing.
	before := h.ledger(t, hqSales, "AG-SOUTH")
	if _, err := dbgen.New(h.pool).InsertCreditNote(context.Background(), dbgen.InsertCreditNoteParams{No: "CN-dup", SettlementID: "2026-Q2",
		Period: "2026-Q2", AgentCode: "AG-SOUTH", ProgramCode: "VOL", Kind: "debit", Amount: decimal.RequireFromString("200.00")}); err == nil {
		t.Fatal("a second debit note for the same settlement, agent and program was posted")
	}
	if after := h.ledger(t, hqSales, "AG-SOUTH"); after.Balance.StringFixed(2) != before.Balance.StringFixed(2) || len(after.Entries) != len(before.Entries) {
		t.Fatalf("a repeated post changed the ledger: %+v → %+v", before, after)
	}
	// A recovery beyond what is owed, or a direct change, is refused.
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO credit_note_uses (credit_note_id, debit_note_id, kind, amount)
		SELECT c.id, d.id, 'recovery', 0.01 FROM credit_notes c, credit_notes d
		WHERE c.no = 'CN-2026-Q3-AG-NORTH-VOL' AND d.no = 'DN-2026-Q2-AG-NORTH-VOL'`); err == nil {
		t.Fatal("a recovery beyond the debit was accepted")
	}
	if _, err := h.pool.Exec(context.Background(), `UPDATE credit_notes SET remaining = 0 WHERE kind = 'debit'`); err == nil {
		t.Fatal("a debit note was written off directly")
	}

	// Scope: an agent sees its own ledger only; a store none; HQ any.
	h.do("GET", "/v1/agents/AG-NORTH/credit-notes", agentEast, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/agents/AG-EAST/credit-notes", storeUser, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/agents/AG-NOPE/credit-notes", finance, nil).expect(t, 404).problem(t)
	h.ledger(t, opsUser, "AG-NORTH")
}

// A final below what the interim paid posts a debit note while the interim's
// credit is already spent; the next quarter's final credit recovers it and
// the statement says how much.
func TestSettlementDebitCarriedIntoNextQuarter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.user(t, "finance-2", auth.RoleFinance)
	h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "VOL", "name": "Volume rebate", "grade": "C", "effective_from": "2026-01-01",
		"mode": "retroactive", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}, {"from": "30000.00", "rate_pct": "2"}}}).expect(t, 201)
	deliver := func(key string, qty int, at string) api.Order {
		o := h.submit(t, "demo-agent-north", key, lines("HY-01", qty))
		if _, err := h.pool.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = $2 WHERE id = $1`, o.ID, at); err != nil {
			t.Fatal(err)
		}
		return o
	}
	// Q2: 40320.00 delivered, an interim pays 2% = 806.40.
	o := deliver("q2-a", 400, "2026-05-10 10:00+08")
	h.settle(t, "2026-Q2", "interim", "2026-Q2-interim-1")
	// The agent spends it on its next order (not delivered: not volume).
	spend := h.submit(t, "demo-agent-north", "spend", lines("HY-01", 10))
	if spend.Pricing.CreditOffset.StringFixed(2) != "806.40" {
		t.Fatalf("spend offset %s", spend.Pricing.CreditOffset)
	}
	// Returns of 10320.00 in the grace days: 30000.00 × 2% = 600.00, a
	// debit of 206.40 carried forward (nothing left to recover it from).
	if _, err := h.pool.Exec(ctx, `INSERT INTO order_returns (order_id, amount, recorded_at) VALUES ($1, 10320.00, '2026-07-03 09:00+08')`, o.ID); err != nil {
		t.Fatal(err)
	}
	h.settle(t, "2026-Q2", "final", "2026-Q2")
	if st := h.statement(t, "2026-Q2", "AG-NORTH"); st.Debit.StringFixed(2) != "206.40" || st.NoteNo != "DN-2026-Q2-AG-NORTH-VOL" || !st.Recovered.IsZero() {
		t.Fatalf("Q2 final %+v", st)
	}
	if l := h.ledger(t, "demo-agent-north", "AG-NORTH"); !l.Balance.IsZero() || l.Owed.StringFixed(2) != "206.40" {
		t.Fatalf("after Q2: balance %s owed %s", l.Balance, l.Owed)
	}
	// Q3: 31008.00 delivered: 2% = 620.16, of which 206.40 recovers the debit.
	deliver("q3-a", 300, "2026-08-10 10:00+08")
	deliver("q3-b", 10, "2026-09-10 10:00+08")
	s := h.settle(t, "2026-Q3", "final", "2026-Q3")
	st := h.statement(t, "2026-Q3", "AG-NORTH")
	if st.Volume.StringFixed(2) != "31248.00" || st.Credit.StringFixed(2) != "624.96" || st.Recovered.StringFixed(2) != "206.40" ||
		s.TotalCredit.StringFixed(2) != "624.96" {
		t.Fatalf("Q3 final %+v (settlement %+v)", st, s)
	}
	if st := h.statement(t, "2026-Q2", "AG-NORTH"); st.Recovered.StringFixed(2) != "206.40" {
		t.Fatalf("Q2 debit recovered %s", st.Recovered)
	}
	if l := h.ledger(t, "demo-agent-north", "AG-NORTH"); l.Balance.StringFixed(2) != "418.56" || !l.Owed.IsZero() {
		t.Fatalf("after Q3: balance %s owed %s", l.Balance, l.Owed)
	}
	if b := h.creditBalance(t, "AG-NORTH"); b != "418.56" {
		t.Fatalf("balance for orders %s", b)
	}
}

// Stores' data points, recorded by HQ, make the agent's data-contribution
// score that the data bonus pays a rate per point on.
func TestDataContributionPointsPayTheDataBonus(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.user(t, "finance-2", auth.RoleFinance)

	body := func(entries ...map[string]any) map[string]any {
		return map[string]any{"period": "2026-Q3", "entries": entries}
	}
	e := func(store, metric, points string) map[string]any {
		return map[string]any{"store": store, "metric": metric, "points": points}
	}
	h.do("POST", "/v1/store-data-points", agentEast, body(e("ST-EAST-01", "pos_feed", "1"))).expect(t, 403).problem(t)
	p := h.do("POST", "/v1/store-data-points", finance, map[string]any{"period": "2026-Q9", "entries": []map[string]any{
		e("ST-NORTH-01", "POS feed", "1"), e("ST-NORTH-01", "pos_feed", "-1"), e("st", "pos_feed", "1.234")}}).expect(t, 422).problem(t)
	for _, f := range []string{"period", "entries[0].metric", "entries[1].points", "entries[2].store", "entries[2].points"} {
		if !names(p, f) {
			t.Fatalf("no error for %s: %+v", f, p.Errors)
		}
	}
	p = h.do("POST", "/v1/store-data-points", finance, body(e("ST-NORTH-01", "pos_feed", "10"), e("ST-NOPE-01", "pos_feed", "1"))).expect(t, 422).problem(t)
	if !names(p, "entries[1].store") || h.count("store_data_points") != 0 {
		t.Fatalf("an unknown store: %+v, %d rows written", p.Errors, h.count("store_data_points"))
	}
	p = h.do("POST", "/v1/store-data-points", finance, body(e("ST-NORTH-01", "pos_feed", "10"), e("ST-NORTH-01", "pos_feed", "1"))).expect(t, 422).problem(t)
	if !names(p, "entries[1].store") {
		t.Fatalf("a duplicate entry: %+v", p.Errors)
	}

	// AG-NORTH's stores: 8 + 4.5 points, the first corrected from 10 to 8.
	var rec api.DataPointsList
	h.do("POST", "/v1/store-data-points", finance, body(e("ST-NORTH-01", "pos_feed", "10"))).expect(t, 200)
	h.do("POST", "/v1/store-data-points", hqAdmin, body(e("ST-NORTH-01", "pos_feed", "8"), e("ST-NORTH-02", "member_scans", "4.5"),
		e("ST-EAST-01", "pos_feed", "30"))).expect(t, 200).json(t, &rec)
	if len(rec.Items) != 3 || rec.Items[0].Previous == nil || rec.Items[0].Previous.StringFixed(2) != "10.00" || rec.Items[1].Previous != nil ||
		rec.Items[0].Agent != "AG-NORTH" || rec.Agents["AG-NORTH"].StringFixed(2) != "12.50" || rec.Agents["AG-EAST"].StringFixed(2) != "30.00" {
		t.Fatalf("recorded %+v", rec)
	}
	var list api.DataPointsList
	h.do("GET", "/v1/store-data-points?period=2026-Q3", "demo-agent-north", nil).expect(t, 200).json(t, &list)
	if len(list.Items) != 2 || list.Agents["AG-NORTH"].StringFixed(2) != "12.50" || len(list.Agents) != 1 {
		t.Fatalf("agent's list %+v", list)
	}
	h.do("GET", "/v1/store-data-points?period=2026-Q3&agent=AG-EAST", "demo-agent-north", nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/store-data-points?period=2026-Q3", storeUser, nil).expect(t, 200).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].Store != "ST-EAST-01" {
		t.Fatalf("store's list %+v", list)
	}
	h.do("GET", "/v1/store-data-points", finance, nil).expect(t, 422).problem(t)

	// Grade C: 1% retroactive, + 0.1% of the volume per point, at most 10
	// points. 40320.00 × 1% = 403.20; 12.5 points × 0.1% = 1.25% = 504.00.
	h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "VOL", "name": "Volume and data", "grade": "C", "effective_from": "2026-01-01",
		"mode": "retroactive", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}},
		"data": map[string]any{"rate_pct_per_point": "0.1", "max_points": "20"}}).expect(t, 201)
	o := h.submit(t, "demo-agent-north", "data-1", lines("HY-01", 400))
	if _, err := h.pool.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = '2026-08-10 10:00+08' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	h.settle(t, "2026-Q3", "final", "2026-Q3")
	st := h.statement(t, "2026-Q3", "AG-NORTH")
	var data *api.StatementLine
	for i := range st.Lines {
		if st.Lines[i].Rule == "data" {
			data = &st.Lines[i]
		}
	}
	if data == nil || data.Amount.StringFixed(2) != "504.00" || !decimal.RequireFromString(data.RatePct).Equal(decimal.RequireFromString("1.25")) ||
		st.Credit.StringFixed(2) != "907.20" {
		t.Fatalf("statement %+v", st)
	}
	if !strings.Contains(data.Note, "12.5 points from 2 stores") {
		t.Fatalf("data line note %q", data.Note)
	}
	// Capped at max_points: 30 points at ST-EAST-01 would be limited to 20
	// (AG-EAST has no program here; the calculation's own tests cover it).
}

// The new-product share is the new SKUs' share of the orders' net value, net
// of the returned lines: an interim earns the bonus, a return of half the
// new product in the grace days loses it, and the final's negative balance
// is recovered from the interim's unspent credit at once.
func TestNewProductShareNetOfReturnedLines(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.user(t, "finance-2", auth.RoleFinance)
	h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "VOL", "name": "Volume and new products", "grade": "C",
		"effective_from": "2026-01-01", "mode": "retroactive", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}},
		"new_product": map[string]any{"within_months": 6, "min_share_pct": "20", "bonus_pct": "1"}}).expect(t, 201)
	// HY-01 (2024) 400 × 134.40 − 25% = 40320.00; AB-01 (launched
	// 2026-09-01) 60 × 310.40 − 25% = 13968.00; 54288.00 reaches the 1%
	// ladder tier: net total 53745.12, shared 39916.80 / 13828.32.
	o := h.submit(t, "demo-agent-north", "np-1", append(lines("HY-01", 400), lines("AB-01", 60)...))
	if o.NetTotal.StringFixed(2) != "53745.12" || o.Pricing.Lines[0].NetValue.StringFixed(2) != "39916.80" ||
		o.Pricing.Lines[1].NetValue.StringFixed(2) != "13828.32" {
		t.Fatalf("order %s, lines %+v", o.NetTotal, o.Pricing.Lines)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = '2026-09-20 10:00+08' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	// Interim: share 13828.32 / 53745.12 = 25.73% ≥ 20%: 537.45 + 537.45.
	h.settle(t, "2026-Q3", "interim", "2026-Q3-interim-1")
	st := h.statement(t, "2026-Q3-interim-1", "AG-NORTH")
	if st.Credit.StringFixed(2) != "1074.90" || len(st.Lines) != 2 || st.Lines[1].Amount.StringFixed(2) != "537.45" {
		t.Fatalf("interim %+v", st)
	}
	// Half the AB-01 line comes back in the grace days: 6914.16.
	var ret int64
	if err := h.pool.QueryRow(ctx, `INSERT INTO order_returns (order_id, amount, recorded_at) VALUES ($1, 6914.16, '2026-10-02 09:00+08') RETURNING id`,
		o.ID).Scan(&ret); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `INSERT INTO order_return_lines (return_id, order_id, line_no, sku, qty, amount) VALUES ($1, $2, 2, 'AB-01', 30, 6914.16)`,
		ret, o.ID); err != nil {
		t.Fatal(err)
	}
	// Final: 46830.96 at 1% = 468.31; new products 6914.16 of 46830.96 =
	// 14.76%: no bonus. 468.31 − 1074.90 = a debit of 606.59, recovered from
	// the interim's credit note, which keeps 468.31.
	h.settle(t, "2026-Q3", "final", "2026-Q3")
	st = h.statement(t, "2026-Q3", "AG-NORTH")
	if st.Volume.StringFixed(2) != "46830.96" || st.Total.StringFixed(2) != "468.31" || st.Debit.StringFixed(2) != "606.59" ||
		!st.Lines[1].Amount.IsZero() || !strings.Contains(st.Lines[1].Note, "6914.16 of 46830.96 = 14.76%") || st.Recovered.StringFixed(2) != "606.59" {
		t.Fatalf("final %+v", st)
	}
	l := h.ledger(t, finance, "AG-NORTH")
	if l.Balance.StringFixed(2) != "468.31" || !l.Owed.IsZero() || remaining(l, "CN-2026-Q3-interim-1-AG-NORTH-VOL") != "468.31" {
		t.Fatalf("ledger %+v", l)
	}
}

// An order priced before lines had a net value (its stored quote has none)
// shows the value stored on its line.
func TestOrderDetailShowsStoredNetValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.submit(t, "demo-agent-north", "nv-1", append(lines("HY-01", 400), lines("AB-01", 60)...))
	if _, err := h.pool.Exec(context.Background(), `UPDATE orders SET pricing = pricing #- '{lines,0,net_value}' #- '{lines,1,net_value}' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	got := h.waitOrder(t, "demo-agent-north", o.ID, func(api.Order) bool { return true })
	if got.Pricing.Lines[0].NetValue.StringFixed(2) != "39916.80" || got.Pricing.Lines[1].NetValue.StringFixed(2) != "13828.32" {
		t.Fatalf("net values %+v", got.Pricing.Lines)
	}
}

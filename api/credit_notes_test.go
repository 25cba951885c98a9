package api_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/orders"
)

// creditNote posts a credit note to agent in settlement (the final of its
// period, created if need be) for program.
func (h *harness) creditNote(t *testing.T, settlement, agent, program, amount string) dbgen.CreditNote {
	t.Helper()
	ctx := context.Background()
	q := dbgen.New(h.pool)
	at := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	if _, err := q.InsertSettlement(ctx, dbgen.InsertSettlementParams{ID: settlement, Period: settlement, Kind: "final",
		Cutoff: at, ReturnsCutoff: at.AddDate(0, 0, 5)}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	n, err := q.InsertCreditNote(ctx, dbgen.InsertCreditNoteParams{No: fmt.Sprintf("CN-%s-%s-%s", settlement, agent, program),
		SettlementID: settlement, Period: settlement, AgentCode: agent, ProgramCode: program, Kind: "credit", Amount: decimal.RequireFromString(amount)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (h *harness) creditBalance(t *testing.T, agent string) string {
	t.Helper()
	b, err := dbgen.New(h.pool).AgentCreditBalance(context.Background(), agent)
	if err != nil {
		t.Fatal(err)
	}
	return b.StringFixed(2)
}

func TestOrderConsumesCreditNotesNeverTwiceNeverNegative(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	q := dbgen.New(h.pool)
	n1 := h.creditNote(t, "2026-Q2", "AG-NORTH", "VOL", "1000.00")
	// Posting the same settlement, agent and program again posts nothing.
	if _, err := q.InsertCreditNote(ctx, dbgen.InsertCreditNoteParams{No: "CN-again", SettlementID: "2026-Q2", Period: "2026-Q2",
		AgentCode: "AG-NORTH", ProgramCode: "VOL", Kind: "credit", Amount: decimal.RequireFromString("1000.00")}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("second post: %v", err)
	}
	h.creditNote(t, "2026-Q2", "AG-NORTH", "NEWP", "500.00")
	if b := h.creditBalance(t, "AG-NORTH"); b != "1500.00" {
		t.Fatalf("balance %s", b)
	}
	// AG-NORTH (grade C, 25% off): 400 × 134.40 = 53760.00 − 25% = 40320.00;
	// 1500.00 of credit notes offset it: payable 38820.00.
	o := h.submit(t, "demo-agent-north", "cn-1", lines("HY-01", 400))
	if o.Pricing.CreditOffset.StringFixed(2) != "1500.00" || o.Payable.StringFixed(2) != "38820.00" {
		t.Fatalf("offset %s payable %s", o.Pricing.CreditOffset, o.Payable)
	}
	if b := h.creditBalance(t, "AG-NORTH"); b != "0.00" {
		t.Fatalf("balance after use %s", b)
	}
	uses, err := q.ListOrderCreditUses(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) != 2 || uses[0].CreditNoteID != n1.ID || uses[0].Amount.StringFixed(2) != "1000.00" || uses[1].Amount.StringFixed(2) != "500.00" {
		t.Fatalf("uses %+v", uses)
	}
	// Another agent's notes are not AG-NORTH's, and a store has none.
	h.creditNote(t, "2026-Q2", "AG-EAST", "VOL", "200.00")
	o2 := h.submit(t, "demo-agent-north", "cn-2", lines("HY-01", 10))
	if !o2.Pricing.CreditOffset.IsZero() {
		t.Fatalf("offset %s from an empty balance", o2.Pricing.CreditOffset)
	}

	// The database refuses a use beyond the balance and any direct change.
	if _, err := h.pool.Exec(ctx, `INSERT INTO credit_note_uses (credit_note_id, order_id, amount) VALUES ($1, $2, 0.01)`, n1.ID, o2.ID); err == nil {
		t.Fatal("a use beyond the balance was accepted")
	}
	if _, err := h.pool.Exec(ctx, `UPDATE credit_notes SET remaining = amount WHERE id = $1`, n1.ID); err == nil {
		t.Fatal("a direct change of the balance was accepted")
	}
	if _, err := h.pool.Exec(ctx, `DELETE FROM credit_note_uses`); err == nil {
		t.Fatal("uses were deleted")
	}
	err = pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
		b := orders.Buyer{Kind: "agent", Code: "AG-NORTH", Agent: "AG-NORTH"}
		return orders.UseCredit(ctx, dbgen.New(tx), b, o2.ID, decimal.RequireFromString("0.01"))
	})
	if !errors.Is(err, orders.ErrCreditChanged) {
		t.Fatalf("UseCredit beyond the balance: %v", err)
	}

	// Concurrent orders against one 1000.00 note: 10 × 134.40 − 25% =
	// 1008.00 each; whichever locks the note first spends it, the others are
	// refused (409: priced with a balance that is gone) or priced without it.
	h.creditNote(t, "2026-Q3", "AG-NORTH", "VOL", "1000.00")
	var wg sync.WaitGroup
	results := make([]response, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.do("POST", "/v1/orders", "demo-agent-north", map[string]any{"lines": lines("HY-01", 10)},
				"Idempotency-Key", fmt.Sprintf("cn-race-%d", i))
		}()
	}
	wg.Wait()
	offsets := decimal.Zero
	for _, r := range results {
		switch r.status {
		case 202:
			var o api.Order
			r.json(t, &o)
			offsets = offsets.Add(o.Pricing.CreditOffset.Decimal)
		case 409:
			r.problem(t)
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	if offsets.StringFixed(2) != "1000.00" {
		t.Fatalf("orders offset %s in total from one 1000.00 note", offsets)
	}
	var used decimal.Decimal
	if err := h.pool.QueryRow(ctx, `SELECT sum(u.amount) FROM credit_note_uses u JOIN credit_notes n ON n.id = u.credit_note_id WHERE n.settlement_id = '2026-Q3'`).Scan(&used); err != nil {
		t.Fatal(err)
	}
	if used.StringFixed(2) != "1000.00" || h.creditBalance(t, "AG-NORTH") != "0.00" {
		t.Fatalf("used %s, balance %s", used, h.creditBalance(t, "AG-NORTH"))
	}

	// Cancelling the first order gives its 1500.00 back, once.
	h.do("POST", "/v1/orders/"+o.ID+"/cancel", "demo-agent-north", map[string]any{"reason": "ordered twice"}).expect(t, 200)
	h.waitOrder(t, "demo-agent-north", o.ID, func(o api.Order) bool { return o.Status == "cancelled" })
	if b := h.creditBalance(t, "AG-NORTH"); b != "1500.00" {
		t.Fatalf("balance after cancel %s", b)
	}
	if err := q.SetOrderStatus(ctx, dbgen.SetOrderStatusParams{ID: o.ID, Status: "cancelled", ClosedReason: "again"}); err != nil {
		t.Fatal(err)
	}
	if uses, _ := q.ListOrderCreditUses(ctx, o.ID); len(uses) != 4 || h.creditBalance(t, "AG-NORTH") != "1500.00" {
		t.Fatalf("uses after a repeated close %+v, balance %s", uses, h.creditBalance(t, "AG-NORTH"))
	}
}

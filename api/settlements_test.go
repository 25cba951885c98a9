package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/rebate"
	"github.com/alliance/backoffice/worker"
	"github.com/alliance/backoffice/workflows"
)

// user creates a user with a token, as `backoffice user` does.
func (h *harness) user(t *testing.T, name string, role auth.Role) {
	t.Helper()
	ctx := context.Background()
	q := dbgen.New(h.pool)
	u, err := q.UpsertUser(ctx, dbgen.UpsertUserParams{Name: name, Role: string(role)})
	if err != nil {
		t.Fatal(err)
	}
	if h.tokens[name], err = auth.IssueToken(ctx, q, u.ID, "test"); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) waitSettlement(t *testing.T, id, status string) api.Settlement {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var s api.Settlement
		r := h.do("GET", "/v1/settlements/"+id, finance, nil)
		if r.status == 200 {
			r.json(t, &s)
			if s.Status == status {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("settlement %s stuck: %d %s", id, r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// From delivered orders to a credit note consumed by the next order's price:
// a program through HTTP, an order delivered in 2026-Q3 with returns inside
// and outside the grace days, the final settlement started twice at once
// (run once), reviewed with an adjustment, approval refused for the user who
// started it, approved by another finance user, posted and published.
func TestSettlementFromDeliveredOrdersToCreditConsumedByNextOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.user(t, "finance-2", auth.RoleFinance)

	// Grade C (AG-NORTH): retroactive 1% from 0, 2% from 30,000.00.
	program := map[string]any{"code": "VOL", "name": "Volume rebate", "grade": "C", "effective_from": "2026-01-01",
		"mode": "retroactive", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}, {"from": "30000.00", "rate_pct": "2"}}}
	h.do("POST", "/v1/rebate-programs", agentEast, program).expect(t, 403).problem(t)
	bad := map[string]any{"code": "BAD", "name": "x", "grade": "C", "agent": "AG-EAST", "effective_from": "2026-01-01", "mode": "tiered",
		"tiers": []map[string]any{{"from": "1e400", "rate_pct": "1"}}}
	if p := h.do("POST", "/v1/rebate-programs", finance, bad).expect(t, 422).problem(t); len(p.Errors) < 3 {
		t.Fatalf("errors %+v", p.Errors)
	}
	var prog api.RebateProgram
	h.do("POST", "/v1/rebate-programs", finance, program).expect(t, 201).json(t, &prog)
	if prog.Version != 1 || prog.Rules.Mode != "retroactive" {
		t.Fatalf("program %+v", prog)
	}
	// A program for AG-EAST alone, which has no volume: a zero statement, no note.
	h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "EAST", "name": "East", "agent": "AG-EAST", "effective_from": "2026-01-01",
		"mode": "marginal", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}}}).expect(t, 201)

	// AG-NORTH: 400 × 134.40 − 25% = 40320.00, approved and delivered.
	o := h.submit(t, "demo-agent-north", "q3-1", lines("HY-01", 400))
	decide(h, t, hqSales, o.ID, map[string]any{"decision": "approve"}, 200)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", hqAdmin, map[string]any{"stage": "picking"}).expect(t, 200)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", hqAdmin, map[string]any{"stage": "shipped", "carrier": "SF Express", "tracking_number": "SF9"}).expect(t, 200)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", hqAdmin, map[string]any{"stage": "delivered"}).expect(t, 200)
	var deliveredAt *time.Time
	if err := h.pool.QueryRow(ctx, `SELECT delivered_at FROM orders WHERE id = $1`, o.ID).Scan(&deliveredAt); err != nil || deliveredAt == nil {
		t.Fatalf("delivered_at %v: %v", deliveredAt, err)
	}
	// As if it had been delivered in 2026-Q3 (China time), with a return
	// recorded within the 5 grace days and one after them.
	if _, err := h.pool.Exec(ctx, `UPDATE orders SET delivered_at = '2026-09-15 10:00+08' WHERE id = $1;`, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `INSERT INTO order_returns (order_id, amount, recorded_at) VALUES
		($1, 320.00, '2026-10-05 23:00+08'), ($1, 100.00, '2026-10-06 00:00+08')`, o.ID); err != nil {
		t.Fatal(err)
	}

	// Started twice at once: it runs once.
	var wg sync.WaitGroup
	results := make([]response, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.do("POST", "/v1/settlements", finance, map[string]any{"period": "2026-Q3", "kind": "final"})
		}()
	}
	wg.Wait()
	if results[0].status+results[1].status != 202+409 {
		t.Fatalf("two starts: %d %s / %d %s", results[0].status, results[0].body, results[1].status, results[1].body)
	}
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": "2026-Q4", "kind": "final"}).expect(t, 409).problem(t) // not ended
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": "2026-Q3", "kind": "correction"}).expect(t, 409).problem(t)
	h.do("POST", "/v1/settlements", hqAdmin, map[string]any{"period": "2026-Q3", "kind": "final"}).expect(t, 403).problem(t)

	s := h.waitSettlement(t, "2026-Q3", "review")
	if s.AgentsTotal != 2 || s.AgentsDone != 2 || s.Kind != "final" {
		t.Fatalf("in review %+v", s)
	}
	// 40320.00 − 320.00 (the return after the grace days does not count) =
	// 40000.00: tier 2, 2% retroactive = 800.00.
	var st api.AgentStatements
	h.do("GET", "/v1/settlements/2026-Q3/statements/AG-NORTH", finance, nil).expect(t, 200).json(t, &st)
	if len(st.Statements) != 1 {
		t.Fatalf("statements %+v", st)
	}
	vol := st.Statements[0]
	if vol.Volume.StringFixed(2) != "40000.00" || vol.Orders != 1 || vol.Returned.StringFixed(2) != "320.00" || vol.Returns != 1 ||
		vol.Tier != 2 || vol.Credit.StringFixed(2) != "800.00" || len(vol.Lines) != 1 || vol.Lines[0].Amount.StringFixed(2) != "800.00" {
		t.Fatalf("statement %+v", vol)
	}
	h.do("GET", "/v1/settlements/2026-Q3/statements/AG-NORTH", "demo-agent-north", nil).expect(t, 404).problem(t) // not published yet
	h.do("GET", "/v1/settlements/2026-Q3/statements/AG-NORTH", agentEast, nil).expect(t, 403).problem(t)

	// Review: an adjustment line, then approval by another finance user.
	h.do("POST", "/v1/settlements/2026-Q3/adjustments", finance, map[string]any{"agent": "AG-NORTH", "program": "VOL", "amount": "50.005", "reason": "x"}).expect(t, 422).problem(t)
	h.do("POST", "/v1/settlements/2026-Q3/adjustments", finance, map[string]any{"agent": "AG-NORTH", "program": "NOPE", "amount": "50.00", "reason": "x"}).expect(t, 422).problem(t)
	var adj struct {
		Statement struct {
			Total string `json:"total"`
		} `json:"statement"`
	}
	h.do("POST", "/v1/settlements/2026-Q3/adjustments", finance, map[string]any{"agent": "AG-NORTH", "program": "VOL", "amount": "50.00", "reason": "display fixtures"},
		"Idempotency-Key", "adj-1").expect(t, 200).json(t, &adj)
	if adj.Statement.Total != "850" {
		t.Fatalf("adjusted %+v", adj)
	}
	h.do("POST", "/v1/settlements/2026-Q3/approval", finance, nil).expect(t, 403).problem(t) // who started it
	h.do("POST", "/v1/settlements/2026-Q3/approval", "finance-2", nil).expect(t, 200)
	s = h.waitSettlement(t, "2026-Q3", "published")
	if s.TotalCredit.StringFixed(2) != "850.00" || s.Posted != 1 || s.ApprovedBy == nil {
		t.Fatalf("published %+v", s)
	}
	h.do("POST", "/v1/settlements/2026-Q3/approval", "finance-2", nil).expect(t, 409).problem(t)
	if err := h.tc.GetWorkflow(ctx, workflows.SettlementID("2026-Q3"), "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	recordHistory(t, h.tc, workflows.SettlementID("2026-Q3"), "settlement_final_adjusted_published.json")
	h.do("GET", "/v1/settlements/2026-Q3/statements/AG-NORTH", "demo-agent-north", nil).expect(t, 200).json(t, &st)
	if st.Statements[0].Total.StringFixed(2) != "850.00" || st.Statements[0].Lines[1].Rule != "adjustment" {
		t.Fatalf("published statement %+v", st.Statements[0])
	}
	csvBody := h.do("GET", "/v1/settlements/2026-Q3/export", finance, nil).expect(t, 200)
	if ct := csvBody.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("export content type %q", ct)
	}
	recs, err := csv.NewReader(bytes.NewReader(csvBody.body)).ReadAll()
	if err != nil || len(recs) != 3 || recs[2][1] != "AG-NORTH" || recs[2][8] != "40000.00" || recs[2][13] != "850.00" || recs[2][17] != "CN-2026-Q3-AG-NORTH-VOL" ||
		recs[1][1] != "AG-EAST" || recs[1][17] != "" {
		t.Fatalf("export %q: %v", recs, err)
	}
	h.do("GET", "/v1/settlements/2026-Q3/export", "demo-agent-north", nil).expect(t, 403).problem(t)
	notes, err := dbgen.New(h.pool).ListAgentCreditNotes(ctx, "AG-NORTH")
	if err != nil || len(notes) != 1 || notes[0].No != "CN-2026-Q3-AG-NORTH-VOL" || notes[0].Amount.StringFixed(2) != "850.00" {
		t.Fatalf("credit notes %+v: %v", notes, err)
	}

	// The next order's price offsets the credit: 10 × 134.40 − 25% = 1008.00 − 850.00 = 158.00.
	next := h.submit(t, "demo-agent-north", "q4-1", lines("HY-01", 10))
	if next.Pricing.CreditOffset.StringFixed(2) != "850.00" || next.Payable.StringFixed(2) != "158.00" {
		t.Fatalf("next order offset %s payable %s", next.Pricing.CreditOffset, next.Payable)
	}
	if b := h.creditBalance(t, "AG-NORTH"); b != "0.00" {
		t.Fatalf("balance %s", b)
	}
}

// The quarterly schedule is created once; triggered (twice), it starts the
// last quarter's final settlement once, and finance cannot start it again.
func TestSettlementScheduleSettlesAQuarterOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	for range 2 {
		if err := worker.EnsureSettlementSchedule(ctx, h.tc); err != nil {
			t.Fatal(err)
		}
	}
	sched := h.tc.ScheduleClient().GetHandle(ctx, workflows.SettlementScheduleID)
	d, err := sched.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); !ok || a.Workflow != "SettlementTrigger" {
		t.Fatalf("schedule action %+v", d.Schedule.Action)
	}
	period := rebate.PeriodOf(time.Now().In(activities.SettlementLocation)).Prev().Key()
	for i := range 2 {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond) // a scheduled run's ID ends with its time, to the second
		}
		if err := sched.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
			t.Fatal(err)
		}
	}
	s := h.waitSettlement(t, period, "review")
	if s.StartedBy != nil || s.Kind != "final" {
		t.Fatalf("scheduled settlement %+v", s)
	}
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": period, "kind": "final"}).expect(t, 409).problem(t)
	// Both triggers ran; one settlement workflow exists.
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := h.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `WorkflowType = "SettlementTrigger" AND ExecutionStatus = "Completed"`})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Executions) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d triggers completed", len(res.Executions))
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := h.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `WorkflowType = "Settlement"`})
	if err != nil || len(res.Executions) != 1 {
		t.Fatalf("settlement workflows %d: %v", len(res.Executions), err)
	}
	// Finance approves it (any finance user: the schedule started it).
	h.do("POST", "/v1/settlements/"+period+"/approval", finance, nil).expect(t, 200)
	h.waitSettlement(t, period, "published")
}

// settle runs a settlement through review to published, approved by finance-2.
func (h *harness) settle(t *testing.T, period, kind, id string) api.Settlement {
	t.Helper()
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": period, "kind": kind}).expect(t, 202)
	h.waitSettlement(t, id, "review")
	h.do("POST", "/v1/settlements/"+id+"/approval", "finance-2", nil).expect(t, 200)
	return h.waitSettlement(t, id, "published")
}

func (h *harness) statement(t *testing.T, id, agent string) api.Statement {
	t.Helper()
	var st api.AgentStatements
	h.do("GET", "/v1/settlements/"+id+"/statements/"+agent, finance, nil).expect(t, 200).json(t, &st)
	return st.Statements[0]
}

// An interim pays what was earned; returns after it make the final negative:
// a debit note, nothing paid; a correction after the final gives only the
// delta.
func TestSettlementInterimFinalDebitThenCorrectionDelta(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.user(t, "finance-2", auth.RoleFinance)
	h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "VOL", "name": "Volume rebate", "grade": "C", "effective_from": "2026-01-01",
		"mode": "retroactive", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}, {"from": "30000.00", "rate_pct": "2"}}}).expect(t, 201)
	// 40320.00 delivered in Q3: 2% = 806.40.
	o := h.submit(t, "demo-agent-north", "q3-a", lines("HY-01", 400))
	if _, err := h.pool.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = '2026-08-10 10:00+08' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	s := h.settle(t, "2026-Q3", "interim", "2026-Q3-interim-1")
	if s.TotalCredit.StringFixed(2) != "806.40" {
		t.Fatalf("interim %+v", s)
	}
	// Returns of 10320.00 within the grace days: 30000.00 at 2% = 600.00,
	// 206.40 less than the interim paid: the final pays nothing and records
	// a debit note of 206.40.
	if _, err := h.pool.Exec(ctx, `INSERT INTO order_returns (order_id, amount, recorded_at) VALUES ($1, 10320.00, '2026-10-02 09:00+08')`, o.ID); err != nil {
		t.Fatal(err)
	}
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": "2026-Q3", "kind": "correction"}).expect(t, 409).problem(t) // no final yet
	s = h.settle(t, "2026-Q3", "final", "2026-Q3")
	if st := h.statement(t, "2026-Q3", "AG-NORTH"); st.Total.StringFixed(2) != "600.00" || st.PaidBefore.StringFixed(2) != "806.40" ||
		!st.Credit.IsZero() || st.Debit.StringFixed(2) != "206.40" {
		t.Fatalf("final statement %+v", st)
	}
	if !s.TotalCredit.IsZero() || s.TotalDebit.StringFixed(2) != "206.40" {
		t.Fatalf("final %+v", s)
	}
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": "2026-Q3", "kind": "interim"}).expect(t, 409).problem(t) // after the final
	if err := h.tc.GetWorkflow(ctx, workflows.SettlementID("2026-Q3"), "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	recordHistory(t, h.tc, workflows.SettlementID("2026-Q3"), "settlement_final_debit.json")
	// A late-booked order of 1008.00 delivered in Q3: 31008.00 at 2% =
	// 620.16; already settled 806.40 − 206.40 = 600.00: a correction of 20.16.
	o2 := h.submit(t, "demo-agent-north", "q3-b", lines("HY-01", 10))
	if _, err := h.pool.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = '2026-09-30 23:00+08' WHERE id = $1`, o2.ID); err != nil {
		t.Fatal(err)
	}
	s = h.settle(t, "2026-Q3", "correction", "2026-Q3-correction-1")
	if st := h.statement(t, "2026-Q3-correction-1", "AG-NORTH"); st.Total.StringFixed(2) != "620.16" || st.PaidBefore.StringFixed(2) != "600.00" ||
		st.Credit.StringFixed(2) != "20.16" {
		t.Fatalf("correction statement %+v", st)
	}
	if s.TotalCredit.StringFixed(2) != "20.16" {
		t.Fatalf("correction %+v", s)
	}
	notes, err := dbgen.New(h.pool).ListAgentCreditNotes(ctx, "AG-NORTH")
	if err != nil || len(notes) != 3 || notes[1].Kind != "debit" || !notes[1].Remaining.IsZero() {
		t.Fatalf("notes %+v: %v", notes, err)
	}
}

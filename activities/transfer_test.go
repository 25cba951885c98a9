package activities_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
)

// trFixture is a seeded database with transfers recorded as the API records
// them, and an activity environment over it.
type trFixture struct {
	t    *testing.T
	pool *pgxpool.Pool
	q    *dbgen.Queries
	env  *testsuite.TestActivityEnvironment
	a    *activities.Transfers
}

func newTrFixture(t *testing.T) *trFixture {
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	f := &trFixture{t: t, pool: pool, q: dbgen.New(pool), env: s.NewTestActivityEnvironment(), a: &activities.Transfers{}}
	f.env.RegisterActivity(&activities.Transfers{Pool: pool})
	return f
}

// record records transfer key from WH-SOUTH to WH-EAST.
func (f *trFixture) record(key string, lines []activities.TransferLine) {
	ctx := context.Background()
	u, err := f.q.GetUserByName(ctx, "demo-agent-east")
	if err != nil {
		f.t.Fatal(err)
	}
	south, east := "AG-SOUTH", "AG-EAST"
	if _, err := f.q.CreateTransfer(ctx, dbgen.CreateTransferParams{
		Key: key, SourceCode: "WH-SOUTH", DestinationCode: "WH-EAST", SourceAgentCode: &south, DestinationAgentCode: &east,
		Region: "SOUTH", Reason: "test", WantedBy: time.Now().AddDate(0, 0, 3), CreatedBy: u.ID,
	}); err != nil {
		f.t.Fatal(err)
	}
	for i, l := range lines {
		if err := f.q.InsertTransferLine(ctx, dbgen.InsertTransferLineParams{TransferKey: key, LineNo: int32(i + 1), Sku: l.SKU, RequestedQty: l.Qty}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// twice runs an activity twice, as Temporal does when a worker dies after
// the activity committed but before it reported, and returns both results.
func (f *trFixture) twice(fn any, arg any) [2]activities.StepResult {
	f.t.Helper()
	var out [2]activities.StepResult
	for i := range out {
		v, err := f.env.ExecuteActivity(fn, arg)
		if err != nil {
			f.t.Fatalf("run %d: %v", i+1, err)
		}
		if v.HasValue() {
			if err := v.Get(&out[i]); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	return out
}

// wantPostedOnce checks the first run posted movements and the second
// replayed.
func (f *trFixture) wantPostedOnce(step string, r [2]activities.StepResult, movements int) {
	f.t.Helper()
	if r[0].Replayed || r[0].Movements != movements || !r[1].Replayed || r[1].Movements != movements {
		f.t.Fatalf("%s: %+v, want %d movements posted then replayed", step, r, movements)
	}
}

func (f *trFixture) balance(wh, sku string) dbgen.InventoryBalance {
	f.t.Helper()
	b, err := f.q.GetBalance(context.Background(), dbgen.GetBalanceParams{WarehouseCode: wh, Sku: sku})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *trFixture) status(key string) string {
	f.t.Helper()
	tr, err := f.q.GetTransfer(context.Background(), key)
	if err != nil {
		f.t.Fatal(err)
	}
	return tr.Status
}

func (f *trFixture) steps(key string) []string {
	f.t.Helper()
	events, err := f.q.ListTransferEvents(context.Background(), key)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, e.Step)
	}
	return out
}

func (f *trFixture) ledgerMatches() {
	f.t.Helper()
	bad, err := f.q.LedgerMismatches(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if len(bad) > 0 {
		f.t.Fatalf("balances differ from the ledger: %+v", bad)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTransferActivitiesAreIdempotent runs every step of a transfer twice:
// each posts to the ledger once, moves the status once and records its
// timeline event once.
func TestTransferActivitiesAreIdempotent(t *testing.T) {
	t.Parallel()
	f := newTrFixture(t)
	lines := []activities.TransferLine{{SKU: "HY-01", Qty: 10}, {SKU: "RD-02", Qty: 4}}
	f.record("TR-A", lines)
	srcHY, srcRD, dstHY := f.balance("WH-SOUTH", "HY-01"), f.balance("WH-SOUTH", "RD-02"), f.balance("WH-EAST", "HY-01")
	agent := activities.Actor{ID: "user:5", Name: "demo-agent-south", Role: "agent", Agent: "AG-SOUTH"}
	receiver := activities.Actor{ID: "user:4", Name: "demo-agent-east", Role: "agent", Agent: "AG-EAST"}

	f.wantPostedOnce("reserve", f.twice(f.a.TransferReserve, activities.TransferReserveInput{Key: "TR-A", Source: "WH-SOUTH", Lines: lines}), 2)
	if b := f.balance("WH-SOUTH", "HY-01"); b.Reserved != srcHY.Reserved+10 || f.status("TR-A") != activities.TransferAwaitingApproval {
		t.Fatalf("after reserve: %+v, %s", b, f.status("TR-A"))
	}
	f.twice(f.a.TransferRemind, "TR-A")
	f.twice(f.a.TransferEscalate, "TR-A")

	approved := []activities.TransferLine{{SKU: "HY-01", Qty: 6}, {SKU: "RD-02", Qty: 4}}
	f.wantPostedOnce("approve", f.twice(f.a.TransferApprove, activities.TransferApproveInput{
		Key: "TR-A", Source: "WH-SOUTH", Actor: agent, Requested: lines, Approved: approved, Note: "6 only",
	}), 1)
	if b := f.balance("WH-SOUTH", "HY-01"); b.Reserved != srcHY.Reserved+6 {
		t.Fatalf("after approve: reserved %d, want %d", b.Reserved, srcHY.Reserved+6)
	}
	f.wantPostedOnce("dispatch", f.twice(f.a.TransferDispatch, activities.TransferDispatchInput{
		Key: "TR-A", Source: "WH-SOUTH", Destination: "WH-EAST", Lines: approved,
	}), 4)
	if b := f.balance("WH-EAST", "HY-01"); b.InTransit != dstHY.InTransit+6 || f.status("TR-A") != activities.TransferInTransit {
		t.Fatalf("after dispatch: %+v, %s", b, f.status("TR-A"))
	}
	f.wantPostedOnce("receive", f.twice(f.a.TransferReceive, activities.TransferReceiveInput{
		Key: "TR-A", Destination: "WH-EAST", Actor: receiver, Lines: []activities.ReceivedLine{
			{SKU: "HY-01", Dispatched: 6, Received: 5, Reason: "one broken"}, {SKU: "RD-02", Dispatched: 4, Received: 4},
		},
	}), 3) // two arrivals, one write-off
	if f.status("TR-A") != activities.TransferReceived {
		t.Fatalf("status %s", f.status("TR-A"))
	}
	if b := f.balance("WH-SOUTH", "HY-01"); b.OnHand != srcHY.OnHand-6 || b.Reserved != srcHY.Reserved {
		t.Fatalf("source HY-01 %+v, want on hand %d, reserved %d", b, srcHY.OnHand-6, srcHY.Reserved)
	}
	if b := f.balance("WH-SOUTH", "RD-02"); b.OnHand != srcRD.OnHand-4 || b.Reserved != srcRD.Reserved {
		t.Fatalf("source RD-02 %+v", b)
	}
	if b := f.balance("WH-EAST", "HY-01"); b.OnHand != dstHY.OnHand+5 || b.InTransit != dstHY.InTransit {
		t.Fatalf("destination HY-01 %+v, want on hand %d, in transit %d", b, dstHY.OnHand+5, dstHY.InTransit)
	}
	want := []string{"reserve", "remind", "escalate", "approve", "release-unapproved", "dispatch", "receive", "shortfall"}
	if got := f.steps("TR-A"); !equalStrings(got, want) {
		t.Fatalf("timeline steps %v, want %v", got, want)
	}
	lns, err := f.q.ListTransferLines(context.Background(), "TR-A")
	if err != nil {
		t.Fatal(err)
	}
	if l := lns[0]; *l.ApprovedQty != 6 || *l.DispatchedQty != 6 || *l.ReceivedQty != 5 || *l.ShortfallQty != 1 || l.DiscrepancyReason != "one broken" {
		t.Fatalf("line %+v", l)
	}
	// A received transfer cannot be closed as rejected: refused for good.
	_, err = f.env.ExecuteActivity(f.a.TransferClose, activities.TransferCloseInput{Key: "TR-A", Status: activities.TransferRejected, Reason: "late", Actor: agent})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != activities.ErrTypeTransferState {
		t.Fatalf("close a received transfer: %v", err)
	}
	f.ledgerMatches()
}

// TestTransferCompensationIsIdempotent releases a reservation and closes the
// transfer twice each: released once, closed once.
func TestTransferCompensationIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newTrFixture(t)
	lines := []activities.TransferLine{{SKU: "HY-02", Qty: 7}}
	f.record("TR-B", lines)
	before := f.balance("WH-SOUTH", "HY-02")
	f.twice(f.a.TransferReserve, activities.TransferReserveInput{Key: "TR-B", Source: "WH-SOUTH", Lines: lines})
	f.wantPostedOnce("release", f.twice(f.a.TransferRelease, activities.TransferReleaseInput{Key: "TR-B", Source: "WH-SOUTH", Lines: lines, Why: "expired"}), 1)
	closeIn := activities.TransferCloseInput{Key: "TR-B", Status: activities.TransferExpired, Reason: "no decision within 48h", Actor: activities.SystemActor}
	for range 2 {
		if _, err := f.env.ExecuteActivity(f.a.TransferClose, closeIn); err != nil {
			t.Fatal(err)
		}
	}
	if b := f.balance("WH-SOUTH", "HY-02"); b.Reserved != before.Reserved || b.OnHand != before.OnHand {
		t.Fatalf("after release: %+v, want %+v", b, before)
	}
	if f.status("TR-B") != activities.TransferExpired {
		t.Fatalf("status %s", f.status("TR-B"))
	}
	if got := f.steps("TR-B"); !equalStrings(got, []string{"reserve", "release", "close"}) {
		t.Fatalf("timeline steps %v", got)
	}
	// Reserving more than is available is refused for good, writing nothing.
	f.record("TR-C", []activities.TransferLine{{SKU: "HY-02", Qty: 1_000_000}})
	_, err := f.env.ExecuteActivity(f.a.TransferReserve, activities.TransferReserveInput{Key: "TR-C", Source: "WH-SOUTH", Lines: []activities.TransferLine{{SKU: "HY-02", Qty: 1_000_000}}})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != activities.ErrTypeStockRefused {
		t.Fatalf("over-reservation: %v", err)
	}
	if f.status("TR-C") != activities.TransferRequested || len(f.steps("TR-C")) != 0 {
		t.Fatalf("a refused reservation changed the transfer: %s %v", f.status("TR-C"), f.steps("TR-C"))
	}
	f.ledgerMatches()
}

// TestTransferReceiptDeadlineActivities: the receipt reminder and escalation
// apply to a transfer in transit only, each once however often it runs; a
// receipt reported by HQ on the destination's behalf records who and for
// whom.
func TestTransferReceiptDeadlineActivities(t *testing.T) {
	t.Parallel()
	f := newTrFixture(t)
	ctx := context.Background()
	lines := []activities.TransferLine{{SKU: "HY-03", Qty: 3}}
	f.record("TR-D", lines)
	f.twice(f.a.TransferReserve, activities.TransferReserveInput{Key: "TR-D", Source: "WH-SOUTH", Lines: lines})
	// Not in transit yet: refused for good, nothing recorded.
	for _, fn := range []any{f.a.TransferReceiptRemind, f.a.TransferReceiptEscalate} {
		_, err := f.env.ExecuteActivity(fn, "TR-D")
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != activities.ErrTypeTransferState {
			t.Fatalf("receipt deadline before dispatch: %v", err)
		}
	}
	agent := activities.Actor{ID: "user:5", Name: "demo-agent-south", Role: "agent", Agent: "AG-SOUTH"}
	f.twice(f.a.TransferApprove, activities.TransferApproveInput{Key: "TR-D", Source: "WH-SOUTH", Actor: agent, Requested: lines, Approved: lines})
	f.twice(f.a.TransferDispatch, activities.TransferDispatchInput{Key: "TR-D", Source: "WH-SOUTH", Destination: "WH-EAST", Lines: lines})

	f.twice(f.a.TransferReceiptRemind, "TR-D")
	tr, err := f.q.GetTransfer(ctx, "TR-D")
	if err != nil {
		t.Fatal(err)
	}
	if tr.ReceiptRemindedAt == nil || tr.ReceiptEscalatedAt != nil || tr.Status != activities.TransferInTransit {
		t.Fatalf("after the receipt reminder: %+v", tr)
	}
	remindedAt := *tr.ReceiptRemindedAt
	f.twice(f.a.TransferReceiptEscalate, "TR-D")
	if tr, err = f.q.GetTransfer(ctx, "TR-D"); err != nil {
		t.Fatal(err)
	}
	if tr.ReceiptEscalatedAt == nil || !tr.ReceiptRemindedAt.Equal(remindedAt) {
		t.Fatalf("after the receipt escalation: %+v", tr)
	}

	sales := activities.Actor{ID: "user:2", Name: "demo-hq-sales", Role: "hq_sales"}
	f.wantPostedOnce("receive", f.twice(f.a.TransferReceive, activities.TransferReceiveInput{
		Key: "TR-D", Destination: "WH-EAST", Actor: sales, OnBehalfOf: "AG-EAST",
		Lines: []activities.ReceivedLine{{SKU: "HY-03", Dispatched: 3, Received: 3}},
	}), 1)
	want := []string{"reserve", "approve", "dispatch", "receipt-remind", "receipt-escalate", "receive"}
	if got := f.steps("TR-D"); !equalStrings(got, want) {
		t.Fatalf("timeline steps %v, want %v", got, want)
	}
	events, err := f.q.ListTransferEvents(ctx, "TR-D")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]dbgen.TransferEvent{}
	for _, e := range events {
		kinds[e.Kind] = e
	}
	if e := kinds["receipt_reminded"]; e.Actor != "system" {
		t.Fatalf("receipt reminder event %+v", e)
	}
	if e := kinds["receipt_escalated"]; e.Actor != "system" || !strings.Contains(string(e.Detail), `"hq_sales"`) {
		t.Fatalf("receipt escalation event %+v (%s)", e, e.Detail)
	}
	if e := kinds["received"]; e.Actor != "user:2" || e.ActorName != "demo-hq-sales" || !strings.Contains(string(e.Detail), `"on_behalf_of": "AG-EAST"`) {
		t.Fatalf("received event %+v (%s)", e, e.Detail)
	}
	// Received: no more reminders.
	_, err = f.env.ExecuteActivity(f.a.TransferReceiptRemind, "TR-D")
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Fatalf("receipt reminder after the receipt: %v", err)
	}
	f.ledgerMatches()
}

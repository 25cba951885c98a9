package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/inventory"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
	"github.com/alliance/backoffice/worker"
	"github.com/alliance/backoffice/workflows"
)

// newTransferHarness is newHarness with the API's transfer timeouts set and,
// when startWorker is false, no worker (the test runs its own).
func newTransferHarness(t *testing.T, timeouts workflows.TransferTimeouts, startWorker bool) *harness {
	t.Helper()
	pool, _ := testenv.DB(t)
	tc, _ := testenv.Temporal(t)
	if err := seed.Seed(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, pool: pool, tc: tc, tokens: map[string]string{}}
	h.issueTokens()
	if startWorker {
		w := worker.New(tc, pool, sdkworker.Options{})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
	h.serve(api.Deps{Pool: pool, Temporal: tc, TransferTimeouts: timeouts})
	return h
}

func trBody(src, dst string, kv ...any) map[string]any {
	var ls []map[string]any
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, map[string]any{"sku": kv[i], "qty": kv[i+1]})
	}
	return map[string]any{"source": src, "destination": dst, "lines": ls, "reason": "Singles' Day pre-sale", "wanted_by": time.Now().AddDate(0, 0, 7).Format(time.DateOnly)}
}

// trRequest requests a transfer and waits until its reservation is decided.
func (h *harness) trRequest(t *testing.T, user, key string, body map[string]any) api.Transfer {
	t.Helper()
	var tr api.Transfer
	r := h.do("POST", "/v1/transfers", user, body, "Idempotency-Key", key).expect(t, 202)
	r.json(t, &tr)
	if tr.Status != workflows.TransferRequested || tr.WorkflowID != "transfer:"+key || r.header.Get("Location") != "/v1/transfers/"+key {
		t.Fatalf("requested transfer %+v, Location %q", tr.TransferSummary, r.header.Get("Location"))
	}
	return h.trWait(t, user, key, func(tr api.Transfer) bool { return tr.Status != workflows.TransferRequested })
}

// trWait polls the transfer until done says so.
func (h *harness) trWait(t *testing.T, user, key string, done func(api.Transfer) bool) api.Transfer {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var tr api.Transfer
		h.do("GET", "/v1/transfers/"+key, user, nil).expect(t, 200).json(t, &tr)
		if done(tr) {
			return tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("transfer %s: still %+v", key, tr.TransferSummary)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// trPostings returns the kinds of the ledger postings of a transfer, by
// step, with their movement counts.
func (h *harness) trPostings(t *testing.T, key string) map[string]string {
	t.Helper()
	rows, err := h.pool.Query(context.Background(), `
		SELECT p.key, p.kind, count(m.id) FROM inventory_postings p JOIN inventory_movements m ON m.posting_key = p.key
		WHERE p.key LIKE $1 GROUP BY p.key, p.kind`, "transfer:"+key+":%")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, kind string
		var n int
		if err := rows.Scan(&k, &kind, &n); err != nil {
			t.Fatal(err)
		}
		out[k[len("transfer:"+key+":"):]] = fmt.Sprintf("%s/%d", kind, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func trKinds(tr api.Transfer) []string {
	var out []string
	for _, e := range tr.Timeline {
		out = append(out, e.Kind)
	}
	return out
}

func trFields(p api.Problem) []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// trListed returns the keys of a transfer list.
func (h *harness) trListed(t *testing.T, user, query string) []string {
	t.Helper()
	var l api.List[api.TransferListItem]
	h.do("GET", "/v1/transfers"+query, user, nil).expect(t, 200).json(t, &l)
	var out []string
	for _, x := range l.Items {
		out = append(out, x.Key)
	}
	return out
}

type stock struct{ onHand, reserved, inTransit int64 }

func (h *harness) trStock(t *testing.T, wh, sku string) stock {
	t.Helper()
	b := h.balance(t, wh, sku)
	return stock{b.OnHand, b.Reserved, b.InTransit}
}

func (s stock) plus(onHand, reserved, inTransit int64) stock {
	return stock{s.onHand + onHand, s.reserved + reserved, s.inTransit + inTransit}
}

func (h *harness) trWantStock(t *testing.T, wh, sku string, want stock) {
	t.Helper()
	if got := h.trStock(t, wh, sku); got != want {
		t.Fatalf("%s %s: %+v, want %+v", wh, sku, got, want)
	}
}

// TestTransferPartialApprovalAndShortReceipt walks a transfer through HTTP:
// AG-EAST borrows from AG-SOUTH's warehouse; AG-SOUTH approves less than
// asked; AG-EAST receives less than dispatched. Balances and the ledger are
// checked after every step.
func TestTransferPartialApprovalAndShortReceipt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const key = "TR-E2E-1"
	srcHY, srcRD := h.trStock(t, "WH-SOUTH", "HY-01"), h.trStock(t, "WH-SOUTH", "RD-02")
	dstHY, dstRD := h.trStock(t, "WH-EAST", "HY-01"), h.trStock(t, "WH-EAST", "RD-02")

	tr := h.trRequest(t, agentEast, key, trBody("WH-SOUTH", "WH-EAST", "HY-01", 10, "RD-02", 4))
	if tr.Status != workflows.TransferAwaitingApproval || tr.Approver != "agent:AG-SOUTH" || *tr.SourceAgent != "AG-SOUTH" || tr.Region != "SOUTH" {
		t.Fatalf("after reservation: %+v", tr.TransferSummary)
	}
	// Reserved at the source: the units can be sold or promised nowhere else.
	h.trWantStock(t, "WH-SOUTH", "HY-01", srcHY.plus(0, 10, 0))
	h.trWantStock(t, "WH-SOUTH", "RD-02", srcRD.plus(0, 4, 0))
	h.ledgerMatches(t)

	// What waits for whom.
	if got := h.trListed(t, agentSouth, "?awaiting=me"); !slices.Equal(got, []string{key}) {
		t.Fatalf("AG-SOUTH awaiting: %v", got)
	}
	for _, u := range []string{agentEast, hqSales} {
		if got := h.trListed(t, u, "?awaiting=me"); len(got) != 0 {
			t.Fatalf("%s awaiting: %v", u, got)
		}
	}
	if got := h.trListed(t, agentEast, "?status=awaiting_approval&warehouse=WH-EAST"); !slices.Equal(got, []string{key}) {
		t.Fatalf("AG-EAST list: %v", got)
	}
	h.do("GET", "/v1/transfers/"+key, "demo-agent-north", nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/transfers/"+key, storeUser, nil).expect(t, 403).problem(t)
	if got := h.trListed(t, "demo-agent-north", ""); len(got) != 0 {
		t.Fatalf("AG-NORTH sees %v", got)
	}

	// Only AG-SOUTH decides; the requester and (before escalation) HQ may not.
	approve := map[string]any{"decision": "approve", "reason": "keep 4 for our stores", "lines": []map[string]any{{"sku": "HY-01", "approved_qty": 6}}}
	h.do("POST", "/v1/transfers/"+key+"/decision", agentEast, approve).expect(t, 403).problem(t)
	h.do("POST", "/v1/transfers/"+key+"/decision", hqSales, approve).expect(t, 403).problem(t)
	p := h.do("POST", "/v1/transfers/"+key+"/decision", agentSouth, map[string]any{"decision": "approve", "lines": []map[string]any{{"sku": "HY-01", "approved_qty": 11}}}).expect(t, 422).problem(t)
	if !slices.Equal(trFields(p), []string{"lines[0].approved_qty"}) {
		t.Fatalf("over-approval: %+v", p.Errors)
	}
	p = h.do("POST", "/v1/transfers/"+key+"/decision", agentSouth, map[string]any{"decision": "reject"}).expect(t, 422).problem(t)
	if !slices.Equal(trFields(p), []string{"reason"}) {
		t.Fatalf("reject without reason: %+v", p.Errors)
	}
	h.trWantStock(t, "WH-SOUTH", "HY-01", srcHY.plus(0, 10, 0)) // refusals changed nothing

	h.do("POST", "/v1/transfers/"+key+"/decision", agentSouth, approve, "Idempotency-Key", "dec-1").expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferInTransit || tr.DecidedBy != "demo-agent-south" || tr.DecisionNote != "keep 4 for our stores" {
		t.Fatalf("after approval: %+v", tr.TransferSummary)
	}
	// 4 HY-01 released at once; 6 HY-01 and 4 RD-02 left the source and are
	// in transit to the destination, sellable nowhere.
	h.trWantStock(t, "WH-SOUTH", "HY-01", srcHY.plus(-6, 0, 0))
	h.trWantStock(t, "WH-SOUTH", "RD-02", srcRD.plus(-4, 0, 0))
	h.trWantStock(t, "WH-EAST", "HY-01", dstHY.plus(0, 0, 6))
	h.trWantStock(t, "WH-EAST", "RD-02", dstRD.plus(0, 0, 4))
	h.ledgerMatches(t)
	// The same decision again (same key) is the same update: applied once.
	h.do("POST", "/v1/transfers/"+key+"/decision", agentSouth, approve, "Idempotency-Key", "dec-1").expect(t, 200)
	h.do("POST", "/v1/transfers/"+key+"/decision", agentSouth, approve, "Idempotency-Key", "dec-2").expect(t, 409).problem(t)
	h.do("POST", "/v1/transfers/"+key+"/cancel", agentEast, map[string]any{"reason": "too late"}).expect(t, 409).problem(t)

	// The receipt: only AG-EAST; no overage; a shortfall needs a reason.
	receipt := func(hy int64, reason string) map[string]any {
		l := map[string]any{"sku": "HY-01", "received_qty": hy}
		if reason != "" {
			l["reason"] = reason
		}
		return map[string]any{"lines": []map[string]any{l, {"sku": "RD-02", "received_qty": 4}}}
	}
	h.do("POST", "/v1/transfers/"+key+"/receipt", agentSouth, receipt(6, "")).expect(t, 403).problem(t)
	p = h.do("POST", "/v1/transfers/"+key+"/receipt", agentEast, receipt(7, "")).expect(t, 422).problem(t)
	if !slices.Equal(trFields(p), []string{"lines[0].received_qty"}) {
		t.Fatalf("overage: %+v", p.Errors)
	}
	p = h.do("POST", "/v1/transfers/"+key+"/receipt", agentEast, receipt(5, "")).expect(t, 422).problem(t)
	if !slices.Equal(trFields(p), []string{"lines[0].reason"}) {
		t.Fatalf("shortfall without reason: %+v", p.Errors)
	}
	h.do("POST", "/v1/transfers/"+key+"/receipt", agentEast, receipt(5, "one carton crushed"), "Idempotency-Key", "rcv-1").expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferReceived || tr.ClosedAt == nil {
		t.Fatalf("after receipt: %+v", tr.TransferSummary)
	}
	hy := tr.Lines[0]
	if hy.SKU != "HY-01" || hy.RequestedQty != 10 || *hy.ApprovedQty != 6 || *hy.DispatchedQty != 6 || *hy.ReceivedQty != 5 || *hy.ShortfallQty != 1 || hy.DiscrepancyReason != "one carton crushed" {
		t.Fatalf("HY-01 line: %+v", hy)
	}
	// Received units are on hand at the destination; the missing one left
	// in transit by a write-off of its own.
	h.trWantStock(t, "WH-EAST", "HY-01", dstHY.plus(5, 0, 0))
	h.trWantStock(t, "WH-EAST", "RD-02", dstRD.plus(4, 0, 0))
	h.trWantStock(t, "WH-SOUTH", "HY-01", srcHY.plus(-6, 0, 0))
	h.ledgerMatches(t)
	want := map[string]string{
		"reserve": "reserve/2", "release-unapproved": "release/1", "dispatch": "move/4",
		"receive": "arrive/2", "shortfall": "write_off/1",
	}
	if got := h.trPostings(t, key); !equalMaps(got, want) {
		t.Fatalf("ledger postings %v, want %v", got, want)
	}
	wantKinds := []string{"requested", "reserved", "approved", "released", "dispatched", "received", "discrepancy"}
	if got := trKinds(tr); !slices.Equal(got, wantKinds) {
		t.Fatalf("timeline %v, want %v", got, wantKinds)
	}
	if d := tr.Timeline[len(tr.Timeline)-1]; d.ActorName != agentEast || !bytes.Contains(d.Detail, []byte("one carton crushed")) {
		t.Fatalf("discrepancy event %+v (%s)", d, d.Detail)
	}
	// The workflow has closed: the same receipt (same key) answers like the
	// first time; another one is a conflict.
	h.do("POST", "/v1/transfers/"+key+"/receipt", agentEast, receipt(5, "one carton crushed"), "Idempotency-Key", "rcv-1").expect(t, 200)
	h.do("POST", "/v1/transfers/"+key+"/receipt", agentEast, receipt(5, "one carton crushed")).expect(t, 409).problem(t)
	h.ledgerMatches(t)

	trFindInTemporal(t, h, `BoEntity = "transfer" AND BoKey = "TR-E2E-1" AND BoStatus = "received" AND BoAgent = "AG-SOUTH" AND BoRegion = "SOUTH"`)
	recordHistory(t, h.tc, workflows.TransferID(key), "transfer_partial_short_receipt.json")
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// trFindInTemporal waits until exactly one workflow matches the visibility query.
func trFindInTemporal(t *testing.T, h *harness, query string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res, err := h.tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Executions) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no workflow found by %s", query)
		}
	}
}

// TestTransferAgentCannotApproveAnotherAgentsWarehouse: AG-EAST may see a
// transfer out of AG-SOUTH's warehouse into its own, but not decide on it.
func TestTransferAgentCannotApproveAnotherAgentsWarehouse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.trStock(t, "WH-SOUTH", "HY-03")
	h.trRequest(t, hqSales, "TR-403", trBody("WH-SOUTH", "WH-EAST-FRONT", "HY-03", 3))
	for _, d := range []map[string]any{{"decision": "approve"}, {"decision": "reject", "reason": "no"}} {
		p := h.do("POST", "/v1/transfers/TR-403/decision", agentEast, d).expect(t, 403).problem(t)
		if p.Detail == "" {
			t.Fatal("403 without a reason")
		}
	}
	h.do("POST", "/v1/transfers/TR-403/decision", "demo-agent-north", map[string]any{"decision": "approve"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/transfers/TR-403/decision", storeUser, map[string]any{"decision": "approve"}).expect(t, 403).problem(t)
	tr := h.trWait(t, agentSouth, "TR-403", func(api.Transfer) bool { return true })
	if tr.Status != workflows.TransferAwaitingApproval || tr.DecidedAt != nil {
		t.Fatalf("after refused decisions: %+v", tr.TransferSummary)
	}
	h.trWantStock(t, "WH-SOUTH", "HY-03", before.plus(0, 3, 0))
	// The owner may.
	h.do("POST", "/v1/transfers/TR-403/decision", agentSouth, map[string]any{"decision": "reject", "reason": "needed here"}).expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferRejected || tr.Failure != "needed here" || tr.DecidedBy != "demo-agent-south" {
		t.Fatalf("after rejection: %+v", tr.TransferSummary)
	}
	h.trWantStock(t, "WH-SOUTH", "HY-03", before)
	h.ledgerMatches(t)
}

// TestTransferRejectAndCancelReleaseTheReservation: HQ rejects a transfer out
// of its central warehouse; an agent cancels its own request; a transfer
// cannot be cancelled once approved.
func TestTransferRejectAndCancelReleaseTheReservation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	central := h.trStock(t, "WH-CENTRAL", "HY-02")

	h.trRequest(t, hqSales, "TR-REJ", trBody("WH-CENTRAL", "WH-ECOM", "HY-02", 20))
	h.trWantStock(t, "WH-CENTRAL", "HY-02", central.plus(0, 20, 0))
	if got := h.trListed(t, hqSales, "?awaiting=me"); !slices.Equal(got, []string{"TR-REJ"}) {
		t.Fatalf("hq_sales awaiting: %v", got)
	}
	var tr api.Transfer
	h.do("POST", "/v1/transfers/TR-REJ/decision", hqSales, map[string]any{"decision": "reject", "reason": "e-commerce has enough"}).expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferRejected || !slices.Equal(trKinds(tr), []string{"requested", "reserved", "released", "rejected"}) {
		t.Fatalf("rejected: %+v %v", tr.TransferSummary, trKinds(tr))
	}
	h.trWantStock(t, "WH-CENTRAL", "HY-02", central)
	if got := h.trPostings(t, "TR-REJ"); !equalMaps(got, map[string]string{"reserve": "reserve/1", "release": "release/1"}) {
		t.Fatalf("postings %v", got)
	}
	h.ledgerMatches(t)
	recordHistory(t, h.tc, workflows.TransferID("TR-REJ"), "transfer_rejected.json")

	// AG-EAST asks for stock into its front warehouse, then withdraws.
	h.trRequest(t, agentEast, "TR-CAN", trBody("WH-CENTRAL", "WH-EAST-FRONT", "HY-02", 5))
	h.trWantStock(t, "WH-CENTRAL", "HY-02", central.plus(0, 5, 0))
	h.do("POST", "/v1/transfers/TR-CAN/cancel", agentSouth, map[string]any{"reason": "x"}).expect(t, 403).problem(t)
	p := h.do("POST", "/v1/transfers/TR-CAN/cancel", agentEast, map[string]any{}).expect(t, 422).problem(t)
	if !slices.Equal(trFields(p), []string{"reason"}) {
		t.Fatalf("cancel without reason: %+v", p.Errors)
	}
	h.do("POST", "/v1/transfers/TR-CAN/cancel", agentEast, map[string]any{"reason": "found stock in WH-EAST"}, "Idempotency-Key", "can-1").expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferCancelled || tr.Failure != "found stock in WH-EAST" {
		t.Fatalf("cancelled: %+v", tr.TransferSummary)
	}
	h.trWantStock(t, "WH-CENTRAL", "HY-02", central)
	h.do("POST", "/v1/transfers/TR-CAN/cancel", agentEast, map[string]any{"reason": "found stock in WH-EAST"}, "Idempotency-Key", "can-1").expect(t, 200)
	h.do("POST", "/v1/transfers/TR-CAN/decision", hqSales, map[string]any{"decision": "approve"}).expect(t, 409).problem(t)
	h.ledgerMatches(t)
	recordHistory(t, h.tc, workflows.TransferID("TR-CAN"), "transfer_cancelled.json")

	// Approved means dispatched: too late to cancel.
	h.trRequest(t, hqSales, "TR-LATE", trBody("WH-CENTRAL", "WH-ECOM", "HY-02", 2))
	h.do("POST", "/v1/transfers/TR-LATE/decision", hqSales, map[string]any{"decision": "approve"}).expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferInTransit {
		t.Fatalf("approved: %+v", tr.TransferSummary)
	}
	h.do("POST", "/v1/transfers/TR-LATE/cancel", hqSales, map[string]any{"reason": "oops"}).expect(t, 409).problem(t)
	h.trWantStock(t, "WH-CENTRAL", "HY-02", central.plus(-2, 0, 0))
	h.ledgerMatches(t)
}

// TestTransferExpiresAfterReminderAndEscalation runs the approval timers for
// real, shortened: reminded, escalated to hq_sales (who may now decide),
// then expired with the reservation released.
func TestTransferExpiresAfterReminderAndEscalation(t *testing.T) {
	t.Parallel()
	h := newTransferHarness(t, workflows.TransferTimeouts{RemindAfter: time.Second, EscalateAfter: 2 * time.Second, ExpireAfter: 4 * time.Second}, true)
	before := h.trStock(t, "WH-SOUTH", "RD-03")
	h.trRequest(t, agentEast, "TR-EXP", trBody("WH-SOUTH", "WH-EAST", "RD-03", 7))
	h.do("POST", "/v1/transfers/TR-EXP/decision", hqSales, map[string]any{"decision": "approve"}).expect(t, 403).problem(t)
	tr := h.trWait(t, agentEast, "TR-EXP", func(tr api.Transfer) bool { return tr.Escalated })
	if tr.RemindedAt == nil || tr.Status != workflows.TransferAwaitingApproval {
		t.Fatalf("escalated: %+v", tr.TransferSummary)
	}
	if got := h.trListed(t, hqSales, "?awaiting=me"); !slices.Equal(got, []string{"TR-EXP"}) {
		t.Fatalf("hq_sales awaiting after escalation: %v", got)
	}
	// hq_sales may decide now: this decision reaches the workflow, whose
	// validator refuses it for its quantity (not for who sends it).
	p := h.do("POST", "/v1/transfers/TR-EXP/decision", hqSales, map[string]any{"decision": "approve", "lines": []map[string]any{{"sku": "RD-03", "approved_qty": 8}}}).expect(t, 422).problem(t)
	if !slices.Equal(trFields(p), []string{"lines[0].approved_qty"}) {
		t.Fatalf("escalated over-approval: %+v", p.Errors)
	}
	tr = h.trWait(t, agentEast, "TR-EXP", func(tr api.Transfer) bool { return tr.Status != workflows.TransferAwaitingApproval })
	want := []string{"requested", "reserved", "reminded", "escalated", "released", "expired"}
	if tr.Status != workflows.TransferExpired || !slices.Equal(trKinds(tr), want) {
		t.Fatalf("expired: %+v %v, want %v", tr.TransferSummary, trKinds(tr), want)
	}
	h.trWantStock(t, "WH-SOUTH", "RD-03", before)
	h.ledgerMatches(t)
	h.do("POST", "/v1/transfers/TR-EXP/decision", agentSouth, map[string]any{"decision": "approve"}).expect(t, 409).problem(t)
	trFindInTemporal(t, h, `BoEntity = "transfer" AND BoKey = "TR-EXP" AND BoStatus = "expired"`)
	recordHistory(t, h.tc, workflows.TransferID("TR-EXP"), "transfer_expired.json")
}

// TestTransferRequestRefusals: bad requests are refused precisely and write
// nothing; a repeated request is the same transfer.
func TestTransferRequestRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	transfers, postings := h.count("transfers"), h.count("inventory_postings")
	good := trBody("WH-CENTRAL", "WH-EAST", "HY-01", 5)
	h.do("POST", "/v1/transfers", storeUser, good, "Idempotency-Key", "R1").expect(t, 403).problem(t)
	h.do("POST", "/v1/transfers", hqAdmin, good, "Idempotency-Key", "R1").expect(t, 403).problem(t)
	h.do("POST", "/v1/transfers", agentSouth, good, "Idempotency-Key", "R1").expect(t, 403).problem(t) // not its destination
	h.do("POST", "/v1/transfers", hqSales, good).expect(t, 422).problem(t)                             // no key
	h.do("POST", "/v1/transfers", hqSales, `{"source":`, "Idempotency-Key", "R1").expect(t, 400).problem(t)
	for name, c := range map[string]struct {
		body   map[string]any
		fields []string
	}{
		"same warehouse": {trBody("WH-EAST", "WH-EAST", "HY-01", 1), []string{"destination"}},
		"bad line":       {trBody("WH-CENTRAL", "WH-EAST", "HY-01", 0, "HY-01", 2, "bad sku", 1), []string{"lines[0].qty", "lines[1].sku", "lines[2].sku"}},
		"unknown":        {trBody("WH-NOPE", "WH-EAST", "NOPE-1", 1), []string{"source", "lines[0].sku"}},
		"no lines":       {map[string]any{"source": "WH-CENTRAL", "destination": "WH-EAST", "lines": []any{}, "reason": "x", "wanted_by": "2030-01-01"}, []string{"lines"}},
		"missing":        {map[string]any{"lines": []map[string]any{{"sku": "HY-01", "qty": 1}}}, []string{"source", "destination", "reason", "wanted_by"}},
		"past": {func() map[string]any {
			b := trBody("WH-CENTRAL", "WH-EAST", "HY-01", 1)
			b["wanted_by"] = "2020-01-01"
			return b
		}(), []string{"wanted_by"}},
		"wrong type": {map[string]any{"source": "WH-CENTRAL", "destination": "WH-EAST", "lines": []map[string]any{{"sku": "HY-01", "qty": "5"}}, "reason": "x", "wanted_by": "2030-01-01"}, []string{"lines[0].qty"}},
	} {
		p := h.do("POST", "/v1/transfers", hqSales, c.body, "Idempotency-Key", "R2").expect(t, 422).problem(t)
		if !slices.Equal(trFields(p), c.fields) {
			t.Errorf("%s: fields %v, want %v", name, trFields(p), c.fields)
		}
	}
	h.do("POST", "/v1/transfers/TR-NONE/decision", agentEast, map[string]any{"decision": "approve"}).expect(t, 404).problem(t)
	if h.count("transfers") != transfers || h.count("inventory_postings") != postings {
		t.Fatal("a refused request wrote something")
	}

	// Idempotency: same key and body → the same transfer; other body → 409.
	first := h.trRequest(t, agentEast, "TR-IDEM", good)
	var again api.Transfer
	h.do("POST", "/v1/transfers", agentEast, good, "Idempotency-Key", "TR-IDEM").expect(t, 200).json(t, &again)
	if again.Key != first.Key || again.CreatedAt != first.CreatedAt {
		t.Fatalf("repeat: %+v", again.TransferSummary)
	}
	h.do("POST", "/v1/transfers", agentEast, trBody("WH-CENTRAL", "WH-EAST", "HY-01", 6), "Idempotency-Key", "TR-IDEM").expect(t, 409).problem(t)
	h.do("POST", "/v1/transfers", hqSales, good, "Idempotency-Key", "TR-IDEM").expect(t, 409).problem(t) // another caller
	if got := h.trPostings(t, "TR-IDEM"); !equalMaps(got, map[string]string{"reserve": "reserve/1"}) {
		t.Fatalf("postings after repeats: %v", got)
	}
	// The same request sent five times at once: one transfer, one reservation.
	var wg sync.WaitGroup
	statuses := make(chan int, 5)
	same := trBody("WH-CENTRAL", "WH-EAST", "HY-04", 3)
	for range 5 {
		wg.Go(func() {
			status, body, err := h.trDo("POST", "/v1/transfers", agentEast, same, "Idempotency-Key", "TR-RACE")
			if err != nil {
				t.Error(err)
			} else if status != 200 && status != 202 {
				t.Errorf("concurrent repeat: %d %s", status, body)
			}
			statuses <- status
		})
	}
	wg.Wait()
	close(statuses)
	accepted := 0
	for st := range statuses {
		if st == 202 {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("%d of 5 identical concurrent requests were accepted as new, want 1", accepted)
	}
	h.trWait(t, agentEast, "TR-RACE", func(tr api.Transfer) bool { return tr.Status == workflows.TransferAwaitingApproval })
	if got := h.trPostings(t, "TR-RACE"); !equalMaps(got, map[string]string{"reserve": "reserve/1"}) {
		t.Fatalf("postings after concurrent repeats: %v", got)
	}

	// Lists validate their filters.
	h.do("GET", "/v1/transfers?status=lost", hqSales, nil).expect(t, 422).problem(t)
	h.do("GET", "/v1/transfers?awaiting=you", hqSales, nil).expect(t, 422).problem(t)
	if got := h.trListed(t, opsUser, "?awaiting=me"); len(got) != 0 {
		t.Fatalf("ops awaiting: %v", got)
	}
}

// trDo is a goroutine-safe request: it returns the status and body.
func (h *harness) trDo(method, path, user string, body any, headers ...string) (int, []byte, error) {
	buf, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(buf))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.tokens[user])
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// TestTransferConcurrentRequestsNeverOverReserve: 100 concurrent requests
// for one SKU at a source holding 40 units reserve at most 40; after every
// transfer settled (approved and received, or rejected), every balance
// equals its ledger.
func TestTransferConcurrentRequestsNeverOverReserve(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	q := dbgen.New(h.pool)
	p, err := q.GetProduct(ctx, "HY-01")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.CreateProduct(ctx, dbgen.CreateProductParams{
		Sku: "TR-HOT", Name: "Hot serum", Series: p.Series, ListPrice: p.ListPrice, CaseSize: 1, LaunchDate: p.LaunchDate,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := inventory.NewLedger(h.pool).Post(ctx, inventory.Receive(inventory.Op{Key: "test:hot", Reference: "test", Actor: "test"},
		[]inventory.Line{{Warehouse: "WH-CENTRAL", SKU: "TR-HOT", Qty: 40}})); err != nil {
		t.Fatal(err)
	}

	const n = 100
	qty := func(i int) int64 { return int64(i%3 + 1) } // 200 units asked in all
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			status, body, err := h.trDo("POST", "/v1/transfers", hqSales, trBody("WH-CENTRAL", "WH-ECOM", "TR-HOT", qty(i)), "Idempotency-Key", fmt.Sprintf("TR-HOT-%03d", i))
			if err == nil && status != 202 {
				err = fmt.Errorf("request %d: %d %s", i, status, body)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every request settles: reserved, or failed for want of stock.
	var reservedQty int64
	var waiting []int
	for i := range n {
		tr := h.trWait(t, hqSales, fmt.Sprintf("TR-HOT-%03d", i), func(tr api.Transfer) bool { return tr.Status != workflows.TransferRequested })
		switch tr.Status {
		case workflows.TransferAwaitingApproval:
			reservedQty += qty(i)
			waiting = append(waiting, i)
		case workflows.TransferFailed:
			if len(tr.Timeline) != 2 || tr.Timeline[1].Kind != "failed" {
				t.Fatalf("failed transfer %d: %v", i, trKinds(tr))
			}
		default:
			t.Fatalf("transfer %d is %s", i, tr.Status)
		}
	}
	b := h.trStock(t, "WH-CENTRAL", "TR-HOT")
	if b.reserved != reservedQty || b.reserved > 40 || b.onHand != 40 {
		t.Fatalf("reserved %d (transfers hold %d), on hand %d: want at most 40 reserved", b.reserved, reservedQty, b.onHand)
	}
	if b.reserved < 38 { // a refusal means fewer than 3 units were left
		t.Fatalf("only %d of 40 reserved", b.reserved)
	}
	t.Logf("%d of %d requests reserved %d units", len(waiting), n, b.reserved)
	h.ledgerMatches(t)

	// Settle them all, concurrently: approve and receive every other one,
	// reject the rest.
	var moved int64
	var mu sync.Mutex
	errs = make(chan error, len(waiting))
	for j, i := range waiting {
		key := fmt.Sprintf("TR-HOT-%03d", i)
		wg.Go(func() {
			if j%2 == 1 {
				status, body, err := h.trDo("POST", "/v1/transfers/"+key+"/decision", hqSales, map[string]any{"decision": "reject", "reason": "not now"})
				if err == nil && status != 200 {
					err = fmt.Errorf("%s reject: %d %s", key, status, body)
				}
				if err != nil {
					errs <- err
				}
				return
			}
			status, body, err := h.trDo("POST", "/v1/transfers/"+key+"/decision", hqSales, map[string]any{"decision": "approve"})
			if err == nil && status == 200 {
				status, body, err = h.trDo("POST", "/v1/transfers/"+key+"/receipt", hqAdmin, map[string]any{"lines": []map[string]any{{"sku": "TR-HOT", "received_qty": qty(i)}}})
			}
			if err == nil && status != 200 {
				err = fmt.Errorf("%s approve/receive: %d %s", key, status, body)
			}
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			moved += qty(i)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	h.trWantStock(t, "WH-CENTRAL", "TR-HOT", stock{onHand: 40 - moved})
	h.trWantStock(t, "WH-ECOM", "TR-HOT", stock{onHand: moved})
	h.ledgerMatches(t)
	if got := len(h.trListed(t, hqSales, "?status=received&agent=&limit=500")); got != (len(waiting)+1)/2 {
		t.Fatalf("%d received, want %d", got, (len(waiting)+1)/2)
	}
}

// TestTransferSurvivesWorkerCrashBetweenReserveAndDispatch kills the worker
// right after the reservation committed, before the workflow heard of it; a
// new worker retries the reservation, which finds it made; the transfer then
// completes with exactly one reservation and one dispatch.
func TestTransferSurvivesWorkerCrashBetweenReserveAndDispatch(t *testing.T) {
	t.Parallel()
	h := newTransferHarness(t, workflows.TransferTimeouts{}, false)
	ctx := context.Background()

	// Worker A: the real activities, but the reservation "dies" after
	// committing, before reporting.
	real := &activities.Transfers{Pool: h.pool}
	committed := make(chan struct{}, 1)
	wa := sdkworker.New(h.tc, workflows.TaskQueue, sdkworker.Options{WorkerStopTimeout: time.Second})
	for _, d := range workflows.Definitions() {
		wa.RegisterWorkflowWithOptions(d.Fn, workflow.RegisterOptions{Name: d.Name})
	}
	wa.RegisterActivity(real)
	wa.RegisterActivityWithOptions(func(ctx context.Context, in activities.TransferReserveInput) (activities.StepResult, error) {
		r, err := real.TransferReserve(ctx, in)
		if err != nil {
			return r, err
		}
		committed <- struct{}{}
		<-ctx.Done() // the process dies here: the result is never reported
		return r, ctx.Err()
	}, activity.RegisterOptions{Name: "TransferReserve", DisableAlreadyRegisteredCheck: true})
	if err := wa.Start(); err != nil {
		t.Fatal(err)
	}
	before := h.trStock(t, "WH-SOUTH", "HY-05")
	h.do("POST", "/v1/transfers", agentEast, trBody("WH-SOUTH", "WH-EAST", "HY-05", 12), "Idempotency-Key", "TR-CRASH").expect(t, 202)
	select {
	case <-committed:
	case <-time.After(30 * time.Second):
		t.Fatal("the reservation never committed")
	}
	wa.Stop()
	h.trWantStock(t, "WH-SOUTH", "HY-05", before.plus(0, 12, 0))

	// Worker B: a normal restart. The workflow is replayed from its history
	// and the reservation retried (after its start-to-close timeout at
	// worst): it posts nothing new.
	wb := worker.New(h.tc, h.pool, sdkworker.Options{})
	if err := wb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wb.Stop)
	h.trWait(t, agentSouth, "TR-CRASH", func(tr api.Transfer) bool { return tr.Status == workflows.TransferAwaitingApproval })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var st workflows.TransferState
		v, err := h.tc.QueryWorkflow(ctx, workflows.TransferID("TR-CRASH"), "", workflows.TransferStateQuery)
		if err == nil && v.Get(&st) == nil && st.Status == workflows.TransferAwaitingApproval {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow state %+v, err %v", st, err)
		}
	}
	h.trWantStock(t, "WH-SOUTH", "HY-05", before.plus(0, 12, 0))
	var tr api.Transfer
	h.do("POST", "/v1/transfers/TR-CRASH/decision", agentSouth, map[string]any{"decision": "approve"}).expect(t, 200).json(t, &tr)
	h.do("POST", "/v1/transfers/TR-CRASH/receipt", agentEast, map[string]any{"lines": []map[string]any{{"sku": "HY-05", "received_qty": 12}}}).expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferReceived {
		t.Fatalf("after restart: %+v", tr.TransferSummary)
	}
	if got := h.trPostings(t, "TR-CRASH"); !equalMaps(got, map[string]string{"reserve": "reserve/1", "dispatch": "move/2", "receive": "arrive/1"}) {
		t.Fatalf("postings %v: want one reservation, one dispatch, one arrival", got)
	}
	var reserved int
	for _, e := range tr.Timeline {
		if e.Kind == "reserved" {
			reserved++
		}
	}
	if reserved != 1 {
		t.Fatalf("timeline %v", trKinds(tr))
	}
	h.trWantStock(t, "WH-SOUTH", "HY-05", before.plus(-12, 0, 0))
	h.ledgerMatches(t)
	// The reservation did run twice: once on the dead worker, once after.
	iter := h.tc.GetWorkflowHistory(ctx, workflows.TransferID("TR-CRASH"), "", false, 0)
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			return
		}
	}
	t.Fatal("no activity was retried: the crash did not happen as meant")
}

// trWorkflowInput reads the input a transfer's workflow was started with.
func (h *harness) trWorkflowInput(t *testing.T, key string) workflows.TransferInput {
	t.Helper()
	iter := h.tc.GetWorkflowHistory(context.Background(), workflows.TransferID(key), "", false, 0)
	e, err := iter.Next()
	if err != nil {
		t.Fatal(err)
	}
	var in workflows.TransferInput
	if err := converter.GetDefaultDataConverter().FromPayloads(e.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// TestTransferReceiptEscalatedToHQ: a transfer in transit whose receipt is
// not reported is reminded, then escalated to HQ — shown in the HQ inbox and
// on the timeline — and stays in transit (nothing is received or cancelled
// on its own); hq_admin then reports the receipt on the destination's
// behalf, recorded as such. Receipt deadlines given with a request are
// checked (422 naming the field), kept with the transfer and given to its
// workflow.
func TestTransferReceiptEscalatedToHQ(t *testing.T) {
	t.Parallel()
	// The API's receipt deadlines are 1 s and 2 s; the approval ones are
	// long enough never to fire here.
	h := newTransferHarness(t, workflows.TransferTimeouts{
		RemindAfter: time.Hour, EscalateAfter: 2 * time.Hour, ExpireAfter: 3 * time.Hour,
		ReceiptRemindAfter: time.Second, ReceiptEscalateAfter: 2 * time.Second,
	}, true)

	// Receipt deadlines in a request: checked, naming the field.
	transfers := h.count("transfers")
	withDeadlines := func(d any) map[string]any {
		b := trBody("WH-SOUTH", "WH-EAST", "HY-01", 2)
		b["receipt_deadlines"] = d
		return b
	}
	for name, c := range map[string]struct {
		deadlines any
		fields    []string
	}{
		"too short":        {map[string]any{"remind_after": "30s", "escalate_after": "1h"}, []string{"receipt_deadlines.remind_after"}},
		"too long":         {map[string]any{"remind_after": "1h", "escalate_after": "2161h"}, []string{"receipt_deadlines.escalate_after"}},
		"not a duration":   {map[string]any{"remind_after": "two days"}, []string{"receipt_deadlines.remind_after"}},
		"escalate first":   {map[string]any{"remind_after": "48h", "escalate_after": "24h"}, []string{"receipt_deadlines.escalate_after"}},
		"equal":            {map[string]any{"remind_after": "48h", "escalate_after": "48h"}, []string{"receipt_deadlines.escalate_after"}},
		"after default":    {map[string]any{"remind_after": "1h"}, []string{"receipt_deadlines.remind_after"}}, // the API's escalation is at 2 s
		"not whole second": {map[string]any{"remind_after": "1m0.5s", "escalate_after": "2m"}, []string{"receipt_deadlines.remind_after"}},
		"wrong type":       {map[string]any{"remind_after": "1h", "escalate_after": 96}, []string{"receipt_deadlines.escalate_after"}},
	} {
		p := h.do("POST", "/v1/transfers", agentEast, withDeadlines(c.deadlines), "Idempotency-Key", "TR-BAD").expect(t, 422).problem(t)
		if !slices.Equal(trFields(p), c.fields) {
			t.Errorf("%s: fields %v, want %v (%+v)", name, trFields(p), c.fields, p.Errors)
		}
	}
	if h.count("transfers") != transfers {
		t.Fatal("a refused request wrote something")
	}

	// Custom deadlines (24 h, 72 h) are kept with the transfer and reach
	// its workflow; the same key without them is another request.
	custom := withDeadlines(map[string]any{"remind_after": "24h", "escalate_after": "72h"})
	tr := h.trRequest(t, agentEast, "TR-RCV-CUSTOM", custom)
	if tr.ReceiptRemindAfter == nil || *tr.ReceiptRemindAfter != "24h0m0s" || *tr.ReceiptEscalateAfter != "72h0m0s" {
		t.Fatalf("custom deadlines: %+v", tr.TransferSummary)
	}
	if in := h.trWorkflowInput(t, "TR-RCV-CUSTOM"); in.Timeouts.ReceiptRemindAfter != 24*time.Hour || in.Timeouts.ReceiptEscalateAfter != 72*time.Hour || in.Timeouts.RemindAfter != time.Hour {
		t.Fatalf("workflow timeouts %+v", in.Timeouts)
	}
	h.do("POST", "/v1/transfers", agentEast, custom, "Idempotency-Key", "TR-RCV-CUSTOM").expect(t, 200)
	h.do("POST", "/v1/transfers", agentEast, trBody("WH-SOUTH", "WH-EAST", "HY-01", 2), "Idempotency-Key", "TR-RCV-CUSTOM").expect(t, 409).problem(t)
	h.do("POST", "/v1/transfers/TR-RCV-CUSTOM/decision", agentSouth, map[string]any{"decision": "approve"}).expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferInTransit {
		t.Fatalf("custom approved: %+v", tr.TransferSummary)
	}
	// Not escalated: HQ may not report the receipt of AG-EAST's warehouse.
	full := func(sku string, qty int64) map[string]any {
		return map[string]any{"lines": []map[string]any{{"sku": sku, "received_qty": qty}}}
	}
	h.do("POST", "/v1/transfers/TR-RCV-CUSTOM/receipt", hqAdmin, full("HY-01", 2)).expect(t, 403).problem(t)
	h.do("POST", "/v1/transfers/TR-RCV-CUSTOM/receipt", hqSales, full("HY-01", 2)).expect(t, 403).problem(t)

	// The API's deadlines: reminded after 1 s, escalated after 2 s.
	const key = "TR-RCV"
	src, dst := h.trStock(t, "WH-SOUTH", "RD-03"), h.trStock(t, "WH-EAST", "RD-03")
	tr = h.trRequest(t, agentEast, key, trBody("WH-SOUTH", "WH-EAST", "RD-03", 5))
	if tr.ReceiptRemindAfter == nil || *tr.ReceiptRemindAfter != "1s" || *tr.ReceiptEscalateAfter != "2s" {
		t.Fatalf("default deadlines: %+v", tr.TransferSummary)
	}
	h.do("POST", "/v1/transfers/"+key+"/decision", agentSouth, map[string]any{"decision": "approve"}).expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferInTransit || tr.ReceiptEscalated {
		t.Fatalf("approved: %+v", tr.TransferSummary)
	}
	tr = h.trWait(t, agentEast, key, func(tr api.Transfer) bool { return tr.ReceiptEscalated })
	if tr.ReceiptRemindedAt == nil || tr.ReceiptEscalatedAt == nil || tr.ReceiptEscalatedAt.Before(*tr.ReceiptRemindedAt) {
		t.Fatalf("escalated: %+v", tr.TransferSummary)
	}
	want := []string{"requested", "reserved", "approved", "dispatched", "receipt_reminded", "receipt_escalated"}
	if got := trKinds(tr); !slices.Equal(got, want) {
		t.Fatalf("timeline %v, want %v", got, want)
	}
	if e := tr.Timeline[len(tr.Timeline)-1]; e.Actor != "system" || !bytes.Contains(e.Detail, []byte(`"hq_sales"`)) {
		t.Fatalf("escalation event %+v (%s)", e, e.Detail)
	}
	// The HQ inbox shows the escalated receipt (not the custom transfer,
	// which is not overdue); AG-EAST's shows both receipts it owes.
	for _, u := range []string{hqSales, hqAdmin} {
		if got := h.trListed(t, u, "?awaiting=me"); !slices.Equal(got, []string{key}) {
			t.Fatalf("%s awaiting: %v", u, got)
		}
	}
	if got := h.trListed(t, agentEast, "?awaiting=me"); !slices.Equal(got, []string{key, "TR-RCV-CUSTOM"}) {
		t.Fatalf("AG-EAST awaiting: %v", got)
	}
	if got := h.trListed(t, agentSouth, "?awaiting=me"); len(got) != 0 {
		t.Fatalf("AG-SOUTH awaiting: %v", got)
	}
	// Escalated, the transfer stays in transit: the goods are on the road.
	time.Sleep(time.Second)
	h.do("GET", "/v1/transfers/"+key, hqSales, nil).expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferInTransit || len(tr.Timeline) != len(want) {
		t.Fatalf("after the escalation: %+v %v", tr.TransferSummary, trKinds(tr))
	}
	h.trWantStock(t, "WH-EAST", "RD-03", dst.plus(0, 0, 5))

	// HQ reports the receipt on AG-EAST's behalf; the lender still may not.
	h.do("POST", "/v1/transfers/"+key+"/receipt", agentSouth, full("RD-03", 5)).expect(t, 403).problem(t)
	p := h.do("POST", "/v1/transfers/"+key+"/receipt", hqAdmin, full("RD-03", 6)).expect(t, 422).problem(t)
	if !slices.Equal(trFields(p), []string{"lines[0].received_qty"}) {
		t.Fatalf("overage by HQ: %+v", p.Errors)
	}
	h.do("POST", "/v1/transfers/"+key+"/receipt", hqAdmin, full("RD-03", 5), "Idempotency-Key", "rcv-hq").expect(t, 200).json(t, &tr)
	if tr.Status != workflows.TransferReceived || tr.ClosedAt == nil || *tr.Lines[0].ReceivedQty != 5 {
		t.Fatalf("received by HQ: %+v %+v", tr.TransferSummary, tr.Lines)
	}
	e := tr.Timeline[len(tr.Timeline)-1]
	if e.Kind != "received" || e.ActorName != hqAdmin || !bytes.Contains(e.Detail, []byte(`"on_behalf_of":"AG-EAST"`)) {
		t.Fatalf("receipt event %+v (%s)", e, e.Detail)
	}
	h.trWantStock(t, "WH-EAST", "RD-03", dst.plus(5, 0, 0))
	h.trWantStock(t, "WH-SOUTH", "RD-03", src.plus(-5, 0, 0))
	if got := h.trPostings(t, key); !equalMaps(got, map[string]string{"reserve": "reserve/1", "dispatch": "move/2", "receive": "arrive/1"}) {
		t.Fatalf("postings %v", got)
	}
	h.ledgerMatches(t)
	if got := h.trListed(t, hqSales, "?awaiting=me"); len(got) != 0 {
		t.Fatalf("hq_sales awaiting after the receipt: %v", got)
	}
	trFindInTemporal(t, h, `BoEntity = "transfer" AND BoKey = "TR-RCV" AND BoStatus = "received"`)
	recordHistory(t, h.tc, workflows.TransferID(key), "transfer_receipt_escalated.json")
}

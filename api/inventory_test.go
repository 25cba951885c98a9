package api_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/workflows"
)

func TestInventoryAcrossWarehousesAndChannels(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var all api.SKUStock
	h.do("GET", "/v1/inventory?sku=HY-01", hqSales, nil).expect(t, 200).json(t, &all)
	if len(all.Warehouses) != 7 || len(all.ByChannel) != 3 {
		t.Fatalf("HY-01 in %d warehouses / %d channels, want 7 / 3", len(all.Warehouses), len(all.ByChannel))
	}
	var sum int64
	for _, w := range all.Warehouses {
		sum += w.OnHand
		if w.Available != w.OnHand-w.Reserved {
			t.Errorf("%s: available %d != on hand %d - reserved %d", w.Warehouse, w.Available, w.OnHand, w.Reserved)
		}
	}
	if sum != all.Totals.OnHand {
		t.Fatalf("totals %d != sum of warehouses %d", all.Totals.OnHand, sum)
	}
	var mine api.SKUStock
	h.do("GET", "/v1/inventory?sku=HY-01", agentEast, nil).expect(t, 200).json(t, &mine)
	for _, w := range mine.Warehouses {
		if w.OwnerKind == "agent" && *w.OwnerAgentCode != "AG-EAST" {
			t.Errorf("AG-EAST sees stock of %s", w.Warehouse)
		}
	}
	if len(mine.Warehouses) != 5 {
		t.Errorf("AG-EAST sees %d warehouses of HY-01, want 5", len(mine.Warehouses))
	}
	h.do("GET", "/v1/inventory", hqSales, nil).expect(t, 422).problem(t)
	h.do("GET", "/v1/inventory?sku=NOPE", hqSales, nil).expect(t, 404).problem(t)
	h.do("GET", "/v1/inventory?warehouse=WH-SOUTH", agentEast, nil).expect(t, 403).problem(t)
	var page api.List[api.StockRow]
	h.do("GET", "/v1/inventory?warehouse=WH-EAST&limit=10", agentEast, nil).expect(t, 200).json(t, &page)
	if len(page.Items) != 10 || page.NextCursor == nil {
		t.Fatalf("WH-EAST first page: %d rows", len(page.Items))
	}
	var moves api.List[api.Movement]
	h.do("GET", "/v1/inventory/movements?warehouse=WH-EAST&sku=HY-01", agentEast, nil).expect(t, 200).json(t, &moves)
	if len(moves.Items) != 1 || moves.Items[0].Reason != "receipt" {
		t.Fatalf("ledger of WH-EAST HY-01: %+v", moves.Items)
	}
	h.do("GET", "/v1/inventory/movements?warehouse=WH-SOUTH", agentEast, nil).expect(t, 403).problem(t)
}

func onHand(t *testing.T, h *harness, wh, sku string) int64 {
	t.Helper()
	b, err := dbgen.New(h.pool).GetBalance(context.Background(), dbgen.GetBalanceParams{WarehouseCode: wh, Sku: sku})
	if err != nil {
		t.Fatal(err)
	}
	return b.OnHand
}

// waitReceipt polls the receipt until it leaves pending.
func waitReceipt(t *testing.T, h *harness, user, key string) api.Receipt {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rec api.Receipt
		h.do("GET", "/v1/inventory/receipts/"+key, user, nil).expect(t, 200).json(t, &rec)
		if rec.Status != workflows.ReceiptPending {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("receipt %s still pending", key)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGoodsReceiptRunsAsWorkflowExactlyOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := onHand(t, h, "WH-EAST", "HY-01")
	body := map[string]any{"warehouse": "WH-EAST", "supplier_ref": "PO-88", "lines": []map[string]any{{"sku": "HY-01", "qty": 48}, {"sku": "RD-02", "qty": 12}}}

	r := h.do("POST", "/v1/inventory/receipts", agentEast, body, "Idempotency-Key", "RCV-E2E-1").expect(t, 202)
	if r.header.Get("Location") != "/v1/inventory/receipts/RCV-E2E-1" {
		t.Fatalf("Location = %q", r.header.Get("Location"))
	}
	rec := waitReceipt(t, h, agentEast, "RCV-E2E-1")
	if rec.Status != workflows.ReceiptPosted || rec.WorkflowID != "stock-receipt:RCV-E2E-1" {
		t.Fatalf("receipt = %+v", rec)
	}
	if got := onHand(t, h, "WH-EAST", "HY-01"); got != before+48 {
		t.Fatalf("on hand %d, want %d", got, before+48)
	}
	// The same request again returns the same receipt and posts nothing more.
	h.do("POST", "/v1/inventory/receipts", agentEast, body, "Idempotency-Key", "RCV-E2E-1").expect(t, 200)
	// The same key for another receipt is a conflict.
	other := map[string]any{"warehouse": "WH-EAST", "lines": []map[string]any{{"sku": "HY-01", "qty": 1}}}
	h.do("POST", "/v1/inventory/receipts", agentEast, other, "Idempotency-Key", "RCV-E2E-1").expect(t, 409).problem(t)
	time.Sleep(300 * time.Millisecond) // give a wrongly started second workflow time to post
	if got := onHand(t, h, "WH-EAST", "HY-01"); got != before+48 {
		t.Fatalf("on hand %d after the repeat, want %d (posted once)", got, before+48)
	}

	// Ops finds the workflow in Temporal by business key and status.
	var found bool
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !found; time.Sleep(200 * time.Millisecond) {
		res, err := h.tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: `BoEntity = "stock_receipt" AND BoKey = "RCV-E2E-1" AND BoStatus = "posted" AND BoAgent = "AG-EAST" AND BoRegion = "EAST"`,
		})
		if err != nil {
			t.Fatal(err)
		}
		found = len(res.Executions) == 1
	}
	if !found {
		t.Fatal("the receipt workflow is not listed by its search attributes")
	}
	recordHistory(t, h.tc, workflows.StockReceiptID("RCV-E2E-1"), "stock_receipt_posted.json")
}

func TestGoodsReceiptRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	line := []map[string]any{{"sku": "HY-01", "qty": 5}}
	postings := h.count("inventory_postings")
	receipts := h.count("stock_receipts")
	h.do("POST", "/v1/inventory/receipts", agentEast, map[string]any{"warehouse": "WH-SOUTH", "lines": line}, "Idempotency-Key", "R1").expect(t, 403).problem(t)
	h.do("POST", "/v1/inventory/receipts", storeUser, map[string]any{"warehouse": "WH-EAST", "lines": line}, "Idempotency-Key", "R2").expect(t, 403).problem(t)
	h.do("POST", "/v1/inventory/receipts", agentEast, map[string]any{"warehouse": "WH-EAST", "lines": line}).expect(t, 422).problem(t)
	for name, lines := range map[string]any{
		"lines[0].qty": []map[string]any{{"sku": "HY-01", "qty": -5}},
		"lines[1].qty": []map[string]any{{"sku": "HY-01", "qty": 5}, {"sku": "HY-02", "qty": 2.5}},
		"lines[0].sku": []map[string]any{{"sku": "NOPE-1", "qty": 5}},
		"lines":        []map[string]any{},
	} {
		r := h.do("POST", "/v1/inventory/receipts", agentEast, map[string]any{"warehouse": "WH-EAST", "lines": lines}, "Idempotency-Key", "R3")
		p := r.expect(t, 422).problem(t)
		if len(p.Errors) == 0 || p.Errors[0].Field != name {
			t.Errorf("want %s named, got %+v", name, p.Errors)
		}
	}
	if h.count("inventory_postings") != postings || h.count("stock_receipts") != receipts {
		t.Fatal("a refused receipt wrote something")
	}
}

// recordHistory writes the workflow's history to testdata/histories when
// UPDATE_HISTORIES=1, for the replay tests of package workflows.
func recordHistory(t *testing.T, c client.Client, workflowID, name string) {
	t.Helper()
	if os.Getenv("UPDATE_HISTORIES") != "1" {
		return
	}
	iter := c.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	var events []*historypb.HistoryEvent
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "testdata", "histories", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s (%d events)", path, len(events))
}

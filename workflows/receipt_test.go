package workflows

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/alliance/backoffice/activities"
)

func receiptInput() StockReceiptInput {
	return StockReceiptInput{Key: "RCV-1", Warehouse: "WH-CENTRAL", Actor: "user:1",
		Lines: []activities.ReceiptLine{{SKU: "HY-01", Qty: 10}}}
}

func TestStockReceiptPosts(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Inventory
	env.RegisterActivity(a)
	env.OnActivity(a.PostReceipt, mock.Anything, activities.PostReceiptInput{
		Key: "RCV-1", Warehouse: "WH-CENTRAL", Actor: "user:1", Lines: []activities.ReceiptLine{{SKU: "HY-01", Qty: 10}},
	}).Return(activities.PostReceiptResult{Movements: 1}, nil).Once()
	env.ExecuteWorkflow(StockReceipt, receiptInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res StockReceiptResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != ReceiptPosted {
		t.Fatalf("status = %q, want %q", res.Status, ReceiptPosted)
	}
	env.AssertExpectations(t)
}

func TestStockReceiptRetriesTransientFailure(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Inventory
	env.RegisterActivity(a)
	env.OnActivity(a.PostReceipt, mock.Anything, mock.Anything).Return(activities.PostReceiptResult{}, errors.New("connection reset")).Twice()
	env.OnActivity(a.PostReceipt, mock.Anything, mock.Anything).Return(activities.PostReceiptResult{Movements: 1}, nil).Once()
	env.ExecuteWorkflow(StockReceipt, receiptInput())
	var res StockReceiptResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != ReceiptPosted {
		t.Fatalf("status = %q, want posted after retries", res.Status)
	}
	env.AssertExpectations(t)
}

func TestStockReceiptRefusedIsRecordedNotRetried(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Inventory
	env.RegisterActivity(a)
	refused := temporal.NewNonRetryableApplicationError("WH-CENTRAL NOPE: unknown warehouse or SKU", activities.ErrTypeStockRefused, nil)
	env.OnActivity(a.PostReceipt, mock.Anything, mock.Anything).Return(activities.PostReceiptResult{}, refused).Once()
	env.OnActivity(a.MarkReceiptFailed, mock.Anything, "RCV-1", mock.MatchedBy(func(reason string) bool { return reason != "" })).Return(nil).Once()
	env.ExecuteWorkflow(StockReceipt, receiptInput())
	var res StockReceiptResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != ReceiptFailed || res.Failure == "" {
		t.Fatalf("result = %+v, want failed with a reason", res)
	}
	env.AssertExpectations(t)
}

func TestWorkflowIDsAreBusinessKeys(t *testing.T) {
	if got := StockReceiptID("RCV-2026-0001"); got != "stock-receipt:RCV-2026-0001" {
		t.Fatalf("StockReceiptID = %q", got)
	}
	sa := SearchAttributes()
	for _, k := range []string{"BoEntity", "BoKey", "BoStatus", "BoAgent", "BoRegion"} {
		if _, ok := sa[k]; !ok {
			t.Errorf("search attribute %s not registered", k)
		}
	}
}

package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
)

// EntityStockReceipt is the BoEntity value of stock receipt workflows.
const EntityStockReceipt = "stock_receipt"

// Stock receipt statuses, as stored and as the BoStatus search attribute.
const (
	ReceiptPending = "pending"
	ReceiptPosted  = "posted"
	ReceiptFailed  = "failed"
)

// StockReceiptID is the workflow ID of the receipt with business key key.
func StockReceiptID(key string) string { return workflowID("stock-receipt", key) }

// StockReceiptInput starts a StockReceipt workflow.
type StockReceiptInput struct {
	Key       string                   `json:"key"`
	Warehouse string                   `json:"warehouse"`
	Actor     string                   `json:"actor"`
	Lines     []activities.ReceiptLine `json:"lines"`
}

// StockReceiptResult is how a receipt ended.
type StockReceiptResult struct {
	Status  string `json:"status"`
	Failure string `json:"failure,omitempty"`
}

// StockReceipt posts a goods receipt to the inventory ledger durably: the
// posting is retried until PostgreSQL takes it, exactly once, and a refusal
// (unknown SKU, ...) is recorded on the receipt.
func StockReceipt(ctx workflow.Context, in StockReceiptInput) (StockReceiptResult, error) {
	var a *activities.Inventory
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		},
	})
	var res activities.PostReceiptResult
	err := workflow.ExecuteActivity(ctx, a.PostReceipt, activities.PostReceiptInput{
		Key: in.Key, Warehouse: in.Warehouse, Actor: in.Actor, Lines: in.Lines,
	}).Get(ctx, &res)
	if err != nil {
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeStockRefused {
			return StockReceiptResult{}, err
		}
		if err := workflow.ExecuteActivity(ctx, a.MarkReceiptFailed, in.Key, appErr.Error()).Get(ctx, nil); err != nil {
			return StockReceiptResult{}, err
		}
		if err := setStatus(ctx, ReceiptFailed); err != nil {
			return StockReceiptResult{}, err
		}
		return StockReceiptResult{Status: ReceiptFailed, Failure: appErr.Error()}, nil
	}
	if err := setStatus(ctx, ReceiptPosted); err != nil {
		return StockReceiptResult{}, err
	}
	return StockReceiptResult{Status: ReceiptPosted}, nil
}

// setStatus keeps the BoStatus search attribute in step with the entity.
func setStatus(ctx workflow.Context, status string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, SAStatus.ValueSet(status))
}

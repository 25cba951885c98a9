// Package activities holds the Temporal activities of the back office: the
// only place workflows touch PostgreSQL. Every activity is idempotent — it
// keys its writes by the workflow's business key and step — so a retry after
// a crash never doubles a reservation, a posting or a notification.
package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/inventory"
)

// Inventory holds the inventory activities and what they share.
type Inventory struct {
	Pool *pgxpool.Pool
}

// ReceiptLine is one SKU and quantity of a goods receipt.
type ReceiptLine struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// PostReceiptInput asks to post a goods receipt to the ledger.
type PostReceiptInput struct {
	Key       string        `json:"key"`
	Warehouse string        `json:"warehouse"`
	Actor     string        `json:"actor"`
	Lines     []ReceiptLine `json:"lines"`
}

// PostReceiptResult says what posting the receipt did.
type PostReceiptResult struct {
	Movements int  `json:"movements"`
	Replayed  bool `json:"replayed"`
}

// ErrTypeStockRefused is the application error type of a posting the ledger
// refused for good (unknown item, insufficient stock): retrying cannot help.
const ErrTypeStockRefused = "StockRefused"

// ReceiptPostingKey is the ledger idempotency key of a receipt.
func ReceiptPostingKey(key string) string { return "receipt:" + key }

// PostReceipt posts the receipt's lines (on hand rises) and marks the
// receipt posted, in one transaction. Run twice, it posts once.
func (a *Inventory) PostReceipt(ctx context.Context, in PostReceiptInput) (PostReceiptResult, error) {
	lines := make([]inventory.Line, len(in.Lines))
	for i, l := range in.Lines {
		lines[i] = inventory.Line{Warehouse: in.Warehouse, SKU: l.SKU, Qty: l.Qty}
	}
	p := inventory.Receive(inventory.Op{Key: ReceiptPostingKey(in.Key), Reference: "receipt " + in.Key, Actor: in.Actor}, lines)
	var res inventory.Result
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		var err error
		if res, err = inventory.PostTx(ctx, tx, p); err != nil {
			return err
		}
		if _, err := dbgen.New(tx).MarkStockReceiptPosted(ctx, in.Key); err != nil {
			return fmt.Errorf("mark receipt %s posted: %w", in.Key, err)
		}
		return nil
	})
	if err != nil {
		return PostReceiptResult{}, permanent(err)
	}
	return PostReceiptResult{Movements: len(res.Movements), Replayed: res.Replayed}, nil
}

// MarkReceiptFailed records why a receipt could not be posted.
func (a *Inventory) MarkReceiptFailed(ctx context.Context, key, reason string) error {
	_, err := dbgen.New(a.Pool).MarkStockReceiptFailed(ctx, dbgen.MarkStockReceiptFailedParams{Key: key, Failure: reason})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("mark receipt %s failed: %w", key, err)
	}
	return nil
}

// permanent turns the ledger's refusals into non-retryable application
// errors; anything else (a lost connection, a timeout) stays retryable.
func permanent(err error) error {
	if errors.Is(err, inventory.ErrInsufficientStock) || errors.Is(err, inventory.ErrUnknownItem) ||
		errors.Is(err, inventory.ErrKeyReused) || errors.Is(err, inventory.ErrInvalid) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeStockRefused, err)
	}
	return err
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/workflows"
)

func (s *server) inventoryRoutes(g *echo.Group) {
	g.GET("/inventory", s.getInventory)
	g.GET("/inventory/movements", s.listMovements)
	g.POST("/inventory/receipts", s.createReceipt)
	g.GET("/inventory/receipts/:key", s.getReceipt)
}

// StockRow is one (warehouse, SKU) balance. Available = on hand − reserved.
type StockRow struct {
	Warehouse      string    `json:"warehouse"`
	WarehouseName  string    `json:"warehouse_name"`
	WarehouseKind  string    `json:"warehouse_kind"`
	Channel        string    `json:"channel"`
	OwnerKind      string    `json:"owner_kind"`
	OwnerAgentCode *string   `json:"owner_agent_code"`
	Region         string    `json:"region"`
	SKU            string    `json:"sku"`
	OnHand         int64     `json:"on_hand"`
	Reserved       int64     `json:"reserved"`
	Available      int64     `json:"available"`
	InTransit      int64     `json:"in_transit"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// StockTotals sums balances.
type StockTotals struct {
	OnHand    int64 `json:"on_hand"`
	Reserved  int64 `json:"reserved"`
	Available int64 `json:"available"`
	InTransit int64 `json:"in_transit"`
}

func (t *StockTotals) add(r StockRow) {
	t.OnHand += r.OnHand
	t.Reserved += r.Reserved
	t.Available += r.Available
	t.InTransit += r.InTransit
}

// ChannelStock is one channel's share of a SKU's stock.
type ChannelStock struct {
	Channel string `json:"channel"`
	StockTotals
}

// SKUStock is one SKU across every warehouse and channel the caller sees.
type SKUStock struct {
	SKU        string         `json:"sku"`
	Totals     StockTotals    `json:"totals"`
	ByChannel  []ChannelStock `json:"by_channel"`
	Warehouses []StockRow     `json:"warehouses"`
}

func stockRow(r dbgen.ListInventoryBySKURow) StockRow {
	var avail int64
	if r.Available != nil {
		avail = *r.Available
	}
	return StockRow{
		Warehouse: r.WarehouseCode, WarehouseName: r.WarehouseName, WarehouseKind: r.WarehouseKind,
		Channel: r.ChannelCode, OwnerKind: r.OwnerKind, OwnerAgentCode: r.OwnerAgentCode, Region: r.Region,
		SKU: r.Sku, OnHand: r.OnHand, Reserved: r.Reserved, Available: avail, InTransit: r.InTransit, UpdatedAt: r.UpdatedAt,
	}
}

// getInventory answers ?sku=X with that SKU across every warehouse and
// channel in the caller's scope, or ?warehouse=W with one warehouse's stock.
func (s *server) getInventory(c echo.Context) error {
	p := principal(c)
	ctx := c.Request().Context()
	sku, wh := c.QueryParam("sku"), c.QueryParam("warehouse")
	if (sku == "") == (wh == "") {
		return errInvalid(FieldError{Field: "sku", Detail: "give either sku (one SKU everywhere) or warehouse (one warehouse's stock)"})
	}
	if wh != "" {
		return s.warehouseStock(c, p, wh)
	}
	if _, err := s.q.GetProduct(ctx, sku); err != nil {
		return notFound(err, "product", sku)
	}
	rows, err := s.q.ListInventoryBySKU(ctx, dbgen.ListInventoryBySKUParams{
		Sku: sku, ChannelCode: queryOpt(c, "channel"), ScopeAgent: p.ScopeAgent(),
	})
	if err != nil {
		return err
	}
	out := SKUStock{SKU: sku, ByChannel: []ChannelStock{}, Warehouses: make([]StockRow, len(rows))}
	for i, r := range rows { // rows come ordered by channel
		row := stockRow(r)
		out.Warehouses[i] = row
		out.Totals.add(row)
		if n := len(out.ByChannel); n == 0 || out.ByChannel[n-1].Channel != row.Channel {
			out.ByChannel = append(out.ByChannel, ChannelStock{Channel: row.Channel})
		}
		out.ByChannel[len(out.ByChannel)-1].add(row)
	}
	return c.JSON(http.StatusOK, out)
}

// visibleWarehouse loads a warehouse and checks the caller may see it.
func (s *server) visibleWarehouse(c echo.Context, p auth.Principal, code string) (dbgen.Warehouse, error) {
	w, err := s.q.GetWarehouse(c.Request().Context(), code)
	if err != nil {
		return w, notFound(err, "warehouse", code)
	}
	if !seesWarehouse(p, w) {
		return w, errForbidden("warehouse " + code + " belongs to another agent")
	}
	return w, nil
}

func (s *server) warehouseStock(c echo.Context, p auth.Principal, code string) error {
	v := &validator{}
	limit, after := page(c, v)
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.visibleWarehouse(c, p, code); err != nil {
		return err
	}
	rows, err := s.q.ListInventoryByWarehouse(c.Request().Context(), dbgen.ListInventoryByWarehouseParams{
		WarehouseCode: code, After: after, Lim: limit,
	})
	if err != nil {
		return err
	}
	out := make([]StockRow, len(rows))
	for i, r := range rows {
		out[i] = stockRow(dbgen.ListInventoryBySKURow(r))
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x StockRow) string { return x.SKU }))
}

// Movement is one row of the inventory ledger.
type Movement struct {
	ID             int64     `json:"id"`
	PostingKey     string    `json:"posting_key"`
	Warehouse      string    `json:"warehouse"`
	SKU            string    `json:"sku"`
	Reason         string    `json:"reason"`
	OnHandDelta    int64     `json:"on_hand_delta"`
	ReservedDelta  int64     `json:"reserved_delta"`
	InTransitDelta int64     `json:"in_transit_delta"`
	Reference      string    `json:"reference"`
	Actor          string    `json:"actor"`
	CreatedAt      time.Time `json:"created_at"`
}

func (s *server) listMovements(c echo.Context) error {
	p := principal(c)
	v := &validator{}
	limit, cursor := page(c, v)
	wh := c.QueryParam("warehouse")
	if wh == "" {
		v.add("warehouse", "is required")
	}
	var after int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 0 {
			v.add("cursor", "must be the next_cursor of a previous page")
		}
		after = n
	}
	if err := v.err(); err != nil {
		return err
	}
	if _, err := s.visibleWarehouse(c, p, wh); err != nil {
		return err
	}
	rows, err := s.q.ListMovements(c.Request().Context(), dbgen.ListMovementsParams{
		WarehouseCode: wh, Sku: queryOpt(c, "sku"), After: after, Lim: limit,
	})
	if err != nil {
		return err
	}
	out := make([]Movement, len(rows))
	for i, r := range rows {
		out[i] = Movement{
			ID: r.ID, PostingKey: r.PostingKey, Warehouse: r.WarehouseCode, SKU: r.Sku, Reason: r.Reason,
			OnHandDelta: r.OnHandDelta, ReservedDelta: r.ReservedDelta, InTransitDelta: r.InTransitDelta,
			Reference: r.Reference, Actor: r.Actor, CreatedAt: r.CreatedAt,
		}
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x Movement) string { return strconv.FormatInt(x.ID, 10) }))
}

// ---- goods receipts ----

type receiptLineInput struct {
	SKU *string `json:"sku"`
	Qty *int64  `json:"qty"`
}

type receiptInput struct {
	Warehouse   *string           `json:"warehouse"`
	SupplierRef *string           `json:"supplier_ref"`
	Lines       []json.RawMessage `json:"lines"`
}

// Receipt is a goods receipt and where its workflow stands.
type Receipt struct {
	Key         string                   `json:"key"`
	Warehouse   string                   `json:"warehouse"`
	SupplierRef string                   `json:"supplier_ref"`
	Status      string                   `json:"status"`
	Failure     string                   `json:"failure,omitempty"`
	Lines       []activities.ReceiptLine `json:"lines"`
	CreatedAt   time.Time                `json:"created_at"`
	PostedAt    *time.Time               `json:"posted_at"`
	WorkflowID  string                   `json:"workflow_id"`
}

func receiptOf(r dbgen.StockReceipt) (Receipt, error) {
	out := Receipt{
		Key: r.Key, Warehouse: r.WarehouseCode, SupplierRef: r.SupplierRef, Status: r.Status, Failure: r.Failure,
		CreatedAt: r.CreatedAt, PostedAt: r.PostedAt, WorkflowID: workflows.StockReceiptID(r.Key),
	}
	if err := json.Unmarshal(r.Lines, &out.Lines); err != nil {
		return out, fmt.Errorf("receipt %s lines: %w", r.Key, err)
	}
	return out, nil
}

// receiptWriters may book goods receipts: HQ into any warehouse, an agent
// into its own.
var receiptWriters = []auth.Role{auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleAgent}

const maxReceiptLines = 500

// createReceipt books a goods receipt and starts its StockReceipt workflow.
// The Idempotency-Key header is the receipt's business key: the same key with
// the same body returns the same receipt and never starts a second workflow.
func (s *server) createReceipt(c echo.Context) error {
	p, err := allow(c, receiptWriters...)
	if err != nil {
		return err
	}
	key, err := requiredIdempotencyKey(c)
	if err != nil {
		return err
	}
	var in receiptInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	v := &validator{}
	wh := v.code("warehouse", in.Warehouse, true)
	ref := v.text("supplier_ref", in.SupplierRef, false, 200)
	if len(in.Lines) == 0 {
		v.add("lines", "at least one line is required")
	} else if len(in.Lines) > maxReceiptLines {
		v.add("lines", fmt.Sprintf("at most %d lines", maxReceiptLines))
	}
	lines := make([]activities.ReceiptLine, 0, len(in.Lines))
	seen := map[string]bool{}
	for i, l := range decodeEach[receiptLineInput](v, "lines", in.Lines) {
		f := fmt.Sprintf("lines[%d]", i)
		sku := v.code(f+".sku", l.SKU, true)
		qty := v.positiveInt(f+".qty", l.Qty, true, 10_000_000)
		if sku != "" && seen[sku] {
			v.add(f+".sku", "appears twice; put the whole quantity on one line")
		}
		seen[sku] = true
		lines = append(lines, activities.ReceiptLine{SKU: sku, Qty: qty})
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	w, err := s.q.GetWarehouse(ctx, wh)
	if errors.Is(err, pgx.ErrNoRows) {
		return errInvalid(FieldError{Field: "warehouse", Detail: "refers to something that does not exist"})
	} else if err != nil {
		return err
	}
	if p.Is(auth.RoleAgent) && (w.OwnerAgentCode == nil || *w.OwnerAgentCode != p.Agent) {
		return errForbidden("an agent books receipts only into its own warehouses")
	}
	for i, l := range lines {
		if _, err := s.q.GetProduct(ctx, l.SKU); errors.Is(err, pgx.ErrNoRows) {
			v.add(fmt.Sprintf("lines[%d].sku", i), "refers to something that does not exist")
		} else if err != nil {
			return err
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	body, err := json.Marshal(lines)
	if err != nil {
		return err
	}

	status := http.StatusAccepted
	var rec dbgen.StockReceipt
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		var err error
		rec, err = q.CreateStockReceipt(ctx, dbgen.CreateStockReceiptParams{
			Key: key, WarehouseCode: wh, SupplierRef: ref, Lines: body, CreatedBy: p.UserID,
		})
		if errors.Is(err, pgx.ErrNoRows) { // the key exists: same request again?
			if rec, err = q.GetStockReceipt(ctx, key); err != nil {
				return err
			}
			var prev []activities.ReceiptLine
			_ = json.Unmarshal(rec.Lines, &prev)
			prevBody, _ := json.Marshal(prev)
			if rec.WarehouseCode != wh || rec.SupplierRef != ref || !bytes.Equal(prevBody, body) || rec.CreatedBy != p.UserID {
				return errConflict("Idempotency-Key " + key + " was already used for a different receipt")
			}
			if rec.Status != workflows.ReceiptPending {
				status = http.StatusOK // already done: nothing new was accepted
			}
			return nil
		}
		if err != nil {
			return err
		}
		return audit(ctx, q, c, "create", "stock_receipt", key, in)
	})
	if err != nil {
		return err
	}
	// Start (or find) the workflow. On a retry after a failure here the row
	// exists and the start is attempted again; USE_EXISTING makes it safe.
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.StockReceiptID(key), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAEntity.ValueSet(workflows.EntityStockReceipt), workflows.SAKey.ValueSet(key),
			workflows.SAStatus.ValueSet(workflows.ReceiptPending), workflows.SAAgent.ValueSet(deref(w.OwnerAgentCode)),
			workflows.SARegion.ValueSet(w.Region),
		),
	}, workflows.StockReceipt, workflows.StockReceiptInput{
		Key: key, Warehouse: wh, Actor: fmt.Sprintf("user:%d", p.UserID), Lines: lines,
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) { // already started and closed: it ran
		s.logger.ErrorContext(ctx, "start stock receipt workflow", "key", key, "error", err)
		return errUnavailable("the receipt is recorded but its workflow could not be started; retry with the same Idempotency-Key")
	}
	out, err := receiptOf(rec)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/inventory/receipts/"+key)
	return c.JSON(status, out)
}

func (s *server) getReceipt(c echo.Context) error {
	p := principal(c)
	key := c.Param("key")
	rec, err := s.q.GetStockReceipt(c.Request().Context(), key)
	if err != nil {
		return notFound(err, "receipt", key)
	}
	if _, err := s.visibleWarehouse(c, p, rec.WarehouseCode); err != nil {
		return err
	}
	out, err := receiptOf(rec)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func codeLike(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == ':':
		default:
			return false
		}
	}
	return true
}

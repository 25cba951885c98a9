package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	"github.com/alliance/backoffice/internal/money"
	"github.com/alliance/backoffice/internal/orders"
	"github.com/alliance/backoffice/internal/pricing"
	"github.com/alliance/backoffice/workflows"
)

func (s *server) orderRoutes(g *echo.Group) {
	g.POST("/pricing/quote", s.quote)
	g.POST("/orders", s.submitOrder)
	g.GET("/orders", s.listOrders)
	g.GET("/orders/:id", s.getOrder)
	g.POST("/orders/:id/decisions", s.decideOrder)
	g.POST("/orders/:id/fulfilment", s.fulfilOrder)
	g.POST("/orders/:id/cancel", s.cancelOrder)
	g.GET("/approvals", s.listApprovals)
	g.GET("/approval-rules", s.listApprovalRules)
	g.PUT("/approval-rules/:kind", s.putApprovalRules)
	g.GET("/discount-ladder", s.getDiscountLadder)
	g.PUT("/discount-ladder", s.putDiscountLadder)
}

// ---- request decoding shared by quote and submit ----

type orderLineInput struct {
	SKU *string `json:"sku"`
	Qty *int64  `json:"qty"`
}

type buyerInput struct {
	Kind *string `json:"kind"`
	Code *string `json:"code"`
}

type orderInput struct {
	Lines []json.RawMessage `json:"lines"`
	// Buyer is for HQ roles quoting on someone's behalf; agents and stores
	// always buy for themselves.
	Buyer *buyerInput `json:"buyer,omitempty"`
}

const maxOrderLines = 200

// orderBuyer decides who buys: the caller itself for agents and stores; for
// HQ roles quoting, the buyer named in the body.
func (s *server) orderBuyer(c echo.Context, p auth.Principal, in orderInput, v *validator, quoting bool) (orders.Buyer, error) {
	kind, code := "", ""
	switch {
	case p.Is(auth.RoleAgent):
		kind, code = "agent", p.Agent
	case p.Is(auth.RoleStore):
		kind, code = "store", p.Store
	case quoting && p.HQ():
		if in.Buyer == nil {
			v.add("buyer", "is required when HQ asks for a quote: {\"kind\": \"agent\"|\"store\", \"code\": ...}")
			return orders.Buyer{}, nil
		}
		kind = v.enum("buyer.kind", in.Buyer.Kind, true, "agent", "store")
		code = v.code("buyer.code", in.Buyer.Code, true)
	default:
		return orders.Buyer{}, errForbidden("only agents and stores place orders")
	}
	if in.Buyer != nil && !p.HQ() {
		v.add("buyer", "agents and stores order for themselves: leave buyer out")
	}
	if kind == "" || code == "" {
		return orders.Buyer{}, nil
	}
	b, err := orders.LoadBuyer(c.Request().Context(), s.q, kind, code)
	switch {
	case errors.Is(err, orders.ErrUnknownBuyer):
		v.add("buyer.code", "refers to something that does not exist")
		return b, nil
	case errors.Is(err, orders.ErrNotSetUp):
		return b, errConflict(err.Error())
	}
	return b, err
}

// orderLines validates the lines and loads their products: SKUs must exist
// and be active, quantities whole and in whole cases where the SKU says so.
func (s *server) orderLines(c echo.Context, raw []json.RawMessage, v *validator) ([]orders.Line, error) {
	if len(raw) == 0 {
		v.add("lines", "at least one line is required")
		return nil, nil
	}
	if len(raw) > maxOrderLines {
		v.add("lines", fmt.Sprintf("at most %d lines", maxOrderLines))
		return nil, nil
	}
	var out []orders.Line
	seen := map[string]bool{}
	for i, l := range decodeEach[orderLineInput](v, "lines", raw) {
		f := fmt.Sprintf("lines[%d]", i)
		sku := v.code(f+".sku", l.SKU, true)
		qty := v.positiveInt(f+".qty", l.Qty, true, 1_000_000)
		if sku == "" || qty == 0 {
			continue
		}
		if seen[sku] {
			v.add(f+".sku", "appears twice; put the whole quantity on one line")
			continue
		}
		seen[sku] = true
		p, err := s.q.GetProduct(c.Request().Context(), sku)
		if errors.Is(err, pgx.ErrNoRows) {
			v.add(f+".sku", "refers to something that does not exist")
			continue
		} else if err != nil {
			return nil, err
		}
		if !p.Active {
			v.add(f+".sku", "is no longer sold")
			continue
		}
		if p.WholeCases && qty%int64(p.CaseSize) != 0 {
			v.add(f+".qty", fmt.Sprintf("%s is sold in whole cases of %d: %d is not a multiple", sku, p.CaseSize, qty))
			continue
		}
		out = append(out, orders.Line{Product: p, Qty: qty})
	}
	return out, nil
}

// ---- quote ----

// Quote is a priced order, every amount explained, with two-decimal amounts.
type Quote struct {
	Buyer             string           `json:"buyer"`
	Warehouse         string           `json:"warehouse"`
	Lines             []QuoteLine      `json:"lines"`
	ListTotal         money.Amount     `json:"list_total"`
	GradeDiscount     money.Amount     `json:"grade_discount"`
	LadderDiscount    money.Amount     `json:"ladder_discount"`
	PromotionDiscount money.Amount     `json:"promotion_discount"`
	DiscountTotal     money.Amount     `json:"discount_total"`
	NetTotal          money.Amount     `json:"net_total"`
	CreditOffset      money.Amount     `json:"credit_offset"`
	Payable           money.Amount     `json:"payable"`
	Steps             []QuoteStep      `json:"steps"`
	Promotions        []QuotePromotion `json:"promotions"`
	// FreeGoods are gifts promotions add to the order (no price).
	FreeGoods []pricing.FreeGood `json:"free_goods"`
	// RebateRates are bonus rates on campaign SKUs, for quarterly settlement.
	RebateRates []pricing.RebateRate `json:"rebate_rates"`
}

// QuoteLine is a priced line.
type QuoteLine struct {
	SKU           string       `json:"sku"`
	Qty           int64        `json:"qty"`
	ListPrice     money.Amount `json:"list_price"`
	ListAmount    money.Amount `json:"list_amount"`
	GradeDiscount money.Amount `json:"grade_discount"`
	NetAmount     money.Amount `json:"net_amount"`
	// NetValue is the line's share of the order's net total (after the
	// ladder and promotions), to the fen; returns are valued from it.
	NetValue money.Amount `json:"net_value"`
	Steps    []QuoteStep  `json:"steps"`
}

// QuoteStep explains one amount.
type QuoteStep struct {
	Rule   string       `json:"rule"`
	Amount money.Amount `json:"amount"`
	Note   string       `json:"note"`
}

// QuotePromotion says what a promotion did, or why it did not apply.
type QuotePromotion struct {
	Rule     string       `json:"rule"`
	Applied  bool         `json:"applied"`
	Discount money.Amount `json:"discount"`
	Note     string       `json:"note"`
}

func steps(in []pricing.Step) []QuoteStep {
	out := make([]QuoteStep, len(in))
	for i, s := range in {
		out[i] = QuoteStep{Rule: s.Rule, Amount: money.A(s.Amount), Note: s.Note}
	}
	return out
}

func quoteOf(b orders.Buyer, q pricing.Quote) Quote {
	out := Quote{
		Buyer: b.Kind + ":" + b.Code, Warehouse: b.Warehouse,
		ListTotal: money.A(q.ListTotal), GradeDiscount: money.A(q.GradeDiscount), LadderDiscount: money.A(q.LadderDiscount),
		PromotionDiscount: money.A(q.PromotionDiscount), DiscountTotal: money.A(q.DiscountTotal), NetTotal: money.A(q.NetTotal),
		CreditOffset: money.A(q.CreditOffset), Payable: money.A(q.Payable), Steps: steps(q.Steps), Promotions: []QuotePromotion{},
		FreeGoods: append([]pricing.FreeGood{}, q.FreeGoods...), RebateRates: append([]pricing.RebateRate{}, q.RebateRates...),
	}
	for _, l := range q.Lines {
		out.Lines = append(out.Lines, QuoteLine{SKU: l.SKU, Qty: l.Qty, ListPrice: money.A(l.ListPrice), ListAmount: money.A(l.ListAmount),
			GradeDiscount: money.A(l.GradeDiscount), NetAmount: money.A(l.NetAmount), NetValue: money.A(l.NetValue), Steps: steps(l.Steps)})
	}
	for _, p := range q.Promotions {
		out.Promotions = append(out.Promotions, QuotePromotion{Rule: p.Rule, Applied: p.Applied, Discount: money.A(p.Discount), Note: p.Note})
	}
	return out
}

// priceRequest decodes and validates an order body and prices it.
func (s *server) priceRequest(c echo.Context, quoting bool) (auth.Principal, orders.Buyer, []orders.Line, pricing.Quote, error) {
	p, in, err := readInput[orderInput](c, auth.RoleAgent, auth.RoleStore, auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps)
	if err != nil {
		return p, orders.Buyer{}, nil, pricing.Quote{}, err
	}
	v := &validator{}
	b, err := s.orderBuyer(c, p, in, v, quoting)
	if err != nil {
		return p, b, nil, pricing.Quote{}, err
	}
	lines, err := s.orderLines(c, in.Lines, v)
	if err != nil {
		return p, b, nil, pricing.Quote{}, err
	}
	if err := v.err(); err != nil {
		return p, b, nil, pricing.Quote{}, err
	}
	q, err := orders.Quote(c.Request().Context(), s.q, b, lines)
	return p, b, lines, q, err
}

// quote prices lines exactly as an order would be priced, without ordering.
func (s *server) quote(c echo.Context) error {
	_, b, _, q, err := s.priceRequest(c, true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, quoteOf(b, q))
}

// ---- orders ----

// Order is a purchase order with its pricing, approvals and timeline.
type Order struct {
	ID             string       `json:"id"`
	WorkflowID     string       `json:"workflow_id"`
	BuyerKind      string       `json:"buyer_kind"`
	BuyerCode      string       `json:"buyer_code"`
	Agent          string       `json:"agent"`
	Store          *string      `json:"store"`
	Region         string       `json:"region"`
	Warehouse      string       `json:"warehouse"`
	Status         string       `json:"status"`
	ClosedReason   string       `json:"closed_reason,omitempty"`
	ListTotal      money.Amount `json:"list_total"`
	DiscountTotal  money.Amount `json:"discount_total"`
	NetTotal       money.Amount `json:"net_total"`
	CreditOffset   money.Amount `json:"credit_offset"`
	Payable        money.Amount `json:"payable"`
	Reserved       bool         `json:"reserved"`
	Carrier        string       `json:"carrier,omitempty"`
	TrackingNumber string       `json:"tracking_number,omitempty"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	ApprovedAt     *time.Time   `json:"approved_at"`
	Pricing        *Quote       `json:"pricing,omitempty"`
	// FreeGoods are the gifts (搭赠) the order's promotions gave: reserved,
	// released and shipped with its lines, at no price (absent when it has
	// none, in lists and on submission, where pricing.free_goods shows them).
	FreeGoods []OrderFreeGood `json:"free_goods,omitempty"`
	Approvals []ApprovalStep  `json:"approvals,omitempty"`
	Timeline  []TimelineEvent `json:"timeline,omitempty"`
}

// OrderFreeGood is a gift an order carries: which SKU, how many, and the
// campaign rule that gave it.
type OrderFreeGood struct {
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
	Campaign string `json:"campaign"`
	Rule     string `json:"rule"`
	Note     string `json:"note"`
}

// ApprovalStep is one step of an order's approval chain.
type ApprovalStep struct {
	Step      int        `json:"step"`
	Role      string     `json:"role"`
	Agent     *string    `json:"agent,omitempty"`
	Reason    string     `json:"reason"`
	Status    string     `json:"status"`
	Reminded  bool       `json:"reminded"`
	Escalated bool       `json:"escalated"`
	DecidedBy *int64     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	Comment   string     `json:"comment,omitempty"`
	OpenedAt  *time.Time `json:"opened_at,omitempty"`
}

// TimelineEvent is one entry of an order's timeline.
type TimelineEvent struct {
	At     time.Time       `json:"at"`
	Kind   string          `json:"kind"`
	Actor  string          `json:"actor"`
	Detail json.RawMessage `json:"detail"`
}

func orderOf(o dbgen.Order) Order {
	return Order{
		ID: o.ID, WorkflowID: workflows.OrderID(o.ID), BuyerKind: o.BuyerKind, BuyerCode: o.BuyerCode, Agent: o.AgentCode,
		Store: o.StoreCode, Region: o.Region, Warehouse: o.WarehouseCode, Status: o.Status, ClosedReason: o.ClosedReason,
		ListTotal: money.A(o.ListTotal), DiscountTotal: money.A(o.DiscountTotal), NetTotal: money.A(o.NetTotal),
		CreditOffset: money.A(o.CreditOffset), Payable: money.A(o.Payable), Reserved: o.Reserved, Carrier: o.Carrier,
		TrackingNumber: o.TrackingNumber, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, ApprovedAt: o.ApprovedAt,
	}
}

// orderDetail loads an order with pricing, approvals and timeline.
func (s *server) orderDetail(ctx context.Context, o dbgen.Order) (Order, error) {
	out := orderOf(o)
	var q Quote
	if err := json.Unmarshal(o.Pricing, &q); err != nil {
		return out, fmt.Errorf("order %s pricing: %w", o.ID, err)
	}
	out.Pricing = &q
	// The lines' net values are the stored ones (orders priced before net
	// values existed got theirs when the column was added).
	lines, err := s.q.ListOrderLines(ctx, o.ID)
	if err != nil {
		return out, fmt.Errorf("order %s lines: %w", o.ID, err)
	}
	for _, l := range lines {
		if i := int(l.LineNo) - 1; i >= 0 && i < len(q.Lines) && q.Lines[i].SKU == l.Sku {
			q.Lines[i].NetValue = money.A(l.NetValue)
		}
	}
	free, err := s.q.ListOrderFreeGoods(ctx, o.ID)
	if err != nil {
		return out, fmt.Errorf("order %s free goods: %w", o.ID, err)
	}
	out.FreeGoods = []OrderFreeGood{}
	for _, g := range free {
		out.FreeGoods = append(out.FreeGoods, OrderFreeGood{SKU: g.Sku, Qty: g.Qty, Campaign: g.CampaignID, Rule: g.RuleID, Note: g.Note})
	}
	steps, err := s.q.ListApprovalSteps(ctx, o.ID)
	if err != nil {
		return out, err
	}
	out.Approvals = []ApprovalStep{}
	for _, a := range steps {
		out.Approvals = append(out.Approvals, ApprovalStep{Step: int(a.StepNo), Role: a.Role, Agent: a.AgentCode, Reason: a.Reason,
			Status: a.Status, Reminded: a.Reminded, Escalated: a.Escalated, DecidedBy: a.DecidedBy, DecidedAt: a.DecidedAt,
			Comment: a.Comment, OpenedAt: a.OpenedAt})
	}
	events, err := s.q.ListOrderEvents(ctx, o.ID)
	if err != nil {
		return out, err
	}
	out.Timeline = []TimelineEvent{}
	for _, e := range events {
		out.Timeline = append(out.Timeline, TimelineEvent{At: e.At, Kind: e.Kind, Actor: e.Actor, Detail: e.Detail})
	}
	return out, nil
}

// seesOrder reports whether p may see order o: HQ roles all; an agent its
// own orders and its stores'; a store its own.
func seesOrder(p auth.Principal, o dbgen.Order) bool {
	switch p.Role {
	case auth.RoleAgent:
		return o.AgentCode == p.Agent
	case auth.RoleStore:
		return o.StoreCode != nil && *o.StoreCode == p.Store
	case auth.RoleBA:
		return false
	}
	return p.HQ()
}

// visibleOrder loads an order the caller may see.
func (s *server) visibleOrder(c echo.Context, p auth.Principal) (dbgen.Order, error) {
	id := c.Param("id")
	o, err := s.q.GetOrder(c.Request().Context(), id)
	if err != nil {
		return o, notFound(err, "order", id)
	}
	if !seesOrder(p, o) {
		return o, errForbidden("order " + id + " is outside your scope")
	}
	return o, nil
}

// submitOrder prices the order, records it and starts its OrderApproval
// workflow. The Idempotency-Key header makes a retry return the same order.
func (s *server) submitOrder(c echo.Context) error {
	if p := principal(c); !p.Is(auth.RoleAgent, auth.RoleStore) {
		return errForbidden("only agents and stores place orders")
	}
	key, err := requiredIdempotencyKey(c)
	if err != nil {
		return err
	}
	p, b, lines, q, err := s.priceRequest(c, false)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pricingJSON, err := json.Marshal(quoteOf(b, q))
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	var o dbgen.Order
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		qq := dbgen.New(tx)
		no, err := qq.NextOrderNo(ctx)
		if err != nil {
			return err
		}
		var store *string
		if b.Kind == "store" {
			store = &b.Store
		}
		o, err = qq.InsertOrder(ctx, dbgen.InsertOrderParams{
			ID: fmt.Sprintf("PO-%s-%06d", time.Now().UTC().Format("20060102"), no), BuyerKind: b.Kind, BuyerCode: b.Code,
			AgentCode: b.Agent, StoreCode: store, Region: b.Region, WarehouseCode: b.Warehouse,
			ListTotal: q.ListTotal, DiscountTotal: q.DiscountTotal, NetTotal: q.NetTotal, CreditOffset: q.CreditOffset,
			Payable: q.Payable, Pricing: pricingJSON, IdempotencyKey: key, CreatedBy: p.UserID,
		})
		if errors.Is(err, pgx.ErrNoRows) { // the key was used: the same order again?
			if o, err = qq.GetOrderByKey(ctx, dbgen.GetOrderByKeyParams{BuyerKind: b.Kind, BuyerCode: b.Code, IdempotencyKey: key}); err != nil {
				return err
			}
			prev, err := qq.ListOrderLines(ctx, o.ID)
			if err != nil {
				return err
			}
			if !sameLines(prev, lines) {
				return errConflict("Idempotency-Key " + key + " was already used for a different order (" + o.ID + ")")
			}
			if o.Status != activities.OrderSubmitted {
				status = http.StatusOK
			}
			return nil
		}
		if err != nil {
			return err
		}
		for i, l := range q.Lines {
			if err := qq.InsertOrderLine(ctx, dbgen.InsertOrderLineParams{OrderID: o.ID, LineNo: int32(i + 1), Sku: l.SKU, Qty: l.Qty,
				ListPrice: l.ListPrice, NetAmount: l.NetAmount, NetValue: l.NetValue}); err != nil {
				return err
			}
		}
		if err := orderSubmitted(ctx, qq, o, p); err != nil {
			return err
		}
		// The credit offset is paid from the buyer's credit notes, each use
		// recorded; a balance spent meanwhile refuses the order.
		if err := orders.UseCredit(ctx, qq, b, o.ID, q.CreditOffset); errors.Is(err, orders.ErrCreditChanged) {
			return errConflict(err.Error() + "; submit again to price it with the current balance")
		} else if err != nil {
			return err
		}
		// The promotions it used count for their caps and the campaign's
		// figures, re-checked under a lock per capped rule; its free goods
		// become part of the order.
		if err := orders.RecordPromotions(ctx, qq, b, o.ID, q); errors.Is(err, orders.ErrPromotionChanged) {
			return errConflict(err.Error() + "; submit again to price it with the promotion's current usage")
		} else if err != nil {
			return err
		}
		return audit(ctx, qq, c, "submit", "order", o.ID, json.RawMessage(pricingJSON))
	})
	if err != nil {
		return err
	}
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.OrderID(o.ID), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAEntity.ValueSet(workflows.EntityOrder), workflows.SAKey.ValueSet(o.ID),
			workflows.SAStatus.ValueSet(activities.OrderSubmitted), workflows.SAAgent.ValueSet(o.AgentCode),
			workflows.SARegion.ValueSet(o.Region), workflows.SABuyer.ValueSet(o.BuyerCode),
		),
	}, workflows.OrderApproval, workflows.OrderInput{OrderID: o.ID})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		s.logger.ErrorContext(ctx, "start order workflow", "order", o.ID, "error", err)
		return errUnavailable("the order is recorded but its workflow could not be started; retry with the same Idempotency-Key")
	}
	out := orderOf(o)
	var stored Quote // the order's own pricing, also on a repeat
	if err := json.Unmarshal(o.Pricing, &stored); err != nil {
		return fmt.Errorf("order %s pricing: %w", o.ID, err)
	}
	out.Pricing = &stored
	c.Response().Header().Set(echo.HeaderLocation, "/v1/orders/"+o.ID)
	return c.JSON(status, out)
}

func orderSubmitted(ctx context.Context, q *dbgen.Queries, o dbgen.Order, p auth.Principal) error {
	detail, _ := json.Marshal(map[string]any{"payable": money.A(o.Payable), "warehouse": o.WarehouseCode})
	return q.InsertOrderEvent(ctx, dbgen.InsertOrderEventParams{OrderID: o.ID, Kind: "submitted",
		Actor: fmt.Sprintf("user:%d (%s)", p.UserID, p.Role), Detail: detail, DedupKey: "submitted"})
}

func sameLines(prev []dbgen.ListOrderLinesRow, lines []orders.Line) bool {
	if len(prev) != len(lines) {
		return false
	}
	want := map[string]int64{}
	for _, l := range lines {
		want[l.Product.Sku] = l.Qty
	}
	for _, l := range prev {
		if want[l.Sku] != l.Qty {
			return false
		}
	}
	return true
}

var orderStatuses = []string{activities.OrderSubmitted, activities.OrderPendingApproval, activities.OrderApproved, activities.OrderPicking,
	activities.OrderShipped, activities.OrderDelivered, activities.OrderRejected, activities.OrderExpired, activities.OrderCancelled}

func (s *server) listOrders(c echo.Context) error {
	p := principal(c)
	if p.Is(auth.RoleBA) {
		return errForbidden("BAs do not see orders")
	}
	v := &validator{}
	limit, after := page(c, v)
	status := queryEnum(c, v, "status", orderStatuses...)
	from := v.date("from", queryOpt(c, "from"), false)
	to := v.date("to", queryOpt(c, "to"), false)
	if err := v.err(); err != nil {
		return err
	}
	var toEnd *time.Time
	if to != nil {
		t := to.AddDate(0, 0, 1) // to is inclusive: orders of that whole day
		toEnd = &t
	}
	var scopeAgent, scopeStore *string
	switch {
	case p.Is(auth.RoleAgent):
		scopeAgent = &p.Agent
	case p.Is(auth.RoleStore):
		scopeStore = &p.Store
	}
	rows, err := s.q.ListOrders(c.Request().Context(), dbgen.ListOrdersParams{
		Status: status, Buyer: queryOpt(c, "buyer"), Region: queryOpt(c, "region"), FromTs: from, ToTs: toEnd,
		ScopeAgent: scopeAgent, ScopeStore: scopeStore, After: after, Lim: limit,
	})
	if err != nil {
		return err
	}
	out := make([]Order, len(rows))
	for i, r := range rows {
		out[i] = orderOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x Order) string { return x.ID }))
}

func (s *server) getOrder(c echo.Context) error {
	o, err := s.visibleOrder(c, principal(c))
	if err != nil {
		return err
	}
	out, err := s.orderDetail(c.Request().Context(), o)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// ---- decisions, fulfilment, cancellation: Temporal Updates ----

// updateOrder sends an update to the order's workflow and answers with the
// order as it stands once the update completed. Validator rejections become
// problems: Forbidden 403, Conflict 409, Invalid 422.
func (s *server) updateOrder(c echo.Context, o dbgen.Order, name string, arg any) error {
	ctx := c.Request().Context()
	opts := client.UpdateWorkflowOptions{
		WorkflowID: workflows.OrderID(o.ID), UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	}
	if k := c.Request().Header.Get("Idempotency-Key"); k != "" {
		if len(k) > 100 || !codeLike(k) {
			return errInvalid(FieldError{Field: "Idempotency-Key", Detail: "1-100 letters, digits, '-', '_', '.' or ':'"})
		}
		opts.UpdateID = fmt.Sprintf("%s:%d:%s", name, principal(c).UserID, k)
	}
	h, err := s.temporal.UpdateWorkflow(ctx, opts)
	if err == nil {
		var st workflows.OrderState
		err = h.Get(ctx, &st)
	}
	if err != nil {
		return updateError(err, o)
	}
	fresh, err := s.q.GetOrder(ctx, o.ID)
	if err != nil {
		return err
	}
	out, err := s.orderDetail(ctx, fresh)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func updateError(err error, o dbgen.Order) error {
	if p := updateRejection(err); p != nil {
		return p
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		if o.Status == activities.OrderSubmitted {
			return errUnavailable(fmt.Sprintf("order %s has no running workflow yet: repeat its submission with the same Idempotency-Key", o.ID))
		}
		return errConflict(fmt.Sprintf("order %s is closed (%s): it takes no more changes", o.ID, o.Status))
	}
	return err
}

type decisionInput struct {
	Decision *string `json:"decision"`
	Comment  *string `json:"comment"`
	Step     *int64  `json:"step"`
}

func actorOf(p auth.Principal) workflows.Actor {
	return workflows.Actor{UserID: p.UserID, Role: string(p.Role), Agent: p.Agent}
}

// decideOrder approves or rejects the order's open approval step.
func (s *server) decideOrder(c echo.Context) error {
	p, in, err := readInput[decisionInput](c, auth.RoleAgent, auth.RoleHQSales, auth.RoleFinance, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	v := &validator{}
	decision := v.enum("decision", in.Decision, true, "approve", "reject")
	comment := ""
	if in.Comment != nil {
		comment = v.text("comment", in.Comment, decision == "reject", 1000)
	} else if decision == "reject" {
		v.add("comment", "is required to reject")
	}
	step := v.positiveInt("step", in.Step, false, 10)
	if err := v.err(); err != nil {
		return err
	}
	o, err := s.visibleOrder(c, p)
	if err != nil {
		return err
	}
	return s.updateOrder(c, o, workflows.OrderDecideUpdate, workflows.Decision{
		Actor: actorOf(p), Step: int(step), Approve: decision == "approve", Comment: comment,
	})
}

type fulfilmentInput struct {
	Stage          *string `json:"stage"`
	Carrier        *string `json:"carrier"`
	TrackingNumber *string `json:"tracking_number"`
}

// fulfilOrder records picking, shipping or delivery, reported by the
// fulfilling warehouse's owner: HQ for HQ warehouses, the agent for its own.
func (s *server) fulfilOrder(c echo.Context) error {
	p, in, err := readInput[fulfilmentInput](c, auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleAgent)
	if err != nil {
		return err
	}
	v := &validator{}
	stage := v.enum("stage", in.Stage, true, activities.OrderPicking, activities.OrderShipped, activities.OrderDelivered)
	carrier := v.text("carrier", in.Carrier, stage == activities.OrderShipped, 100)
	tracking := v.text("tracking_number", in.TrackingNumber, stage == activities.OrderShipped, 100)
	if err := v.err(); err != nil {
		return err
	}
	o, err := s.visibleOrder(c, p)
	if err != nil {
		return err
	}
	w, err := s.q.GetWarehouse(c.Request().Context(), o.WarehouseCode)
	if err != nil {
		return err
	}
	owner := w.OwnerKind == "agent" && w.OwnerAgentCode != nil && *w.OwnerAgentCode == p.Agent && p.Is(auth.RoleAgent)
	if !owner && !(p.Is(auth.RoleHQAdmin, auth.RoleHQSales) && (w.OwnerKind == "hq" || p.Is(auth.RoleHQAdmin))) {
		return errForbidden("fulfilment is reported by the owner of warehouse " + w.Code)
	}
	return s.updateOrder(c, o, workflows.OrderFulfilUpdate, workflows.Fulfilment{
		Actor: actorOf(p), Stage: stage, Carrier: carrier, TrackingNumber: tracking,
	})
}

type cancelInput struct {
	Reason *string `json:"reason"`
}

// cancelOrder cancels an order before it ships; its reservation is released.
func (s *server) cancelOrder(c echo.Context) error {
	p, in, err := readInput[cancelInput](c, auth.RoleAgent, auth.RoleStore, auth.RoleHQSales, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	v := &validator{}
	reason := v.text("reason", in.Reason, true, 1000)
	if err := v.err(); err != nil {
		return err
	}
	o, err := s.visibleOrder(c, p)
	if err != nil {
		return err
	}
	return s.updateOrder(c, o, workflows.OrderCancelUpdate, workflows.Cancellation{Actor: actorOf(p), Reason: reason})
}

// ---- approver inbox ----

// Approval is an approval step waiting for the caller.
type Approval struct {
	OrderID   string       `json:"order_id"`
	Step      int          `json:"step"`
	Role      string       `json:"role"`
	Agent     *string      `json:"agent,omitempty"`
	Reason    string       `json:"reason"`
	Escalated bool         `json:"escalated"`
	Reminded  bool         `json:"reminded"`
	OpenedAt  *time.Time   `json:"opened_at"`
	Buyer     string       `json:"buyer"`
	Region    string       `json:"region"`
	Payable   money.Amount `json:"payable"`
}

// listApprovals is an approver's inbox: GET /v1/approvals?assigned=me.
func (s *server) listApprovals(c echo.Context) error {
	p, err := allow(c, auth.RoleAgent, auth.RoleHQSales, auth.RoleFinance, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	if a := c.QueryParam("assigned"); a != "me" {
		return errInvalid(FieldError{Field: "assigned", Detail: "must be me (the caller's inbox)"})
	}
	params := dbgen.ListPendingApprovalsParams{Role: string(p.Role), EscalatedFrom: []string{}, UserID: p.UserID}
	switch p.Role {
	case auth.RoleAgent:
		params.Agent = &p.Agent
	case auth.RoleHQSales:
		params.EscalatedFrom = []string{"agent"}
	case auth.RoleHQAdmin:
		params.EscalatedFrom = []string{"hq_sales", "finance"}
	}
	rows, err := s.q.ListPendingApprovals(c.Request().Context(), params)
	if err != nil {
		return err
	}
	out := make([]Approval, len(rows))
	for i, r := range rows {
		out[i] = Approval{OrderID: r.OrderID, Step: int(r.StepNo), Role: r.Role, Agent: r.AgentCode, Reason: r.Reason,
			Escalated: r.Escalated, Reminded: r.Reminded, OpenedAt: r.OpenedAt, Buyer: r.BuyerKind + ":" + r.BuyerCode,
			Region: r.Region, Payable: money.A(r.Payable)}
	}
	return c.JSON(http.StatusOK, List[Approval]{Items: out})
}

// ---- routing rules and the discount ladder ----

// ApprovalRules are the routing rules of one ordering level.
type ApprovalRules struct {
	OrderKind           string       `json:"order_kind"`
	SecondApprovalAbove money.Amount `json:"second_approval_above"`
	ReminderAfter       string       `json:"reminder_after"`
	EscalateAfter       string       `json:"escalate_after"`
	ExpireAfter         string       `json:"expire_after"`
	UpdatedAt           time.Time    `json:"updated_at"`
}

func rulesOf(r dbgen.ApprovalRule) ApprovalRules {
	d := func(s int32) string { return (time.Duration(s) * time.Second).String() }
	return ApprovalRules{OrderKind: r.OrderKind, SecondApprovalAbove: money.A(r.SecondApprovalAbove),
		ReminderAfter: d(r.ReminderAfterS), EscalateAfter: d(r.EscalateAfterS), ExpireAfter: d(r.ExpireAfterS), UpdatedAt: r.UpdatedAt}
}

func (s *server) listApprovalRules(c echo.Context) error {
	if p := principal(c); !p.HQ() {
		return errForbidden("approval rules are visible to HQ roles")
	}
	rows, err := s.q.ListApprovalRules(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]ApprovalRules, len(rows))
	for i, r := range rows {
		out[i] = rulesOf(r)
	}
	return c.JSON(http.StatusOK, List[ApprovalRules]{Items: out})
}

type approvalRulesInput struct {
	SecondApprovalAbove *string `json:"second_approval_above"`
	ReminderAfter       *string `json:"reminder_after"`
	EscalateAfter       *string `json:"escalate_after"`
	ExpireAfter         *string `json:"expire_after"`
}

func (v *validator) duration(field string, s *string) time.Duration {
	if s == nil || *s == "" {
		v.add(field, `is required: a duration such as "24h" or "90m"`)
		return 0
	}
	d, err := time.ParseDuration(*s)
	if err != nil || d < time.Minute || d > 90*24*time.Hour || d%time.Second != 0 {
		v.add(field, `must be a whole number of seconds between 1m and 2160h, written like "24h" or "90m"`)
		return 0
	}
	return d
}

func (s *server) putApprovalRules(c echo.Context) error {
	_, in, err := readInput[approvalRulesInput](c, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	v := &validator{}
	kind := c.Param("kind")
	v.enum("kind", &kind, true, "agent", "store")
	second := v.amount("second_approval_above", in.SecondApprovalAbove, true, false)
	rem, esc, exp := v.duration("reminder_after", in.ReminderAfter), v.duration("escalate_after", in.EscalateAfter), v.duration("expire_after", in.ExpireAfter)
	if rem > 0 && esc > 0 && exp > 0 && !(rem < esc && esc < exp) {
		v.add("escalate_after", "must come after reminder_after and before expire_after")
	}
	if err := v.err(); err != nil {
		return err
	}
	var r dbgen.ApprovalRule
	err = s.write(c, "update", "approval_rules", kind, in, func(q *dbgen.Queries) (err error) {
		r, err = q.UpdateApprovalRules(c.Request().Context(), dbgen.UpdateApprovalRulesParams{
			OrderKind: kind, SecondApprovalAbove: second.Decimal,
			ReminderAfterS: int32(rem / time.Second), EscalateAfterS: int32(esc / time.Second), ExpireAfterS: int32(exp / time.Second),
		})
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rulesOf(r))
}

// LadderTier is one step of the order-amount discount ladder.
type LadderTier struct {
	Threshold   money.Amount `json:"threshold"`
	DiscountPct money.Amount `json:"discount_pct"`
}

func (s *server) getDiscountLadder(c echo.Context) error {
	rows, err := s.q.GetDiscountLadder(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]LadderTier, len(rows))
	for i, r := range rows {
		out[i] = LadderTier{Threshold: money.A(r.Threshold), DiscountPct: money.A(r.DiscountPct)}
	}
	return c.JSON(http.StatusOK, List[LadderTier]{Items: out})
}

type ladderInput struct {
	Tiers []json.RawMessage `json:"tiers"`
}

type tierInput struct {
	Threshold   *string `json:"threshold"`
	DiscountPct *string `json:"discount_pct"`
}

// putDiscountLadder replaces the whole ladder (an empty list removes it).
func (s *server) putDiscountLadder(c echo.Context) error {
	_, in, err := readInput[ladderInput](c, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	v := &validator{}
	if in.Tiers == nil {
		v.add("tiers", "is required (an empty list removes the ladder)")
	}
	var tiers []dbgen.InsertDiscountTierParams
	seen := map[string]bool{}
	for i, t := range decodeEach[tierInput](v, "tiers", in.Tiers) {
		f := fmt.Sprintf("tiers[%d]", i)
		th := v.amount(f+".threshold", t.Threshold, true, true)
		pct := v.percent(f+".discount_pct", t.DiscountPct, true)
		if pct.Valid && pct.Decimal.IsZero() {
			v.add(f+".discount_pct", "must be greater than zero")
		}
		if th.Valid {
			if seen[th.Decimal.String()] {
				v.add(f+".threshold", "appears twice")
			}
			seen[th.Decimal.String()] = true
		}
		tiers = append(tiers, dbgen.InsertDiscountTierParams{Threshold: th.Decimal, DiscountPct: pct.Decimal})
	}
	if err := v.err(); err != nil {
		return err
	}
	err = s.write(c, "replace", "discount_ladder", "all", in, func(q *dbgen.Queries) error {
		if err := q.DeleteDiscountLadder(c.Request().Context()); err != nil {
			return err
		}
		for _, t := range tiers {
			if err := q.InsertDiscountTier(c.Request().Context(), t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.getDiscountLadder(c)
}

package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/inventory"
	"github.com/alliance/backoffice/internal/orders"
)

// Orders holds the order approval activities. Each runs in one transaction
// that changes the order's rows, its timeline and, where stock moves, the
// ledger together; each is safe to run again (timeline events and ledger
// postings are keyed by order and step).
type Orders struct {
	Pool *pgxpool.Pool
}

// OrderCheck is one recorded check of an order, with its inputs.
type OrderCheck struct {
	Name   string         `json:"name"`
	Passed bool           `json:"passed"`
	Detail string         `json:"detail"`
	Inputs map[string]any `json:"inputs"`
}

func (a *Orders) tx(ctx context.Context, fn func(q *dbgen.Queries, tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error { return fn(dbgen.New(tx), tx) })
}

func orderEvent(ctx context.Context, q *dbgen.Queries, orderID, kind, actor, key string, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("event %s: %w", kind, err)
	}
	if err := q.InsertOrderEvent(ctx, dbgen.InsertOrderEventParams{OrderID: orderID, Kind: kind, Actor: actor, Detail: b, DedupKey: key}); err != nil {
		return fmt.Errorf("order %s: record %s: %w", orderID, kind, err)
	}
	return nil
}

// orderStock is what an order moves in its warehouse: its lines and the free
// goods (搭赠) its promotions gave, one inventory line per SKU (a gift of a
// SKU the order also buys adds to that line). Reservation, release and
// shipment all post exactly these, so they always agree.
type orderStock struct {
	lines []dbgen.ListOrderLinesRow
	free  []dbgen.OrderFreeGood
	// freeQty is the free quantity by SKU.
	freeQty map[string]int64
	post    []inventory.Line
}

func loadOrderStock(ctx context.Context, q *dbgen.Queries, o dbgen.Order) (orderStock, error) {
	st := orderStock{freeQty: map[string]int64{}}
	var err error
	if st.lines, err = q.ListOrderLines(ctx, o.ID); err != nil {
		return st, fmt.Errorf("order %s lines: %w", o.ID, err)
	}
	if st.free, err = q.ListOrderFreeGoods(ctx, o.ID); err != nil {
		return st, fmt.Errorf("order %s free goods: %w", o.ID, err)
	}
	at := map[string]int{}
	add := func(sku string, qty int64) {
		if i, ok := at[sku]; ok {
			st.post[i].Qty += qty
			return
		}
		at[sku] = len(st.post)
		st.post = append(st.post, inventory.Line{Warehouse: o.WarehouseCode, SKU: sku, Qty: qty})
	}
	for _, l := range st.lines {
		add(l.Sku, l.Qty)
	}
	for _, g := range st.free {
		add(g.Sku, g.Qty)
		st.freeQty[g.Sku] += g.Qty
	}
	return st, nil
}

// reserveOrder posts the order's reservation — its lines and its free goods
// — and marks it approved. A refusal by the ledger (stock gone meanwhile)
// rejects the order instead and is reported as ok=false; the caller's
// transaction then commits the rejection.
//
// Free goods are treated as the paid lines are: a gift short in the
// warehouse rejects the order (at evaluation, or here at approval), with
// nothing held. The gift is part of the terms the buyer ordered on, so the
// order is never approved and shipped without it; the buyer may order
// again once there is stock (or without the gift, when the campaign's
// terms no longer give it).
func reserveOrder(ctx context.Context, q *dbgen.Queries, tx pgx.Tx, o dbgen.Order, actor string) (ok bool, reason string, err error) {
	st, err := loadOrderStock(ctx, q, o)
	if err != nil {
		return false, "", err
	}
	sp, err := tx.Begin(ctx) // savepoint: a refused posting must not abort the rejection
	if err != nil {
		return false, "", err
	}
	_, err = inventory.PostTx(ctx, sp, inventory.Reserve(inventory.Op{Key: "order:" + o.ID + ":reserve", Reference: "order " + o.ID, Actor: actor}, st.post))
	if errors.Is(err, inventory.ErrInsufficientStock) {
		_ = sp.Rollback(ctx)
		reason = "stock no longer available at approval: " + err.Error()
		if err := q.SetOrderStatus(ctx, dbgen.SetOrderStatusParams{ID: o.ID, Status: OrderRejected, ClosedReason: reason}); err != nil {
			return false, "", err
		}
		return false, reason, orderEvent(ctx, q, o.ID, "rejected", "system", "rejected", map[string]string{"reason": reason})
	}
	if err != nil {
		_ = sp.Rollback(ctx)
		return false, "", fmt.Errorf("order %s: reserve: %w", o.ID, err)
	}
	if err := sp.Commit(ctx); err != nil {
		return false, "", err
	}
	if err := q.MarkOrderApproved(ctx, o.ID); err != nil {
		return false, "", err
	}
	if err := orderEvent(ctx, q, o.ID, "reserved", "system", "reserved", map[string]any{"warehouse": o.WarehouseCode, "lines": len(st.lines), "free_goods": len(st.free)}); err != nil {
		return false, "", err
	}
	return true, "", orderEvent(ctx, q, o.ID, "status", "system", "status:approved", map[string]string{"status": OrderApproved})
}

// Evaluate runs the order's checks — credit exposure, monthly quota, stock,
// whole cases — records each with its inputs, and routes the order: approved
// and reserved at once when inside policy and under the grade's auto-approval
// limit, rejected when stock is short, otherwise into an approval chain. Run
// again after it committed, it returns the same route from the stored state.
func (a *Orders) Evaluate(ctx context.Context, orderID string) (Route, error) {
	var route Route
	err := a.tx(ctx, func(q *dbgen.Queries, tx pgx.Tx) error {
		o, err := q.LockOrder(ctx, orderID)
		if err != nil {
			return fmt.Errorf("order %s: %w", orderID, err)
		}
		rules, err := q.GetApprovalRules(ctx, o.BuyerKind)
		if err != nil {
			return fmt.Errorf("approval rules %s: %w", o.BuyerKind, err)
		}
		route.Timing = Timing{
			Reminder: time.Duration(rules.ReminderAfterS) * time.Second,
			Escalate: time.Duration(rules.EscalateAfterS) * time.Second,
			Expire:   time.Duration(rules.ExpireAfterS) * time.Second,
		}
		if o.Status != OrderSubmitted { // already evaluated: replay the stored route
			return storedOrderRoute(ctx, q, o, &route)
		}
		buyer, err := orders.LoadBuyer(ctx, q, o.BuyerKind, o.BuyerCode)
		if err != nil {
			return err
		}
		st, err := loadOrderStock(ctx, q, o)
		if err != nil {
			return err
		}
		checks, err := orderChecks(ctx, q, o, buyer, st)
		if err != nil {
			return err
		}
		for _, c := range checks {
			if err := orderEvent(ctx, q, o.ID, "check", "system", "check:"+c.Name, c); err != nil {
				return err
			}
		}
		byName := map[string]OrderCheck{}
		for _, c := range checks {
			byName[c.Name] = c
		}
		if !byName["stock"].Passed {
			route.Outcome, route.Reason = RouteRejected, "insufficient stock: "+byName["stock"].Detail
			if err := q.SetOrderStatus(ctx, dbgen.SetOrderStatusParams{ID: o.ID, Status: OrderRejected, ClosedReason: route.Reason}); err != nil {
				return err
			}
			return orderEvent(ctx, q, o.ID, "rejected", "system", "rejected", map[string]string{"reason": route.Reason})
		}
		var reasons []string
		if !byName["quota"].Passed {
			reasons = append(reasons, "over the monthly quota")
		}
		if o.Payable.GreaterThan(buyer.Policy.AutoApprovalLimit) {
			reasons = append(reasons, fmt.Sprintf("payable %s above the auto-approval limit %s", o.Payable.StringFixed(2), buyer.Policy.AutoApprovalLimit.StringFixed(2)))
		}
		if !byName["credit"].Passed {
			reasons = append(reasons, "over the credit limit")
		}
		if len(reasons) == 0 {
			ok, why, err := reserveOrder(ctx, q, tx, o, "system")
			if err != nil {
				return err
			}
			if !ok {
				route.Outcome, route.Reason = RouteRejected, why
				return nil
			}
			route.Outcome = RouteApproved
			return orderEvent(ctx, q, o.ID, "routed", "system", "routed", map[string]string{"route": "auto-approved: inside policy and under the auto-approval limit"})
		}
		route.Outcome = RouteApproval
		first := ApprovalStep{No: 1, Role: "hq_sales", Reason: strings.Join(reasons, "; ")}
		if o.BuyerKind == "store" {
			first.Role, first.Agent = "agent", o.AgentCode
		}
		route.Steps = append(route.Steps, first)
		if o.Payable.GreaterThan(rules.SecondApprovalAbove) {
			route.Steps = append(route.Steps, ApprovalStep{No: len(route.Steps) + 1, Role: "hq_sales",
				Reason: fmt.Sprintf("payable %s above the second-approval threshold %s", o.Payable.StringFixed(2), rules.SecondApprovalAbove.StringFixed(2))})
		}
		if !byName["credit"].Passed {
			route.Steps = append(route.Steps, ApprovalStep{No: len(route.Steps) + 1, Role: "finance", Reason: "credit release: " + byName["credit"].Detail})
		}
		for _, s := range route.Steps {
			status := "waiting"
			if s.No == 1 {
				status = "pending"
			}
			var agent *string
			if s.Agent != "" {
				agent = &s.Agent
			}
			if err := q.InsertApprovalStep(ctx, dbgen.InsertApprovalStepParams{OrderID: o.ID, StepNo: int32(s.No), Role: s.Role, AgentCode: agent, Reason: s.Reason, Status: status}); err != nil {
				return fmt.Errorf("order %s: step %d: %w", o.ID, s.No, err)
			}
		}
		if err := q.SetOrderStatus(ctx, dbgen.SetOrderStatusParams{ID: o.ID, Status: OrderPendingApproval}); err != nil {
			return err
		}
		if err := orderEvent(ctx, q, o.ID, "routed", "system", "routed", map[string]any{"route": "approval", "steps": route.Steps}); err != nil {
			return err
		}
		return orderEvent(ctx, q, o.ID, "approval_requested", "system", "step:1:requested", route.Steps[0])
	})
	return route, err
}

// storedOrderRoute rebuilds the route of an order evaluated before.
func storedOrderRoute(ctx context.Context, q *dbgen.Queries, o dbgen.Order, r *Route) error {
	steps, err := q.ListApprovalSteps(ctx, o.ID)
	if err != nil {
		return err
	}
	switch {
	case len(steps) > 0:
		r.Outcome = RouteApproval
		for _, s := range steps {
			st := ApprovalStep{No: int(s.StepNo), Role: s.Role, Reason: s.Reason}
			if s.AgentCode != nil {
				st.Agent = *s.AgentCode
			}
			r.Steps = append(r.Steps, st)
		}
	case o.Status == OrderRejected:
		r.Outcome, r.Reason = RouteRejected, o.ClosedReason
	default:
		r.Outcome = RouteApproved
	}
	return nil
}

func orderChecks(ctx context.Context, q *dbgen.Queries, o dbgen.Order, b orders.Buyer, st orderStock) ([]OrderCheck, error) {
	credit, err := orders.AvailableCredit(ctx, q, b)
	if err != nil {
		return nil, err
	}
	exposure, err := q.BuyerExposure(ctx, dbgen.BuyerExposureParams{BuyerKind: o.BuyerKind, BuyerCode: o.BuyerCode, ID: o.ID})
	if err != nil {
		return nil, fmt.Errorf("credit exposure: %w", err)
	}
	total := exposure.Add(o.Payable).Sub(credit)
	creditCheck := OrderCheck{Name: "credit", Passed: total.LessThanOrEqual(b.CreditLimit),
		Detail: fmt.Sprintf("exposure %s (open unpaid %s + this order %s − available credit %s) vs limit %s",
			total.StringFixed(2), exposure.StringFixed(2), o.Payable.StringFixed(2), credit.StringFixed(2), b.CreditLimit.StringFixed(2)),
		Inputs: map[string]any{"open_unpaid": exposure, "order_payable": o.Payable, "available_credit": credit, "credit_limit": b.CreditLimit}}

	month, err := q.BuyerMonthVolume(ctx, dbgen.BuyerMonthVolumeParams{BuyerKind: o.BuyerKind, BuyerCode: o.BuyerCode, ID: o.ID, Ts: o.CreatedAt})
	if err != nil {
		return nil, fmt.Errorf("monthly volume: %w", err)
	}
	used := month.Add(o.NetTotal)
	quota := OrderCheck{Name: "quota", Passed: used.LessThanOrEqual(b.Policy.MonthlyOrderQuota),
		Detail: fmt.Sprintf("month's orders %s + this order %s = %s vs grade %s quota %s",
			month.StringFixed(2), o.NetTotal.StringFixed(2), used.StringFixed(2), b.Grade, b.Policy.MonthlyOrderQuota.StringFixed(2)),
		Inputs: map[string]any{"month_volume": month, "order_net": o.NetTotal, "quota": b.Policy.MonthlyOrderQuota, "grade": b.Grade}}

	// Stock: every SKU the order moves, its free goods included.
	stock := OrderCheck{Name: "stock", Passed: true, Inputs: map[string]any{"warehouse": o.WarehouseCode}}
	var short []string
	avail := map[string]int64{}
	for _, l := range st.post {
		var have int64
		bal, err := q.GetBalance(ctx, dbgen.GetBalanceParams{WarehouseCode: o.WarehouseCode, Sku: l.SKU})
		if err == nil && bal.Available != nil {
			have = *bal.Available
		} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("stock of %s: %w", l.SKU, err)
		}
		avail[l.SKU] = have
		if have >= l.Qty {
			continue
		}
		if free := st.freeQty[l.SKU]; free > 0 {
			short = append(short, fmt.Sprintf("%s needs %d (%d ordered + %d free goods), %d available", l.SKU, l.Qty, l.Qty-free, free, have))
		} else {
			short = append(short, fmt.Sprintf("%s needs %d, %d available", l.SKU, l.Qty, have))
		}
	}
	if len(st.freeQty) > 0 {
		stock.Inputs["free_goods"] = st.freeQty
	}
	cases := OrderCheck{Name: "whole_cases", Passed: true, Detail: "every line in whole cases where the SKU requires it", Inputs: map[string]any{}}
	for _, l := range st.lines {
		if l.WholeCases && l.Qty%int64(l.CaseSize) != 0 {
			cases.Passed = false
			cases.Detail = fmt.Sprintf("%s: %d is not a multiple of the case size %d", l.Sku, l.Qty, l.CaseSize)
		}
		cases.Inputs[l.Sku] = map[string]any{"qty": l.Qty, "case_size": l.CaseSize, "whole_cases": l.WholeCases}
	}
	stock.Inputs["available"] = avail
	if len(short) > 0 {
		stock.Passed, stock.Detail = false, strings.Join(short, "; ")
	} else {
		stock.Detail = "every line available in " + o.WarehouseCode
	}
	return []OrderCheck{creditCheck, quota, stock, cases}, nil
}

// Decide records a decision on a step. Approving the last step reserves the
// stock (or rejects the order if it is gone); approving another opens the
// next step; rejecting closes the order. Run again, it returns the stored
// outcome.
func (a *Orders) Decide(ctx context.Context, in DecideInput) (DecideResult, error) {
	var res DecideResult
	err := a.tx(ctx, func(q *dbgen.Queries, tx pgx.Tx) error {
		o, err := q.LockOrder(ctx, in.OrderID)
		if err != nil {
			return fmt.Errorf("order %s: %w", in.OrderID, err)
		}
		steps, err := q.ListApprovalSteps(ctx, o.ID)
		if err != nil {
			return err
		}
		if in.Step < 1 || in.Step > len(steps) {
			return fmt.Errorf("order %s has no step %d", o.ID, in.Step)
		}
		step := steps[in.Step-1]
		if step.Status != "pending" { // decided before: report where the order stands
			res.Status, res.Reason = o.Status, o.ClosedReason
			if in.Step < len(steps) && steps[in.Step].Status == "pending" {
				res.NextStep = in.Step + 1
			}
			return nil
		}
		decision := "rejected"
		if in.Approve {
			decision = "approved"
		}
		uid := in.UserID
		if err := q.DecideStep(ctx, dbgen.DecideStepParams{OrderID: o.ID, StepNo: step.StepNo, Status: decision, DecidedBy: &uid, Comment: in.Comment}); err != nil {
			return err
		}
		actor := fmt.Sprintf("user:%d (%s)", in.UserID, in.Role)
		if err := orderEvent(ctx, q, o.ID, "decision", actor, fmt.Sprintf("step:%d:decision", in.Step),
			map[string]any{"step": in.Step, "decision": decision, "comment": in.Comment, "role": in.Role}); err != nil {
			return err
		}
		switch {
		case !in.Approve:
			res.Status, res.Reason = OrderRejected, "rejected at step "+fmt.Sprint(in.Step)+": "+in.Comment
			if err := q.CloseOpenSteps(ctx, dbgen.CloseOpenStepsParams{OrderID: o.ID, Status: "cancelled"}); err != nil {
				return err
			}
			if err := q.SetOrderStatus(ctx, dbgen.SetOrderStatusParams{ID: o.ID, Status: OrderRejected, ClosedReason: res.Reason}); err != nil {
				return err
			}
			return orderEvent(ctx, q, o.ID, "status", actor, "status:rejected", map[string]string{"status": OrderRejected})
		case in.Step < len(steps):
			res.Status, res.NextStep = OrderPendingApproval, in.Step+1
			if err := q.OpenStep(ctx, dbgen.OpenStepParams{OrderID: o.ID, StepNo: int32(in.Step + 1)}); err != nil {
				return err
			}
			next := steps[in.Step]
			return orderEvent(ctx, q, o.ID, "approval_requested", "system", fmt.Sprintf("step:%d:requested", in.Step+1),
				map[string]any{"no": in.Step + 1, "role": next.Role, "reason": next.Reason})
		default:
			ok, why, err := reserveOrder(ctx, q, tx, o, actor)
			if err != nil {
				return err
			}
			res.Status = OrderApproved
			if !ok {
				res.Status, res.Reason = OrderRejected, why
			}
			return nil
		}
	})
	return res, err
}

// StepEvent records a reminder or an escalation of a step.
func (a *Orders) StepEvent(ctx context.Context, in StepEventInput) error {
	return a.tx(ctx, func(q *dbgen.Queries, _ pgx.Tx) error {
		if err := q.FlagStep(ctx, dbgen.FlagStepParams{OrderID: in.OrderID, StepNo: int32(in.Step),
			Reminded: in.Kind == "reminder", Escalated: in.Kind == "escalated"}); err != nil {
			return err
		}
		return orderEvent(ctx, q, in.OrderID, in.Kind, "system", fmt.Sprintf("step:%d:%s", in.Step, in.Kind), map[string]any{"step": in.Step, "to": in.To})
	})
}

// Expire closes an order whose step went undecided past its expiry. It
// holds no stock (stock is reserved only at approval).
func (a *Orders) Expire(ctx context.Context, orderID string, step int) error {
	return a.tx(ctx, func(q *dbgen.Queries, _ pgx.Tx) error {
		reason := fmt.Sprintf("step %d expired without a decision", step)
		if err := q.CloseOpenSteps(ctx, dbgen.CloseOpenStepsParams{OrderID: orderID, Status: "expired"}); err != nil {
			return err
		}
		if err := q.SetOrderStatus(ctx, dbgen.SetOrderStatusParams{ID: orderID, Status: OrderExpired, ClosedReason: reason}); err != nil {
			return err
		}
		return orderEvent(ctx, q, orderID, "status", "system", "status:expired", map[string]string{"status": OrderExpired, "reason": reason})
	})
}

// Cancel cancels an order not yet shipped, releasing its reservation — its
// lines and free goods — if it holds one.
func (a *Orders) Cancel(ctx context.Context, in CancelInput) error {
	return a.tx(ctx, func(q *dbgen.Queries, tx pgx.Tx) error {
		o, err := q.LockOrder(ctx, in.OrderID)
		if err != nil {
			return fmt.Errorf("order %s: %w", in.OrderID, err)
		}
		if o.Status == OrderCancelled {
			return nil
		}
		actor := fmt.Sprintf("user:%d", in.UserID)
		if o.Reserved {
			st, err := loadOrderStock(ctx, q, o)
			if err != nil {
				return err
			}
			if _, err := inventory.PostTx(ctx, tx, inventory.Release(inventory.Op{Key: "order:" + o.ID + ":release", Reference: "order " + o.ID + " cancelled", Actor: actor}, st.post)); err != nil {
				return permanent(err)
			}
			if err := q.MarkOrderReleased(ctx, o.ID); err != nil {
				return err
			}
		}
		if err := q.CloseOpenSteps(ctx, dbgen.CloseOpenStepsParams{OrderID: o.ID, Status: "cancelled"}); err != nil {
			return err
		}
		if err := q.SetOrderStatus(ctx, dbgen.SetOrderStatusParams{ID: o.ID, Status: OrderCancelled, ClosedReason: in.Reason}); err != nil {
			return err
		}
		return orderEvent(ctx, q, o.ID, "status", actor, "status:cancelled", map[string]any{"status": OrderCancelled, "reason": in.Reason, "released": o.Reserved})
	})
}

// Fulfil records a fulfilment stage. Shipping takes the reserved units — the
// lines and the free goods — out of the warehouse (on hand and reserved
// drop) in the same transaction.
func (a *Orders) Fulfil(ctx context.Context, in FulfilInput) error {
	return a.tx(ctx, func(q *dbgen.Queries, tx pgx.Tx) error {
		o, err := q.LockOrder(ctx, in.OrderID)
		if err != nil {
			return fmt.Errorf("order %s: %w", in.OrderID, err)
		}
		actor := fmt.Sprintf("user:%d", in.UserID)
		if o.Status != in.Stage {
			if in.Stage == OrderShipped {
				st, err := loadOrderStock(ctx, q, o)
				if err != nil {
					return err
				}
				if _, err := inventory.PostTx(ctx, tx, inventory.Ship(inventory.Op{Key: "order:" + o.ID + ":ship", Reference: "order " + o.ID + " shipped", Actor: actor}, st.post)); err != nil {
					return permanent(err)
				}
				if err := q.SetOrderShipping(ctx, dbgen.SetOrderShippingParams{ID: o.ID, Carrier: in.Carrier, TrackingNumber: in.TrackingNumber}); err != nil {
					return err
				}
			} else if err := q.SetOrderStatus(ctx, dbgen.SetOrderStatusParams{ID: o.ID, Status: in.Stage}); err != nil {
				return err
			}
		}
		detail := map[string]string{"status": in.Stage}
		if in.Stage == OrderShipped {
			detail["carrier"], detail["tracking_number"] = in.Carrier, in.TrackingNumber
		}
		return orderEvent(ctx, q, o.ID, "status", actor, "status:"+in.Stage, detail)
	})
}

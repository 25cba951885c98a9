package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
)

// Warehouse is a stock location: central (总仓), regional (区域仓), front
// (前置仓) or duty free (免税仓), in one channel, owned by HQ or an agent.
type Warehouse struct {
	Code           string    `json:"code"`
	Name           string    `json:"name"`
	Kind           string    `json:"kind"`
	ChannelCode    string    `json:"channel_code"`
	OwnerKind      string    `json:"owner_kind"`
	OwnerAgentCode *string   `json:"owner_agent_code"`
	Region         string    `json:"region"`
	Active         bool      `json:"active"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func warehouseOf(r dbgen.Warehouse) Warehouse {
	return Warehouse{
		Code: r.Code, Name: r.Name, Kind: r.Kind, ChannelCode: r.ChannelCode, OwnerKind: r.OwnerKind,
		OwnerAgentCode: r.OwnerAgentCode, Region: r.Region, Active: r.Active, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

type warehouseInput struct {
	Code           *string `json:"code"`
	Name           *string `json:"name"`
	Kind           *string `json:"kind"`
	ChannelCode    *string `json:"channel_code"`
	OwnerKind      *string `json:"owner_kind"`
	OwnerAgentCode *string `json:"owner_agent_code"`
	Region         *string `json:"region"`
	Active         *bool   `json:"active"`
}

var warehouseKinds = []string{"central", "regional", "front", "duty_free"}

// seesWarehouse reports whether p may see w: HQ roles see all, others see
// HQ's warehouses and those of their own agent.
func seesWarehouse(p auth.Principal, w dbgen.Warehouse) bool {
	return p.HQ() || w.OwnerKind == "hq" || (w.OwnerAgentCode != nil && *w.OwnerAgentCode == p.Agent)
}

func (s *server) listWarehouses(c echo.Context) error {
	p := principal(c)
	v := &validator{}
	limit, after := page(c, v)
	active := queryBool(c, v, "active")
	kind := queryEnum(c, v, "kind", warehouseKinds...)
	var ownerKind, ownerAgent *string
	if o := queryOpt(c, "owner"); o != nil {
		if *o == "hq" {
			ownerKind = o
		} else {
			ownerAgent = o
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListWarehouses(c.Request().Context(), dbgen.ListWarehousesParams{
		After: after, Kind: kind, ChannelCode: queryOpt(c, "channel"), Region: queryOpt(c, "region"),
		OwnerKind: ownerKind, OwnerAgentCode: ownerAgent, Active: active, ScopeAgent: p.ScopeAgent(), Lim: limit,
	})
	if err != nil {
		return err
	}
	out := make([]Warehouse, len(rows))
	for i, r := range rows {
		out[i] = warehouseOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x Warehouse) string { return x.Code }))
}

func (s *server) getWarehouse(c echo.Context) error {
	code := c.Param("code")
	r, err := s.q.GetWarehouse(c.Request().Context(), code)
	if err != nil {
		return notFound(err, "warehouse", code)
	}
	if !seesWarehouse(principal(c), r) {
		return errForbidden("this warehouse belongs to another agent")
	}
	return c.JSON(http.StatusOK, warehouseOf(r))
}

func (s *server) createWarehouse(c echo.Context) error {
	_, in, err := readInput[warehouseInput](c, hqWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	code := v.code("code", in.Code, true)
	name := v.text("name", in.Name, true, 200)
	kind := v.enum("kind", in.Kind, true, warehouseKinds...)
	channel := v.code("channel_code", in.ChannelCode, true)
	owner := v.enum("owner_kind", in.OwnerKind, true, "hq", "agent")
	ownerAgent := v.code("owner_agent_code", in.OwnerAgentCode, owner == "agent")
	if owner == "hq" && in.OwnerAgentCode != nil {
		v.add("owner_agent_code", "must be absent when owner_kind is hq")
	}
	region := v.code("region", in.Region, true)
	if in.Active != nil {
		v.add("active", "cannot be set on creation; a new warehouse is active")
	}
	if err := v.err(); err != nil {
		return err
	}
	var oa *string
	if ownerAgent != "" {
		oa = &ownerAgent
	}
	var r dbgen.Warehouse
	err = s.write(c, "create", "warehouse", code, in, func(q *dbgen.Queries) (err error) {
		r, err = q.CreateWarehouse(c.Request().Context(), dbgen.CreateWarehouseParams{
			Code: code, Name: name, Kind: kind, ChannelCode: channel, OwnerKind: owner, OwnerAgentCode: oa, Region: region,
		})
		return err
	})
	if err != nil {
		return err
	}
	return created(c, "/v1/warehouses/"+r.Code, warehouseOf(r))
}

func (s *server) updateWarehouse(c echo.Context) error {
	_, in, err := readInput[warehouseInput](c, hqWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	v.immutable("code", in.Code != nil)
	if in.OwnerKind != nil || in.OwnerAgentCode != nil {
		v.add("owner_kind", "ownership cannot be changed: its stock and ledger belong to the owner; open a new warehouse instead")
	}
	v.text("name", in.Name, false, 200)
	v.enum("kind", in.Kind, false, warehouseKinds...)
	v.code("channel_code", in.ChannelCode, false)
	v.code("region", in.Region, false)
	if err := v.err(); err != nil {
		return err
	}
	code := c.Param("code")
	var r dbgen.Warehouse
	err = s.write(c, "update", "warehouse", code, in, func(q *dbgen.Queries) (err error) {
		r, err = q.UpdateWarehouse(c.Request().Context(), dbgen.UpdateWarehouseParams{
			Code: code, Name: trimmed(in.Name), Kind: in.Kind, ChannelCode: in.ChannelCode, Region: in.Region, Active: in.Active,
		})
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, warehouseOf(r))
}

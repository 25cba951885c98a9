package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
	"github.com/alliance/backoffice/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// harness is the API over a fresh seeded database and its own Temporal
// namespace, with a worker running, and a token for each demo user.
type harness struct {
	t      *testing.T
	srv    *httptest.Server
	pool   *pgxpool.Pool
	tc     client.Client
	tokens map[string]string // by demo user name
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	pool, _ := testenv.DB(t)
	tc, _ := testenv.Temporal(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, pool: pool, tc: tc, tokens: map[string]string{}}
	h.issueTokens()
	w := worker.New(tc, pool, sdkworker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	h.serve(api.Deps{Pool: pool, Temporal: tc})
	return h
}

// issueTokens gives every demo user a token.
func (h *harness) issueTokens() {
	h.t.Helper()
	ctx := context.Background()
	q := dbgen.New(h.pool)
	for _, u := range seed.DemoUsers() {
		user, err := q.GetUserByName(ctx, u.Name)
		if err != nil {
			h.t.Fatal(err)
		}
		if h.tokens[u.Name], err = auth.IssueToken(ctx, q, user.ID, "test"); err != nil {
			h.t.Fatal(err)
		}
	}
}

// serve starts the API over d.
func (h *harness) serve(d api.Deps) {
	h.t.Helper()
	e, err := api.New(d)
	if err != nil {
		h.t.Fatal(err)
	}
	h.srv = httptest.NewServer(e)
	h.t.Cleanup(h.srv.Close)
}

// Demo user names, by what they demonstrate.
const (
	hqAdmin    = "demo-hq-admin"
	hqSales    = "demo-hq-sales"
	finance    = "demo-finance"
	agentEast  = "demo-agent-east"
	agentSouth = "demo-agent-south"
	storeUser  = "demo-store"
	baUser     = "demo-ba"
	opsUser    = "demo-ops"
)

type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem+json body, checking the content type.
func (r response) problem(t *testing.T) api.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type = %q, want application/problem+json (body %s)", ct, r.body)
	}
	var p api.Problem
	r.json(t, &p)
	if p.Status != r.status || p.Title == "" || p.Type == "" {
		t.Fatalf("incomplete problem %+v for status %d", p, r.status)
	}
	return p
}

// do sends a request as user (no token when user is ""); body may be a
// string (sent as is) or a value (sent as JSON).
func (h *harness) do(method, path, user string, body any, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+h.tokens[user])
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// expect fails the test unless the response has the status.
func (r response) expect(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.status, status, r.body)
	}
	return r
}

// count returns the number of rows of a table, to prove a refused request
// wrote nothing.
func (h *harness) count(table string) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

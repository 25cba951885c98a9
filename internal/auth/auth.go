// Package auth maps API tokens to principals: a user with one role and the
// scope (agent, store or BA) that role acts for. Tokens are random, shown
// once, and stored only as SHA-256 hashes.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/alliance/backoffice/db/dbgen"
)

// Role is what a user may do.
type Role string

// The roles of the back office.
const (
	RoleHQAdmin Role = "hq_admin" // HQ administration: master data, policies, campaigns
	RoleHQSales Role = "hq_sales" // HQ sales / channel managers: agents, stores, approvals
	RoleFinance Role = "finance"  // finance: settlement, credit notes
	RoleAgent   Role = "agent"    // an agent (代理商), scoped to its agent code
	RoleStore   Role = "store"    // a store (门店), scoped to its store code
	RoleBA      Role = "ba"       // a beauty advisor, scoped to its BA code
	RoleOps     Role = "ops"      // operations: read everything, change nothing
)

// Roles lists every role, in a stable order.
func Roles() []Role {
	return []Role{RoleHQAdmin, RoleHQSales, RoleFinance, RoleAgent, RoleStore, RoleBA, RoleOps}
}

// Principal is the authenticated caller.
type Principal struct {
	UserID int64  `json:"user_id"`
	Name   string `json:"name"`
	Role   Role   `json:"role"`
	// Agent is the agent the caller acts for or belongs under: the agent
	// itself, a store's agent, a BA's store's agent. Empty for HQ roles.
	Agent string `json:"agent,omitempty"`
	// Store is the store of a store or BA user.
	Store string `json:"store,omitempty"`
	// BA is the BA code of a ba user.
	BA string `json:"ba,omitempty"`
}

// Is reports whether the principal has one of roles.
func (p Principal) Is(roles ...Role) bool {
	for _, r := range roles {
		if p.Role == r {
			return true
		}
	}
	return false
}

// HQ reports whether the principal is an HQ-side user (HQ, finance, ops),
// whose reads are not limited to one agent.
func (p Principal) HQ() bool {
	return p.Is(RoleHQAdmin, RoleHQSales, RoleFinance, RoleOps)
}

// SeesAgent reports whether the principal may see data of the agent.
func (p Principal) SeesAgent(agent string) bool {
	return p.HQ() || (p.Agent != "" && p.Agent == agent)
}

// ScopeAgent returns the agent a list must be limited to, or nil for HQ roles.
func (p Principal) ScopeAgent() *string {
	if p.HQ() {
		return nil
	}
	a := p.Agent
	return &a
}

// ScopeStore returns the store a list must be limited to (store and BA
// users), or nil.
func (p Principal) ScopeStore() *string {
	if p.Is(RoleStore, RoleBA) {
		s := p.Store
		return &s
	}
	return nil
}

// ScopeBA returns the BA a list must be limited to (BA users), or nil.
func (p Principal) ScopeBA() *string {
	if p.Is(RoleBA) {
		b := p.BA
		return &b
	}
	return nil
}

// TokenPrefix starts every API token, so leaked tokens are easy to spot.
const TokenPrefix = "bo_"

// ErrUnauthenticated means the token is missing, malformed, unknown or revoked.
var ErrUnauthenticated = errors.New("missing, unknown or revoked API token")

// HashToken returns the SHA-256 of a clear token, as stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NewToken returns a fresh random clear token.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// IssueToken creates a token for the user, stores its hash, and returns the
// clear token (shown once).
func IssueToken(ctx context.Context, q *dbgen.Queries, userID int64, label string) (string, error) {
	tok, err := NewToken()
	if err != nil {
		return "", err
	}
	if err := q.InsertToken(ctx, dbgen.InsertTokenParams{TokenHash: HashToken(tok), UserID: userID, Label: label}); err != nil {
		return "", fmt.Errorf("auth: store token: %w", err)
	}
	return tok, nil
}

// Authenticator resolves tokens to principals.
type Authenticator struct {
	db dbgen.DBTX
}

// NewAuthenticator returns an Authenticator reading users from db.
func NewAuthenticator(db dbgen.DBTX) *Authenticator { return &Authenticator{db: db} }

// Authenticate returns the principal of token, or ErrUnauthenticated.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 200 {
		return Principal{}, ErrUnauthenticated
	}
	q := dbgen.New(a.db)
	u, err := q.GetUserByTokenHash(ctx, HashToken(token))
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("auth: look up token: %w", err)
	}
	return PrincipalOf(ctx, q, u)
}

// PrincipalOf builds the principal of user u, resolving its scope chain
// (a BA's store and agent, a store's agent).
func PrincipalOf(ctx context.Context, q *dbgen.Queries, u dbgen.User) (Principal, error) {
	p := Principal{UserID: u.ID, Name: u.Name, Role: Role(u.Role)}
	switch p.Role {
	case RoleAgent:
		p.Agent = deref(u.AgentCode)
	case RoleStore:
		s, err := q.GetStore(ctx, deref(u.StoreCode))
		if err != nil {
			return Principal{}, fmt.Errorf("auth: store of user %d: %w", u.ID, err)
		}
		p.Store, p.Agent = s.Code, s.AgentCode
	case RoleBA:
		b, err := q.GetBA(ctx, deref(u.BaCode))
		if err != nil {
			return Principal{}, fmt.Errorf("auth: BA of user %d: %w", u.ID, err)
		}
		p.BA, p.Store, p.Agent = b.Code, b.StoreCode, b.AgentCode
	}
	return p, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

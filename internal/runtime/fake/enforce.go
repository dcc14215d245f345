package fake

import (
	"context"
	"slices"
	"sync"

	"github.com/openkci/openkci/internal/core"
)

// Enforcing is a fake runtime that enforces security groups
// (service.SecurityGroupEnforcer) on paper: it filters nothing, but tells
// tests which security groups it was told changed and what rules a group
// would get.
type Enforcing struct {
	*Runtime

	mu      sync.Mutex
	lookup  func(id string) ([]core.SecurityGroupRule, bool)
	changed [][]string
	refuse  func(core.SecurityGroupRule) error
}

// RefuseRules makes CheckRule (service.RuleChecker) answer with refuse.
func (e *Enforcing) RefuseRules(refuse func(core.SecurityGroupRule) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refuse = refuse
}

// CheckRule refuses what RefuseRules says (nothing by default).
func (e *Enforcing) CheckRule(r core.SecurityGroupRule) error {
	e.mu.Lock()
	refuse := e.refuse
	e.mu.Unlock()
	if refuse == nil {
		return nil
	}
	return refuse(r)
}

// NewEnforcing returns an empty enforcing fake runtime.
func NewEnforcing() *Enforcing { return &Enforcing{Runtime: New()} }

// EnforceSecurityGroups keeps where rules are read.
func (e *Enforcing) EnforceSecurityGroups(rules func(id string) ([]core.SecurityGroupRule, bool)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lookup = rules
}

// SecurityGroupsChanged records the change.
func (e *Enforcing) SecurityGroupsChanged(_ context.Context, ids []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.changed = append(e.changed, slices.Clone(ids))
	return nil
}

// Changed returns the security groups of every SecurityGroupsChanged so far.
func (e *Enforcing) Changed() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.changed)
}

// Rules returns the rules a running group gets now: the union of its
// security groups' rules, read as a real runtime reads them.
func (e *Enforcing) Rules(groupID string) []core.SecurityGroupRule {
	e.Runtime.mu.Lock()
	g := e.Runtime.groups[groupID]
	e.Runtime.mu.Unlock()
	e.mu.Lock()
	lookup := e.lookup
	e.mu.Unlock()
	if g == nil || lookup == nil {
		return nil
	}
	var out []core.SecurityGroupRule
	for _, id := range g.Network.SecurityGroupIDs {
		rules, _ := lookup(id)
		out = append(out, rules...)
	}
	return out
}

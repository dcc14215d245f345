package runtimetest

import (
	"slices"
	"sync"

	"github.com/openkci/openkci/internal/core"
)

// SecurityGroups stands for the service's security groups in a runtime's
// tests: the rules an enforcing runtime reads through
// EnforceSecurityGroups(sgs.Lookup). Changing them does not tell the
// runtime; the test calls SecurityGroupsChanged as the service would.
type SecurityGroups struct {
	mu sync.Mutex
	m  map[string][]core.SecurityGroupRule
}

// NewSecurityGroups returns security groups with the given rules.
func NewSecurityGroups(m map[string][]core.SecurityGroupRule) *SecurityGroups {
	return &SecurityGroups{m: m}
}

// Lookup returns a security group's rules, and whether it exists.
func (s *SecurityGroups) Lookup(id string) ([]core.SecurityGroupRule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	return slices.Clone(r), ok
}

// Set replaces a security group's rules; Set(id, nil) deletes it.
func (s *SecurityGroups) Set(id string, rules []core.SecurityGroupRule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rules == nil {
		delete(s.m, id)
		return
	}
	s.m[id] = rules
}

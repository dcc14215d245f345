package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
	"github.com/openkci/openkci/internal/store"
	"github.com/openkci/openkci/pkg/kci"
)

// vpc calls a VPC action as the SDKs do (service vpc, 2016-03-04).
func (c *client) vpc(action string, kv ...string) *response {
	return c.doVersionService(action, kci.VPCVersion, kci.ServiceVPC, vals(kv...))
}

// describeSG returns one security group as DescribeSecurityGroups shows it
// to c, and whether it was listed.
func describeSG(t *testing.T, c *client, id string) (kci.SecurityGroup, bool) {
	t.Helper()
	out := decodeAs[kci.DescribeSecurityGroupsResponse](t, c.vpc("DescribeSecurityGroups", "SecurityGroupId.1", id))
	if len(out.SecurityGroupSet) == 0 {
		return kci.SecurityGroup{}, false
	}
	return out.SecurityGroupSet[0], true
}

// The security-group actions: create (with the default rule), rules in
// Describe, modify, revoke, delete; refused requests change nothing;
// another account's group does not exist; a group in use or declared in
// the config cannot be deleted; configured groups get their default rules
// once; every rule change is handed to the enforcing runtime; everything
// survives a restart.
func TestSecurityGroupActions(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOpts{config: tenantsConfig, dataDir: dir})
	alice, bob, aliceRO := tenants(s)

	made := decodeAs[kci.CreateSecurityGroupResponse](t, alice.vpc("CreateSecurityGroup", "VpcId", "vpc-a", "SecurityGroupName", "web", "Description", "front"))
	id := made.SecurityGroup.SecurityGroupID
	if id == "" || made.SecurityGroup.VpcID != "vpc-a" || made.SecurityGroup.SecurityGroupName != "web" || len(made.SecurityGroup.SecurityGroupEntrySet) != 1 {
		t.Fatalf("created: %+v", made.SecurityGroup)
	}
	def := made.SecurityGroup.SecurityGroupEntrySet[0]
	if def.Direction != "out" || def.Protocol != "IP" || def.CidrBlock != "0.0.0.0/0" || def.SecurityGroupEntryID == "" {
		t.Fatalf("a new group's default rule: %+v, want everything out", def)
	}
	auth := decodeAs[kci.AuthorizeSecurityGroupEntryResponse](t, alice.vpc("AuthorizeSecurityGroupEntry", "SecurityGroupId", id,
		"Direction", "in", "Protocol", "tcp", "CidrBlock", "10.90.1.7/24", "PortRangeFrom", "80", "PortRangeTo", "81"))
	if !auth.Return || len(auth.SecurityGroupEntryIDSet) != 1 {
		t.Fatalf("authorize: %+v", auth)
	}
	ruleID := auth.SecurityGroupEntryIDSet[0]
	if ch := s.enforcer.Changed(); len(ch) != 1 || len(ch[0]) != 1 || ch[0][0] != id {
		t.Fatalf("the runtime was told of changes %v, want [[%s]]", ch, id)
	}
	// The default rule is a rule like any other: authorizing it again names it.
	mustErr(t, alice.vpc("AuthorizeSecurityGroupEntry", "SecurityGroupId", id, "Direction", "out", "Protocol", "IP", "CidrBlock", "0.0.0.0/0"),
		http.StatusConflict, "ResourceInUse", def.SecurityGroupEntryID)
	mustOK(t, alice.vpc("AuthorizeSecurityGroupEntry", "SecurityGroupId", id, "Direction", "in", "Protocol", "ICMP", "CidrBlock", "10.0.0.0/8", "IcmpType", "0", "IcmpCode", "0"))
	// Rules on a group of the config are allowed (and kept).
	mustOK(t, alice.vpc("AuthorizeSecurityGroupEntry", "SecurityGroupId", "sg-a", "Direction", "in", "Protocol", "UDP", "CidrBlock", "10.90.0.0/16", "PortRangeFrom", "53", "PortRangeTo", "53"))

	sg, ok := describeSG(t, alice, id)
	if !ok || len(sg.SecurityGroupEntrySet) != 3 {
		t.Fatalf("described: %+v", sg)
	}
	if e := sg.SecurityGroupEntrySet[1]; e.SecurityGroupEntryID != ruleID || e.CidrBlock != "10.90.1.0/24" || e.Protocol != "TCP" ||
		e.Direction != "in" || e.PortRangeFrom != 80 || e.PortRangeTo != 81 || e.Policy != "Accept" {
		t.Errorf("first rule: %+v (the CIDR is kept masked, the protocol upper-case)", e)
	}
	if e := sg.SecurityGroupEntrySet[0]; e.Protocol != "IP" || e.Direction != "out" || e.PortRangeFrom != 0 {
		t.Errorf("first rule: %+v", e)
	}
	if sg.SecurityGroupType != "other" {
		t.Errorf("an API-made group has type %q, want other", sg.SecurityGroupType)
	}
	// The configured group: its two default rules, then the one added.
	if conf, _ := describeSG(t, alice, "sg-a"); conf.SecurityGroupType != "config" || len(conf.SecurityGroupEntrySet) != 3 ||
		conf.SecurityGroupEntrySet[0].Direction != "out" || conf.SecurityGroupEntrySet[0].CidrBlock != "0.0.0.0/0" ||
		conf.SecurityGroupEntrySet[1].Direction != "in" || conf.SecurityGroupEntrySet[1].CidrBlock != "10.90.0.0/16" ||
		conf.SecurityGroupEntrySet[2].PortRangeFrom != 53 {
		t.Errorf("the configured group: %+v", conf)
	}

	// Refused requests change nothing.
	runRefused(t, []refusedCall{
		{"vpc missing", alice, "CreateSecurityGroup", nil, 400, "MissingParameter", "VpcId"},
		{"another account's vpc", bob, "CreateSecurityGroup", []string{"VpcId", "vpc-a"}, 400, "InvalidParameterValue", `parameter VpcId: vpc "vpc-a" does not exist`},
		{"name too long", alice, "CreateSecurityGroup", []string{"VpcId", "vpc-a", "SecurityGroupName", string(make([]byte, 129))}, 400, "InvalidParameterValue", "SecurityGroupName"},
		{"read-only key", aliceRO, "CreateSecurityGroup", []string{"VpcId", "vpc-a"}, 403, "", ""},
		{"direction", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "both", "Protocol", "IP", "CidrBlock", "0.0.0.0/0"}, 400, "InvalidParameterValue", "parameter Direction"},
		{"protocol", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "sctp", "CidrBlock", "0.0.0.0/0"}, 400, "InvalidParameterValue", "parameter Protocol"},
		{"cidr", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "IP", "CidrBlock", "10.0.0.0/33"}, 400, "InvalidParameterValue", "parameter CidrBlock"},
		{"no cidr", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "IP"}, 400, "MissingParameter", "CidrBlock"},
		{"no ports", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "TCP", "CidrBlock", "0.0.0.0/0"}, 400, "MissingParameter", "PortRangeFrom"},
		{"ports reversed", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "TCP", "CidrBlock", "0.0.0.0/0", "PortRangeFrom", "90", "PortRangeTo", "80"}, 400, "InvalidParameterValue", "parameter PortRangeTo"},
		{"port 0", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "UDP", "CidrBlock", "0.0.0.0/0", "PortRangeFrom", "0", "PortRangeTo", "80"}, 400, "InvalidParameterValue", "parameter PortRangeFrom"},
		{"icmp type missing", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "ICMP", "CidrBlock", "0.0.0.0/0"}, 400, "MissingParameter", "IcmpType"},
		{"icmp type range", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "ICMP", "CidrBlock", "0.0.0.0/0", "IcmpType", "256", "IcmpCode", "0"}, 400, "InvalidParameterValue", "parameter IcmpType"},
		{"policy", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "IP", "CidrBlock", "0.0.0.0/0", "Policy", "Drop"}, 400, "InvalidParameterValue", "parameter Policy"},
		{"priority", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "IP", "CidrBlock", "0.0.0.0/0", "Priority", "101"}, 400, "InvalidParameterValue", "parameter Priority"},
		{"same rule twice", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "TCP", "CidrBlock", "10.90.1.0/24", "PortRangeFrom", "80", "PortRangeTo", "81"}, 409, "ResourceInUse", ruleID},
		{"another account's group", bob, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "IP", "CidrBlock", "0.0.0.0/0"}, 404, "SecurityGroupNotFound", id},
		{"revoke: another account's group", bob, "RevokeSecurityGroupEntry", []string{"SecurityGroupId", id, "SecurityGroupEntryId", ruleID}, 404, "SecurityGroupNotFound", id},
		{"revoke: no such rule", alice, "RevokeSecurityGroupEntry", []string{"SecurityGroupId", id, "SecurityGroupEntryId", "nope"}, 404, "SecurityGroupEntryNotFound", "nope"},
		{"revoke: entry missing", alice, "RevokeSecurityGroupEntry", []string{"SecurityGroupId", id}, 400, "MissingParameter", "SecurityGroupEntryId"},
		{"modify: another account's group", bob, "ModifySecurityGroup", []string{"SecurityGroupId", id, "SecurityGroupName", "x"}, 404, "SecurityGroupNotFound", id},
		{"delete: another account's group", bob, "DeleteSecurityGroup", []string{"SecurityGroupId", id}, 404, "SecurityGroupNotFound", id},
		{"delete: configured", alice, "DeleteSecurityGroup", []string{"SecurityGroupId", "sg-a"}, 409, "IncorrectState", "declared in kcid's config"},
		{"delete: dry run", alice, "DeleteSecurityGroup", []string{"SecurityGroupId", id, "DryRun", "true"}, 412, "DryRunOperation", ""},
		{"authorize: dry run", alice, "AuthorizeSecurityGroupEntry", []string{"SecurityGroupId", id, "Direction", "in", "Protocol", "IP", "CidrBlock", "0.0.0.0/0", "DryRun", "true"}, 412, "DryRunOperation", ""},
	})
	if after, _ := describeSG(t, alice, id); len(after.SecurityGroupEntrySet) != 3 || after.SecurityGroupName != "web" {
		t.Fatalf("refused requests changed the group: %+v", after)
	}
	if _, ok := describeSG(t, bob, id); ok {
		t.Fatal("bob sees alice's security group")
	}
	if n := len(decodeAs[kci.DescribeSecurityGroupsResponse](t, alice.vpc("DescribeSecurityGroups")).SecurityGroupSet); n != 2 {
		t.Fatalf("alice has %d security groups, want 2 (refused creates made some)", n)
	}

	// Modify: a given field changes, an absent one stays; the answer is flat.
	mod := decodeAs[kci.ModifySecurityGroupResponse](t, alice.vpc("ModifySecurityGroup", "SecurityGroupId", id, "Description", "the front end"))
	if mod.SecurityGroupID != id || mod.SecurityGroupName != "web" || mod.Description != "the front end" || len(mod.SecurityGroupEntrySet) != 3 {
		t.Fatalf("modified: %+v", mod)
	}

	// In use: a container group in it blocks the delete.
	p := createParams("user")
	p.Set("SecurityGroupId.1", id)
	cg := decodeAs[kci.CreateContainerGroupResponse](t, alice.do("CreateContainerGroup", p)).ContainerGroupID
	mustErr(t, alice.vpc("DeleteSecurityGroup", "SecurityGroupId", id), http.StatusConflict, "ResourceInUse", "used by container group "+cg)

	// A restart keeps the group, its rules and the configured group's rule.
	s.stop()
	s = startServer(t, serverOpts{config: tenantsConfig, dataDir: dir})
	alice, _, _ = tenants(s)
	after, ok := describeSG(t, alice, id)
	if !ok || len(after.SecurityGroupEntrySet) != 3 || after.Description != "the front end" || after.SecurityGroupEntrySet[1].SecurityGroupEntryID != ruleID {
		t.Fatalf("after a restart: %+v", after)
	}
	if conf, _ := describeSG(t, alice, "sg-a"); len(conf.SecurityGroupEntrySet) != 3 || conf.SecurityGroupEntrySet[2].PortRangeFrom != 53 {
		t.Fatalf("the configured group's rules after a restart: %+v", conf)
	}
	// Revoked defaults of a configured group stay revoked over a restart.
	conf, _ := describeSG(t, alice, "sg-a")
	for _, e := range conf.SecurityGroupEntrySet[:2] {
		mustOK(t, alice.vpc("RevokeSecurityGroupEntry", "SecurityGroupId", "sg-a", "SecurityGroupEntryId", e.SecurityGroupEntryID))
	}
	s.stop()
	s = startServer(t, serverOpts{config: tenantsConfig, dataDir: dir})
	alice, _, _ = tenants(s)
	if conf, _ := describeSG(t, alice, "sg-a"); len(conf.SecurityGroupEntrySet) != 1 || conf.SecurityGroupEntrySet[0].PortRangeFrom != 53 {
		t.Fatalf("the configured group after its defaults were revoked and kcid restarted: %+v", conf)
	}

	mustOK(t, alice.vpc("RevokeSecurityGroupEntry", "SecurityGroupId", id, "SecurityGroupEntryId", ruleID))
	if after, _ := describeSG(t, alice, id); len(after.SecurityGroupEntrySet) != 2 {
		t.Fatalf("after revoke: %+v", after)
	}
	if ch := s.enforcer.Changed(); len(ch) != 1 || ch[0][0] != id {
		t.Fatalf("the runtime was told of changes %v after a revoke, want [[%s]]", ch, id)
	}
	if rules := s.enforcer.Rules(cg); len(rules) != 2 || rules[0].ID != def.SecurityGroupEntryID {
		t.Fatalf("the container group's rules as the runtime reads them: %+v", rules)
	}
	mustOK(t, alice.do("DeleteContainerGroup", vals("ContainerGroupId", cg)))
	retryWhileInUse(t, func() *response { return alice.vpc("DeleteSecurityGroup", "SecurityGroupId", id) })
	if _, ok := describeSG(t, alice, id); ok {
		t.Fatal("the deleted group is still listed")
	}
	mustErr(t, alice.vpc("DeleteSecurityGroup", "SecurityGroupId", id), http.StatusNotFound, "SecurityGroupNotFound", id)
}

// retryWhileInUse repeats a delete while it is 409 ResourceInUse: a deleted
// container group is forgotten in the background, and uses its network
// until then.
func retryWhileInUse(t *testing.T, del func() *response) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := del()
		if r.Status == http.StatusOK {
			return
		}
		if r.code() != "ResourceInUse" || time.Now().After(deadline) {
			t.Fatalf("delete after the container group is gone: %d %s", r.Status, r.Raw)
		}
	}
}

// refusedCall is a VPC action the caller must be refused, and how.
type refusedCall struct {
	name            string
	c               *client
	action          string
	kv              []string
	status          int
	code, inMessage string // code "": the status alone is checked
}

func runRefused(t *testing.T, calls []refusedCall) {
	t.Helper()
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) { mustRefuse(t, tc.c.vpc(tc.action, tc.kv...), tc.status, tc.code, tc.inMessage) })
	}
}

// mustRefuse is mustErr, or with code "" a check of the status alone.
func mustRefuse(t *testing.T, r *response, status int, code, inMessage string) {
	t.Helper()
	if code == "" {
		if r.Status != status {
			t.Fatalf("want %d, got %d: %s", status, r.Status, r.Raw)
		}
		return
	}
	mustErr(t, r, status, code, inMessage)
}

// On a runtime that does not enforce rules, a rule is refused by default
// (a 200 for a rule that then does nothing would be a silent drop); the
// operator's acceptUnenforcedSecurityGroupRules stores them. A valid rule
// is refused after its parameters are checked, and nothing is stored.
func TestUnenforcedRulesRefusedByDefault(t *testing.T) {
	s := startServer(t, serverOpts{config: tenantsConfig, unenforced: true})
	alice, _, _ := tenants(s)
	mustErr(t, alice.vpc("AuthorizeSecurityGroupEntry", "SecurityGroupId", "sg-a", "Direction", "in", "Protocol", "TCP",
		"CidrBlock", "10.90.0.0/16", "PortRangeFrom", "80", "PortRangeTo", "80"),
		http.StatusConflict, "IncorrectState", "acceptUnenforcedSecurityGroupRules")
	// A malformed rule still names its parameter first.
	mustErr(t, alice.vpc("AuthorizeSecurityGroupEntry", "SecurityGroupId", "sg-a", "Direction", "in", "Protocol", "TCP",
		"CidrBlock", "10.90.0.0/16", "PortRangeFrom", "80"),
		http.StatusBadRequest, "MissingParameter", "PortRangeTo")
	if sg, ok := describeSG(t, alice, "sg-a"); !ok || len(sg.SecurityGroupEntrySet) != 2 {
		t.Fatalf("a refused rule was stored (want the two default rules only): %+v", sg)
	}
	s.stop()
	s = startServer(t, serverOpts{config: tenantsConfig + "acceptUnenforcedSecurityGroupRules: true\n", unenforced: true})
	alice, _, _ = tenants(s)
	mustOK(t, alice.vpc("AuthorizeSecurityGroupEntry", "SecurityGroupId", "sg-a", "Direction", "in", "Protocol", "TCP",
		"CidrBlock", "10.90.0.0/16", "PortRangeFrom", "80", "PortRangeTo", "80"))
}

// A rule the runtime cannot enforce (service.RuleChecker: ICMP on
// Kubernetes) is refused with the runtime's reason, before it is recorded.
func TestRuleTheRuntimeCannotEnforce(t *testing.T) {
	s := startServer(t, serverOpts{config: tenantsConfig})
	alice, _, _ := tenants(s)
	s.enforcer.RefuseRules(func(r core.SecurityGroupRule) error {
		if r.Protocol == "icmp" {
			return errdefs.New(errdefs.ErrFailedPrecondition, "ICMP rules cannot be enforced here")
		}
		return nil
	})
	mustErr(t, alice.vpc("AuthorizeSecurityGroupEntry", "SecurityGroupId", "sg-a", "Direction", "in", "Protocol", "ICMP",
		"CidrBlock", "10.90.0.0/16", "IcmpType", "8", "IcmpCode", "-1"),
		http.StatusConflict, "IncorrectState", "ICMP rules cannot be enforced here")
	mustOK(t, alice.vpc("AuthorizeSecurityGroupEntry", "SecurityGroupId", "sg-a", "Direction", "in", "Protocol", "TCP",
		"CidrBlock", "10.90.0.0/16", "PortRangeFrom", "22", "PortRangeTo", "22"))
	if sg, _ := describeSG(t, alice, "sg-a"); len(sg.SecurityGroupEntrySet) != 3 || sg.SecurityGroupEntrySet[2].Protocol != "TCP" {
		t.Fatalf("want the two default rules and the TCP one: %+v", sg.SecurityGroupEntrySet)
	}
	if ch := s.enforcer.Changed(); len(ch) != 1 {
		t.Errorf("the runtime was told of %d changes, want 1 (the refused rule is none)", len(ch))
	}
}

// A state recorded by a kcid that enforced no rules (security groups
// without the default rules, no record.RulesEnforced): on the first start
// that enforces them every recorded group is given the defaults once, so
// the upgrade changes no traffic; rules it had stay; defaults revoked
// after that stay revoked.
func TestUpgradeGivesRecordedGroupsTheDefaults(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := core.SecurityGroup{ID: "sg-old", Name: "old", VpcID: "vpc-a"}
	kept := core.SecurityGroupRule{ID: "rule-kept", Direction: "in", Protocol: "tcp", CIDR: "0.0.0.0/0", PortFrom: 443, PortTo: 443, Policy: "Accept"}
	conf := core.SecurityGroup{ID: "sg-a", VpcID: "vpc-a", Configured: true, Rules: []core.SecurityGroupRule{kept}}
	for _, g := range []core.SecurityGroup{old, conf} {
		if err := st.PutSecurityGroup("1001", g); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	s := startServer(t, serverOpts{config: tenantsConfig, dataDir: dir})
	alice, _, _ := tenants(s)
	got, _ := describeSG(t, alice, "sg-old")
	if len(got.SecurityGroupEntrySet) != 2 || got.SecurityGroupEntrySet[0].Direction != "out" ||
		got.SecurityGroupEntrySet[1].Direction != "in" || got.SecurityGroupEntrySet[1].CidrBlock != "10.90.0.0/16" {
		t.Fatalf("an API-made group recorded before enforcement: %+v, want everything out and everything in from its VPC", got.SecurityGroupEntrySet)
	}
	if c, _ := describeSG(t, alice, "sg-a"); len(c.SecurityGroupEntrySet) != 3 || c.SecurityGroupEntrySet[2].SecurityGroupEntryID != kept.ID {
		t.Fatalf("a configured group with a rule recorded before enforcement: %+v, want the defaults and its rule", c.SecurityGroupEntrySet)
	}
	for _, e := range got.SecurityGroupEntrySet {
		mustOK(t, alice.vpc("RevokeSecurityGroupEntry", "SecurityGroupId", "sg-old", "SecurityGroupEntryId", e.SecurityGroupEntryID))
	}
	s.stop()
	s = startServer(t, serverOpts{config: tenantsConfig, dataDir: dir})
	alice, _, _ = tenants(s)
	if got, _ := describeSG(t, alice, "sg-old"); len(got.SecurityGroupEntrySet) != 0 {
		t.Fatalf("revoked defaults came back at the next start: %+v", got.SecurityGroupEntrySet)
	}
}

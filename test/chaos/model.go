package main

import (
	"fmt"
	"sort"
	"sync"

	"github.com/openkci/openkci/pkg/kci"
)

// fate is what the suite knows of a group it asked kcid to create.
type fate int

const (
	// createLost: the create was sent and its answer lost (kcid killed,
	// connection reset); kcid may or may not have the group.
	createLost fate = iota
	// live: kcid acknowledged the create (or listed the group after a lost
	// answer) and no delete of it was acknowledged.
	live
	// deleteLost: a delete was sent and its answer lost.
	deleteLost
	// deleted: kcid acknowledged the delete (or answered
	// ContainerGroupNotFound to a later one); it must never be listed again.
	deleted
	// neverCreated: the create's answer was lost and the kcid started after
	// it did not list the group; it must never appear.
	neverCreated
)

func (f fate) String() string {
	return [...]string{"create-answer-lost", "live", "delete-answer-lost", "deleted", "never-created"}[f]
}

// group is the suite's record of one group.
type group struct {
	name string // unique in the run: the key until kcid's ID is known
	id   string // kcid's ID, "" while unknown
	kind kind
	disk string // EBS volume ID it mounts, "" if none
	fate fate
	// gen is the kcid generation (start count) that got the last request
	// whose answer was lost: the request can only be judged lost once a
	// later generation serves.
	gen int
	// diskFull: the data dir was full while the group was being created or
	// ran; a final error status is then reported as such.
	diskFull bool
	// status is the last status kcid reported.
	status string
}

// model is the suite's expectation of kcid's groups. Safe for concurrent
// use.
type model struct {
	mu     sync.Mutex
	groups map[string]*group // by name
	byID   map[string]*group
	// lostCreated and lostNotCreated count the creates whose answer was
	// lost by what the next listing showed.
	lostCreated, lostNotCreated int
}

func newModel() *model {
	return &model{groups: map[string]*group{}, byID: map[string]*group{}}
}

// add records a group about to be created; its create is in flight, so
// it starts as createLost until the answer says otherwise.
func (m *model) add(g *group) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups[g.name] = g
}

func (m *model) setID(g *group, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g.id = id
	m.byID[id] = g
}

func (m *model) setFate(g *group, f fate, gen int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g.fate, g.gen = f, gen
}

// pick returns the groups with one of the fates, sorted by name (so a
// seeded choice among them is reproducible).
func (m *model) pick(fates ...fate) []*group {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*group
	for _, g := range m.groups {
		for _, f := range fates {
			if g.fate == f {
				out = append(out, g)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// disksInUse are the disks of groups that kcid has or may have.
func (m *model) disksInUse() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := map[string]bool{}
	for _, g := range m.groups {
		if g.disk != "" && (g.fate == live || g.fate == createLost || g.fate == deleteLost) {
			in[g.disk] = true
		}
	}
	return in
}

// markDiskFull flags the groups kcid has or may have: the data dir filled
// up during their life.
func (m *model) markDiskFull() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, g := range m.groups {
		if g.fate != deleted && g.fate != neverCreated {
			g.diskFull = true
		}
	}
}

// observation is the kcid listing the model is compared with.
type observation struct {
	groups []kci.ContainerGroup
	gen    int // generation of the kcid that answered
}

// reconcile compares kcid's listing with the model, settles lost answers
// that the listing decides (only once a kcid generation later than the
// lost request answers), and returns the violations: acknowledged groups
// lost, deleted or never-created groups listed, groups nobody asked for,
// duplicate IPs, one disk in two groups, and groups in a final error.
func (m *model) reconcile(obs observation) []violation {
	m.mu.Lock()
	defer m.mu.Unlock()
	var vs []violation
	listed := map[string]*kci.ContainerGroup{}
	byName := map[string]*kci.ContainerGroup{}
	for i := range obs.groups {
		g := &obs.groups[i]
		listed[g.ContainerGroupID] = g
		byName[g.ContainerGroupName] = g
	}
	names := make([]string, 0, len(m.groups))
	for n := range m.groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g := m.groups[n]
		lg := byName[g.name]
		if g.id != "" && listed[g.id] != nil {
			lg = listed[g.id]
		}
		switch g.fate {
		case live:
			if lg == nil {
				vs = append(vs, violation{kind: vLost, detail: fmt.Sprintf("group %s (%s) was acknowledged and never deleted, but kcid does not list it", g.id, g.name)})
				continue
			}
		case createLost:
			if lg != nil {
				g.fate = live
				m.lostCreated++
				if g.id == "" {
					g.id = lg.ContainerGroupID
					m.byID[g.id] = g
				}
			} else if obs.gen > g.gen {
				g.fate = neverCreated
				m.lostNotCreated++
			}
		case deleteLost:
			if lg != nil {
				if obs.gen > g.gen {
					g.fate = live // the delete did not take; it is sent again later
				}
			} else {
				g.fate = deleted
			}
		case deleted, neverCreated:
			if lg != nil {
				vs = append(vs, violation{kind: vResurrected, detail: fmt.Sprintf("group %s (%s) is %s, but kcid lists it (status %s)", lg.ContainerGroupID, g.name, g.fate, lg.Status)})
			}
		}
		if lg == nil {
			continue
		}
		g.status = lg.Status
		// A container that cannot write to a full data dir may fail for
		// good (the job's write fails): Failed is then the right status.
		if lg.Status == kci.StatusCreateError || lg.Status == kci.StatusFailed && !g.diskFull {
			vs = append(vs, violation{kind: vStuck, key: lg.ContainerGroupID, detail: fmt.Sprintf("group %s (%s, %s) is %s, a status it cannot leave%s%s",
				lg.ContainerGroupID, g.name, g.kind, lg.Status, diskFullNote(g), lastEvent(lg))})
		}
	}
	for _, lg := range obs.groups {
		g := m.groups[lg.ContainerGroupName]
		if g == nil || (g.id != "" && g.id != lg.ContainerGroupID) {
			vs = append(vs, violation{kind: vUnknown, detail: fmt.Sprintf("kcid lists group %s (%q) that the suite did not create (or a second group for one create)", lg.ContainerGroupID, lg.ContainerGroupName)})
		}
	}
	vs = append(vs, duplicateIPs(obs.groups)...)
	vs = append(vs, sharedDisks(obs.groups)...)
	return vs
}

func diskFullNote(g *group) string {
	if g.diskFull {
		return " (the data dir was full during its life)"
	}
	return ""
}

func lastEvent(g *kci.ContainerGroup) string {
	if len(g.Events) == 0 {
		return ""
	}
	e := g.Events[len(g.Events)-1]
	return fmt.Sprintf("; last event: %s %s", e.Reason, e.Message)
}

// duplicateIPs: no two listed groups have the same private IP.
func duplicateIPs(groups []kci.ContainerGroup) []violation {
	owner := map[string]string{}
	var vs []violation
	for _, g := range groups {
		ip := g.PrivateIP()
		if ip == "" {
			continue
		}
		if other, ok := owner[ip]; ok {
			vs = append(vs, violation{kind: vDuplicateIP, detail: fmt.Sprintf("groups %s and %s both have IP %s", other, g.ContainerGroupID, ip)})
			continue
		}
		owner[ip] = g.ContainerGroupID
	}
	return vs
}

// sharedDisks: no EBS volume is in two listed groups.
func sharedDisks(groups []kci.ContainerGroup) []violation {
	owner := map[string]string{}
	var vs []violation
	for _, g := range groups {
		for _, v := range g.Volumes {
			if v.EBSVolume == nil {
				continue
			}
			id := v.EBSVolume.VolumeID
			if other, ok := owner[id]; ok && other != g.ContainerGroupID {
				vs = append(vs, violation{kind: vDiskTwice, detail: fmt.Sprintf("disk %s is in groups %s and %s", id, other, g.ContainerGroupID)})
				continue
			}
			owner[id] = g.ContainerGroupID
		}
	}
	return vs
}

// knownIDs are the IDs of every group kcid ever gave the suite (host
// resources are attributed to them).
func (m *model) knownIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.byID))
	for id := range m.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// unsettled lists the groups that kcid has and whose status is not yet the
// one their kind ends in.
func (m *model) unsettled() []*group {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*group
	for _, g := range m.groups {
		if g.fate == live && g.status != g.kind.settled() && !(g.diskFull && g.status == kci.StatusFailed) {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

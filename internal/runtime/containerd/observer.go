package containerd

import (
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/openkci/openkci/internal/core"
)

// Observer is told of what the runtime does, for metrics
// (*metrics.Recorder is one). Its methods must not block.
type Observer interface {
	// ImagePulled: a pull from a registry ended after d; bytes is the
	// image's stored size when it succeeded.
	ImagePulled(bytes int64, d time.Duration, err error)
	// ContainerRestarted: a container of the account started again after
	// an attempt ended.
	ContainerRestarted(accountID string)
	// GroupRunning: a group reached Running for the first time since this
	// worker began, d after the group was created.
	GroupRunning(d time.Duration)
}

// StartObserver is told of each step of a group's first start as it is
// reached (metrics: a histogram per step). It is optional: an Observer
// that also implements it is told.
type StartObserver interface {
	// GroupStartStep: the group reached step (of container, "" for a
	// group step) sinceAccepted after the API accepted it.
	GroupStartStep(step core.StartStep, container string, sinceAccepted time.Duration)
}

// observeStep tells a StartObserver of a step reached at t.
func (g *group) observeStep(step core.StartStep, container string, t time.Time) {
	if o, ok := g.r.cfg.Observer.(StartObserver); ok && step != core.StepAccepted {
		o.GroupStartStep(step, container, t.Sub(g.spec.CreatedAt))
	}
}

// observeRestart tells the observer of a container's start that was not
// its first attempt (started calls it as it records the start).
func (g *group) observeRestart() {
	if o := g.r.cfg.Observer; o != nil {
		o.ContainerRestarted(g.spec.AccountID)
	}
}

// observeStarted tells the observer the group's start-up time if a
// container's start made the group Running for the first time in this
// worker. A group adopted already Running at kcid's start is not counted
// again.
func (g *group) observeStarted(name string) {
	o := g.r.cfg.Observer
	if o == nil {
		return
	}
	g.mu.Lock()
	restarts := 0
	if c := g.st.Life.Container(name); c != nil {
		restarts = c.RestartCount()
	}
	phase := g.st.Life.Status(g.now()).Phase
	g.mu.Unlock()
	if phase == core.PhaseRunning && !g.sawRunning {
		g.sawRunning = true
		if restarts == 0 {
			o.GroupRunning(g.now().Sub(g.spec.CreatedAt))
		}
	}
}

// observePull tells the observer of a pull from a registry (not of an
// image found present, a refusal before any pull, or a pull cut short by
// the group's removal).
func (g *group) observePull(img containerd.Image, pulled, started bool, d time.Duration, err error) {
	o := g.r.cfg.Observer
	if o == nil || g.ctx.Err() != nil || (!pulled && (err == nil || !started)) {
		return
	}
	var size int64
	if err == nil && img != nil {
		size, _ = img.Size(g.ctx)
	}
	o.ImagePulled(size, d, err)
}

package containerd

import (
	"context"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/runtime/runtimetest"
	"github.com/openkci/openkci/internal/testenv"
)

// TestImageAccountIsolation: an image that account A pulled with its
// credentials is not handed to account B under IfNotPresent: B's pull goes
// to the registry with B's credentials, denied without them (ErrImagePull),
// allowed with them.
func TestImageAccountIsolation(t *testing.T) {
	e := newEnv(t)
	img := testenv.BusyboxImageWith(t, testenv.ImageConfig{Repo: "openkci/private-" + randHex(3)})
	cidr, gw, ip, sid := subnet()
	mk := func(name, account string, withCreds bool) *core.Group {
		g := e.group(name, ip(0), cidr, gw, sid, core.Container{Name: "c", Image: img,
			ImagePullPolicy: pullIfNotPresent, Command: sleeper("")})
		g.AccountID = account
		if !withCreds {
			g.Credentials = nil
		}
		return g
	}
	a := mk("a", "acc-a", true)
	a.Network.PrivateIP = ip(150)
	e.start(a)
	e.waitStatus(a.ID, 30*time.Second, allRunning)

	b := mk("b", "acc-b", false)
	b.Network.PrivateIP = ip(151)
	e.start(b)
	st := e.waitStatus(b.ID, 20*time.Second, func(s core.GroupStatus) bool {
		c := s.Containers[0].Current
		return c != nil && (c.Reason == "ErrImagePull" || c.Reason == "ImagePullBackOff")
	})
	if !hasEvent(st, "Failed", "Failed to pull image") {
		t.Errorf("no pull failure event:\n%s", runtimetest.Dump(st))
	}
	time.Sleep(time.Second) // retries fail too
	if st, _ := e.rt.Status(context.Background(), b.ID); st.Phase == core.PhaseRunning || st.Containers[0].Current.State == core.StateRunning {
		t.Fatalf("account B runs account A's image without credentials:\n%s", runtimetest.Dump(st))
	}
	if err := e.rt.Remove(context.Background(), b); err != nil {
		t.Fatal(err)
	}

	b2 := mk("b2", "acc-b", true)
	b2.Network.PrivateIP = ip(152)
	e.start(b2)
	e.waitStatus(b2.ID, 30*time.Second, allRunning)
	if st, _ := e.rt.Status(context.Background(), a.ID); !allRunning(st) || st.Containers[0].RestartCount != 0 {
		t.Errorf("account A's group disturbed:\n%s", runtimetest.Dump(st))
	}
	// Both accounts are recorded on the image: a second pull kept A's label.
	im, err := e.rt.client.GetImage(e.rt.nsCtx(context.Background()), img)
	if err != nil {
		t.Fatal(err)
	}
	if l := im.Labels(); l[labelAccountPrefix+"acc-a"] == "" || l[labelAccountPrefix+"acc-b"] == "" {
		t.Errorf("image labels: %v", l)
	}
}

// TestOperatorImageAndNeverPull: an image the operator put on the machine
// (no account pulled it) serves every account under Never; a missing image
// under Never waits in ErrImagePull/ImagePullBackOff with back-off instead
// of retrying in a tight loop.
func TestOperatorImageAndNeverPull(t *testing.T) {
	e := newEnv(t)
	img := testenv.BusyboxImageWith(t, testenv.ImageConfig{Repo: "openkci/operator-" + randHex(3)})
	creds := []core.RegistryCredential{{Server: e.reg.Host, Username: e.reg.Username, Password: e.reg.Password}}
	// As `ctr images import` would: present, unpacked, no account label.
	if _, err := e.rt.client.Pull(e.rt.nsCtx(context.Background()), img, containerd.WithPullUnpack,
		containerd.WithResolver(e.rt.images.resolver(creds))); err != nil {
		t.Fatal(err)
	}
	cidr, gw, ip, sid := subnet()
	g := e.group("op", ip(160), cidr, gw, sid, core.Container{Name: "c", Image: img, ImagePullPolicy: pullNever, Command: sleeper("")})
	g.AccountID, g.Credentials = "acc-any", nil
	e.start(g)
	e.waitStatus(g.ID, 30*time.Second, allRunning)

	missing := e.group("never", ip(161), cidr, gw, sid, core.Container{Name: "c",
		Image: e.reg.Host + "/openkci/never-pulled-" + randHex(3) + ":1", ImagePullPolicy: pullNever, Command: sleeper("")})
	e.start(missing)
	e.waitStatus(missing.ID, 20*time.Second, func(s core.GroupStatus) bool {
		c := s.Containers[0].Current
		return c != nil && (c.Reason == "ErrImagePull" || c.Reason == "ImagePullBackOff")
	})
	time.Sleep(2 * time.Second)
	st, err := e.rt.Status(context.Background(), missing.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range st.Events {
		if ev.Reason == "Failed" && ev.Count > 3 {
			t.Fatalf("pull retried %d times in about 2 s: no back-off\n%s", ev.Count, runtimetest.Dump(st))
		}
	}
}

package api_test

import (
	"strings"
	"testing"
)

// TestInitContainersCreateDescribe: InitContainer.N is accepted in every
// request style, the group keeps its init containers, and Describe shows
// them in the extension field InitContainers, in Containers' shape, with
// their states; a group without them has no InitContainers key.
func TestInitContainersCreateDescribe(t *testing.T) {
	s := startServer(t, serverOpts{config: netConfig})
	c := s.client()
	for _, st := range []style{stylePOSTForm, stylePOSTJSON, styleGET} {
		t.Run(st.String(), func(t *testing.T) {
			c.style = st
			p := createParams("init-"+strings.ToLower(st.String()), map[string]string{
				"Volume.1.Name": "work", "Volume.1.Type": "EmptyDirVolume",
				"InitContainer.1.Name": "prepare", "InitContainer.1.Image": "busybox", "InitContainer.1.ImagePullPolicy": "IfNotPresent",
				"InitContainer.1.Command.1": "sh", "InitContainer.1.Arg.1": "-c", "InitContainer.1.Arg.2": "echo hi > /work/x",
				"InitContainer.1.Cpu": "2", "InitContainer.1.Memory": "4", "InitContainer.1.WorkingDir": "/work",
				"InitContainer.1.EnvironmentVar.1.Key": "IP", "InitContainer.1.EnvironmentVar.1.ValueFrom.FieldRef.FieldPath": "status.podIP",
				"InitContainer.1.VolumeMount.1.Name": "work", "InitContainer.1.VolumeMount.1.MountPath": "/work",
				"InitContainer.2.Name": "second", "InitContainer.2.Image": "busybox",
			})
			r := c.do("CreateContainerGroup", p)
			mustOK(t, r)
			id := r.Body["ContainerGroupId"].(string)
			d := c.do("DescribeContainerGroup", vals("ContainerGroupId.1", id))
			mustOK(t, d)
			g := groups(d)[0]
			inits, _ := g["InitContainers"].([]any)
			if len(inits) != 2 {
				t.Fatalf("InitContainers %v", g["InitContainers"])
			}
			first := inits[0].(map[string]any)
			if first["Name"] != "prepare" || first["Image"] != "busybox" || first["ImagePullPolicy"] != "IfNotPresent" ||
				first["Cpu"] != 2.0 || first["Memory"] != 4.0 || first["WorkingDir"] != "/work" {
				t.Errorf("init container %v", first)
			}
			if cmd, args := first["Commands"].([]any), first["Args"].([]any); len(cmd) != 1 || len(args) != 2 || args[1] != "echo hi > /work/x" {
				t.Errorf("command %v args %v", cmd, args)
			}
			if env := first["EnvironmentVars"].([]any); len(env) != 1 {
				t.Errorf("env %v", env)
			}
			if vm, _ := first["VolumeMounts"].([]any); len(vm) != 1 {
				t.Errorf("volume mounts %v", first["VolumeMounts"])
			}
			cur := first["CurrentState"].(map[string]any)
			if cur["State"] != "terminated" || cur["Reason"] != "Completed" || cur["ExitCode"] != 0.0 {
				t.Errorf("state %v", cur)
			}
			if len(g["Containers"].([]any)) != 1 {
				t.Errorf("containers %v", g["Containers"])
			}
		})
	}
	c.style = stylePOSTForm
	r := c.do("CreateContainerGroup", createParams("no-init"))
	mustOK(t, r)
	d := c.do("DescribeContainerGroup", vals("ContainerGroupId.1", r.Body["ContainerGroupId"].(string)))
	mustOK(t, d)
	if _, has := groups(d)[0]["InitContainers"]; has {
		t.Errorf("a group without init containers shows InitContainers: %s", d.Raw)
	}
}

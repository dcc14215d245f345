package coretest

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestGroupsSetEveryField keeps the fixtures complete: a field added to
// core.Group (or to a type it holds) fails this test until a fixture sets
// it, so format and upgrade tests cover it too.
func TestGroupsSetEveryField(t *testing.T) {
	// Fields that came after the release whose files are in testdata; a
	// round trip of Filled covers them.
	addedAfterFixtures := map[string]bool{
		"Group.ClientToken": true, "Group.RequestHash": true,
		"Group.Containers[].Env[].FieldPath": true,
		"Group.HostPID":                      true, "Group.Containers[].Privileged": true,
		"Group.Labels": true, "Group.Labels[]": true, "Group.Labels[].Key": true, "Group.Labels[].Value": true,
		"Group.Containers[].RequestCPU": true, "Group.Containers[].RequestMemory": true,
		"Group.Volumes[].HostPath": true, "Group.ImageCacheID": true,
		"Group.Volumes[].EBS.SizeGB": true, "Group.Volumes[].EBS.Type": true, "Group.Volumes[].EBS.DeleteWithInstance": true,
		"Group.GPU": true, "Group.Containers[].GPU": true, "Group.Containers[].GPUDevices": true, "Group.Containers[].GPUDevices[]": true,
		"Group.Volumes[].NFS": true, "Group.Volumes[].NFS.Server": true, "Group.Volumes[].NFS.Path": true, "Group.Volumes[].NFS.ReadOnly": true,
	}
	for _, probe := range []string{"LivenessProbe", "ReadinessProbe", "StartupProbe"} {
		for _, f := range []string{"", ".Exec", ".Exec[]", ".HTTPGet", ".HTTPGet.Port", ".HTTPGet.Path", ".HTTPGet.Scheme",
			".TCPSocket", ".TCPSocket.Port", ".InitialDelaySeconds", ".PeriodSeconds", ".TimeoutSeconds",
			".SuccessThreshold", ".FailureThreshold"} {
			addedAfterFixtures["Group.Containers[]."+probe+f] = true
		}
	}
	set := map[string]bool{}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if !v.IsZero() {
			set[path] = true
		}
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				return
			}
			for i := range v.Len() {
				walk(path+"[]", v.Index(i))
			}
		case reflect.Struct:
			if v.Type().PkgPath() == "time" {
				return
			}
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		}
	}
	for _, g := range Groups() {
		walk("Group", reflect.ValueOf(g).Elem())
	}
	var missing []string
	var paths func(path string, t reflect.Type)
	paths = func(path string, t reflect.Type) {
		switch t.Kind() {
		case reflect.Pointer:
			paths(path, t.Elem())
			return
		case reflect.Slice:
			if t.Elem().Kind() != reflect.Uint8 {
				paths(path+"[]", t.Elem())
				return
			}
		case reflect.Struct:
			if t.PkgPath() != "time" {
				for i := range t.NumField() {
					paths(path+"."+t.Field(i).Name, t.Field(i).Type)
				}
				return
			}
		}
		// InitContainers and everything under them came after too.
		if !set[path] && !addedAfterFixtures[path] && !strings.HasPrefix(path, "Group.InitContainers") {
			missing = append(missing, path)
		}
	}
	paths("Group", reflect.TypeOf(Groups()[0]).Elem())
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("no fixture group sets %v", missing)
	}
}

package api

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/openkci/openkci/internal/api/awsquery"
	"github.com/openkci/openkci/internal/config"
	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/errdefs"
)

// validCreate is a create request that passes every stateless rule.
func validCreate() url.Values {
	return url.Values{
		"ContainerGroupName": {"web"}, "SubnetId": {"subnet-a"}, "SecurityGroupId.1": {"sg-a"},
		"ChargeType": {"HourlyInstantSettlement"}, "Cpu": {"1"}, "Memory": {"1"},
		"Container.1.Name": {"main"}, "Container.1.Image": {"busybox"},
	}
}

// buildFrom decodes params as the API does and runs the create rules.
func buildFrom(params url.Values) error {
	var req createContainerGroupRequest
	if err := awsquery.Decode(params, &req); err != nil {
		return err
	}
	_, err := buildGroup(&req, config.OnDemandDisks{}.WithDefaults())
	return err
}

const cfPrefix = "Volume.1.ConfigFileVolume.ConfigFileToPath."

// configFiles is a ConfigFile volume holding the given paths.
func configFiles(paths ...string) map[string]string {
	m := map[string]string{"Volume.1.Name": "cfg", "Volume.1.Type": "ConfigFileVolume"}
	for i, p := range paths {
		n := strconv.Itoa(i + 1)
		m[cfPrefix+n+".Path"] = p
		m[cfPrefix+n+".Content"] = "eA=="
	}
	return m
}

// The issue-9 cases that kcid used to accept and then fail on at run time:
// each must be refused up front, naming the parameter as the client sent it.
func TestBuildGroupRefusesWhatTheRuntimeCannotRun(t *testing.T) {
	name240, name241 := strings.Repeat("n", 240), strings.Repeat("n", 241)
	cases := []struct {
		name  string
		set   map[string]string
		param string // "" means the request is valid
	}{
		// Image references, parsed as containerd does.
		{"image with a scheme", map[string]string{"Container.1.Image": "file:///etc/passwd"}, "Container.1.Image"},
		{"image upper case", map[string]string{"Container.1.Image": "UPPER/Case:1"}, "Container.1.Image"},
		{"image with three colons", map[string]string{"Container.1.Image": "x:1:2:3"}, "Container.1.Image"},
		{"image bad digest", map[string]string{"Container.1.Image": "busybox@sha256:zzz"}, "Container.1.Image"},
		{"image short digest", map[string]string{"Container.1.Image": "busybox@sha256:abcd"}, "Container.1.Image"},
		{"image with blank", map[string]string{"Container.1.Image": "busy box"}, "Container.1.Image"},
		{"image of second container", map[string]string{"Container.2.Name": "b", "Container.2.Image": "Nginx"}, "Container.2.Image"},
		{"image too long", map[string]string{"Container.1.Image": "r.example/" + strings.Repeat("a/", 260) + "x"}, "Container.1.Image"},
		{"image plain", map[string]string{"Container.1.Image": "busybox"}, ""},
		{"image with registry port tag and digest", map[string]string{"Container.1.Image": "127.0.0.1:5000/a/b-c_d.e:v1.2@sha256:" + strings.Repeat("ab", 32)}, ""},
		{"image local", map[string]string{"Container.1.Image": "local/busybox:1"}, ""},
		// IPs written into /etc/hosts and resolv.conf.
		{"host alias ip with zone and newline", map[string]string{"HostAliase.1.Ip": "fe80::1%x\n6.6.6.6 injected-host", "HostAliase.1.Hostname.1": "a"}, "HostAliase.1.Ip"},
		{"host alias ip with zone", map[string]string{"HostAlias.1.Ip": "fe80::1%eth0", "HostAlias.1.Hostname.1": "a"}, "HostAlias.1.Ip"},
		{"host alias ipv6", map[string]string{"HostAliase.1.Ip": "fe80::1", "HostAliase.1.Hostname.1": "a"}, ""},
		{"name server with zone and newline", map[string]string{"DnsConfig.NameServer.1": "fe80::1%x\nnameserver 6.6.6.6"}, "DnsConfig.NameServer.N"},
		{"name server with zone", map[string]string{"DnsConfig.NameServer.1": "fe80::1%1"}, "DnsConfig.NameServer.N"},
		{"name server ipv4", map[string]string{"DnsConfig.NameServer.1": "10.0.0.2"}, ""},
		{"dns option with newline", map[string]string{"DnsConfig.Option.1.Name": "ndots", "DnsConfig.Option.1.Value": "2\nnameserver"}, "DnsConfig.Option.1.Name"},
		{"dns option with NUL", map[string]string{"DnsConfig.Option.1.Name": "nd\x00ots"}, "DnsConfig.Option.1.Name"},
		// Config files, as the file system will see them.
		{"config file name of 255 bytes", configFiles(strings.Repeat("n", 255)), cfPrefix + "1.Path"},
		{"config file name of 241 bytes", configFiles(name241), cfPrefix + "1.Path"},
		{"config file name of 240 bytes", configFiles(name240), ""},
		{"config file dir name of 241 bytes", configFiles(name241 + "/f"), cfPrefix + "1.Path"},
		{"config file path too long", configFiles(strings.Repeat("d/", 512) + "f"), cfPrefix + "1.Path"},
		{"config file a then a/b", configFiles("a", "a/b"), cfPrefix + "2.Path"},
		{"config file a/b then a", configFiles("a/b", "a"), cfPrefix + "2.Path"},
		{"config file a then a/b/c", configFiles("a", "a/b/c"), cfPrefix + "2.Path"},
		{"config file a/./b then a", configFiles("a/./b", "a"), cfPrefix + "2.Path"},
		{"config file siblings", configFiles("a/b", "a/c", "b"), ""},
		{"config file with newline", configFiles("a\nb"), cfPrefix + "1.Path"},
		{"config file with NUL", configFiles("a\x00b"), cfPrefix + "1.Path"},
		// CPU and memory the runtime can enforce.
		{"cpu 0.001", map[string]string{"Cpu": "0.001"}, "Cpu"},
		{"cpu 0.009", map[string]string{"Cpu": "0.009"}, "Cpu"},
		{"cpu 0.01", map[string]string{"Cpu": "0.01"}, ""},
		{"memory 0.001", map[string]string{"Memory": "0.001"}, "Memory"},
		{"memory 0.01", map[string]string{"Memory": "0.01"}, ""},
		{"container cpu 0.001", map[string]string{"Container.1.Cpu": "0.001"}, "Container.1.Cpu"},
		{"container memory 0.001", map[string]string{"Container.1.Memory": "0.001"}, "Container.1.Memory"},
		// NUL bytes, which exec and the environment cannot carry.
		{"NUL in env value", map[string]string{"Container.1.EnvironmentVar.1.Key": "A", "Container.1.EnvironmentVar.1.Value": "x\x00y"}, "Container.1.EnvironmentVar.1.Value"},
		{"NUL in arg", map[string]string{"Container.1.Arg.1": "ok", "Container.1.Arg.2": "a\x00b"}, "Container.1.Arg.N"},
		{"NUL in command", map[string]string{"Container.1.Command.1": "\x00"}, "Container.1.Command.N"},
		{"newline in arg", map[string]string{"Container.1.Arg.1": "a\nb"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validCreate()
			for k, v := range tc.set {
				p.Set(k, v)
			}
			err := buildFrom(p)
			if tc.param == "" {
				if err != nil {
					t.Fatalf("valid request refused: %v", err)
				}
				return
			}
			var pe *errdefs.ParamError
			if !errors.As(err, &pe) || pe.Code != errdefs.CodeInvalidParameterValue || pe.Param != tc.param {
				t.Fatalf("want InvalidParameterValue naming %s, got %v", tc.param, err)
			}
		})
	}
}

func TestContainerCountLimit(t *testing.T) {
	for _, n := range []int{maxContainers, maxContainers + 1} {
		p := validCreate()
		p.Set("Cpu", "256")
		p.Set("Memory", "512")
		for i := range n {
			p.Set(fmt.Sprintf("Container.%d.Name", i), fmt.Sprintf("c%d", i))
			p.Set(fmt.Sprintf("Container.%d.Image", i), "busybox")
		}
		err := buildFrom(p)
		var pe *errdefs.ParamError
		switch {
		case n <= maxContainers && err != nil:
			t.Fatalf("%d containers refused: %v", n, err)
		case n > maxContainers && (!errors.As(err, &pe) || pe.Param != "Container.N"):
			t.Fatalf("%d containers: want an error naming Container.N, got %v", n, err)
		}
	}
}

func TestParseFormNamesTheLongList(t *testing.T) {
	var b strings.Builder
	b.WriteString("Action=CreateContainerGroup")
	for i := range 10000 {
		fmt.Fprintf(&b, "&Container.%d.Name=c%d&Container.%d.Image=busybox", i, i, i)
	}
	err := parseForm(url.Values{}, map[string]int{}, b.String())
	ae, ok := err.(*apiError)
	if !ok || ae.Code != "InvalidParameterValue" || !strings.Contains(ae.Message, "parameter Container.N:") || !strings.Contains(ae.Message, "20000 under Container.N") {
		t.Fatalf("want InvalidParameterValue naming Container.N with its count, got %v", err)
	}
	for _, tc := range []struct {
		in      string
		bad     bool
		want    url.Values
		comment string
	}{
		{in: "a=1&b=%20x&a=2", want: url.Values{"a": {"1", "2"}, "b": {" x"}}},
		{in: "a+b=c+d&&=e", want: url.Values{"a b": {"c d"}, "": {"e"}}},
		{in: "Action=%zz", bad: true},
		{in: "a=1;b=2", bad: true},
	} {
		got := url.Values{}
		err := parseForm(got, map[string]int{}, tc.in)
		if tc.bad != (err != nil) || (!tc.bad && fmt.Sprint(got) != fmt.Sprint(tc.want)) {
			t.Errorf("parseForm(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// TestDiskRules: DataDisk.N and EBSVolume with Size/Type are checked
// statelessly against the SDK's types and sizes and the config's bounds,
// naming the field as sent.
func TestDiskRules(t *testing.T) {
	dd := func(i int, name, typ, size string) map[string]string {
		p := "DataDisk." + strconv.Itoa(i) + "."
		m := map[string]string{p + "VolumeName": name, p + "Type": typ, p + "Size": size}
		for k, v := range m {
			if v == "" {
				delete(m, k)
			}
		}
		return m
	}
	ebs := func(kv ...string) map[string]string {
		m := map[string]string{"Volume.1.Name": "v", "Volume.1.Type": "EBSVolume"}
		for i := 0; i < len(kv); i += 2 {
			m["Volume.1.EBSVolume."+kv[i]] = kv[i+1]
		}
		return m
	}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	limits := config.OnDemandDisks{MaxSizeGB: 100, MaxPerGroup: 2}
	cases := []struct {
		name  string
		set   map[string]string
		code  string // "" means valid
		param string
	}{
		{"data disk", dd(1, "data", "SSD3.0", "10"), "", ""},
		{"data disk at the config's largest", dd(1, "data", "EHDD", "100"), "", ""},
		{"data disk over the config's largest", dd(1, "data", "EHDD", "101"), errdefs.CodeInvalidParameterValue, "DataDisk.1.Size"},
		{"essd pl0 below 40", dd(1, "data", "ESSD_PL0", "39"), errdefs.CodeInvalidParameterValue, "DataDisk.1.Size"},
		{"essd pl2 over the config", dd(1, "data", "ESSD_PL2", "461"), errdefs.CodeInvalidParameterValue, "DataDisk.1.Size"},
		{"no size", dd(1, "data", "SSD3.0", ""), errdefs.CodeMissingParameter, "DataDisk.1.Size"},
		{"no type", dd(1, "data", "", "10"), errdefs.CodeMissingParameter, "DataDisk.1.Type"},
		{"unknown type", dd(1, "data", "ssd3.0", "10"), errdefs.CodeInvalidParameterValue, "DataDisk.1.Type"},
		{"no name", dd(1, "", "SSD3.0", "10"), errdefs.CodeMissingParameter, "DataDisk.1.VolumeName"},
		{"name with capitals", dd(1, "Data", "SSD3.0", "10"), errdefs.CodeInvalidParameterValue, "DataDisk.1.VolumeName"},
		{"name of a volume", merge(dd(1, "v", "SSD3.0", "10"), ebs("VolumeId", "d-1", "FsType", "ext4")), errdefs.CodeInvalidParameterValue, "DataDisk.1.VolumeName"},
		{"three disks", merge(dd(1, "a", "SSD3.0", "10"), dd(2, "b", "SSD3.0", "10"), dd(3, "c", "SSD3.0", "10")), errdefs.CodeInvalidParameterValue, "DataDisk.3"},
		{"new ebs disk", ebs("Size", "10", "Type", "EHDD"), "", ""},
		{"new ebs disk with fs", ebs("Size", "10", "Type", "EHDD", "FsType", "xfs"), "", ""},
		{"new ebs disk without type", ebs("Size", "10"), errdefs.CodeMissingParameter, "Volume.1.EBSVolume.Type"},
		{"new ebs disk bad fs", ebs("Size", "10", "Type", "EHDD", "FsType", "btrfs"), errdefs.CodeInvalidParameterValue, "Volume.1.EBSVolume.FsType"},
		{"ebs id and size", ebs("VolumeId", "d-1", "FsType", "ext4", "Size", "10"), errdefs.CodeInvalidParameterValue, "Volume.1.EBSVolume.Size"},
		{"ebs id and type", ebs("VolumeId", "d-1", "FsType", "ext4", "Type", "EHDD"), errdefs.CodeInvalidParameterValue, "Volume.1.EBSVolume.Type"},
		{"ebs nothing", ebs(), errdefs.CodeMissingParameter, "Volume.1.EBSVolume.VolumeId"},
		{"ebs 0-based", map[string]string{"Volume.0.Name": "v", "Volume.0.Type": "EBSVolume", "Volume.0.EBSVolume.Size": "5", "Volume.0.EBSVolume.Type": "EHDD"},
			errdefs.CodeInvalidParameterValue, "Volume.0.EBSVolume.Size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validCreate()
			for k, v := range tc.set {
				p.Set(k, v)
			}
			var req createContainerGroupRequest
			err := awsquery.Decode(p, &req)
			var g core.Group
			if err == nil {
				g, err = buildGroup(&req, limits)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("valid request refused: %v", err)
				}
				for _, v := range g.Volumes {
					if v.EBS == nil || v.EBS.VolumeID == "" && (v.EBS.SizeGB == 0 || v.EBS.FsType == "") {
						t.Errorf("volume %+v: a new disk without size or file system", v)
					}
				}
				return
			}
			var pe *errdefs.ParamError
			if !errors.As(err, &pe) || pe.Code != tc.code || pe.Param != tc.param {
				t.Fatalf("want %s naming %s, got %v", tc.code, tc.param, err)
			}
		})
	}
}

// TestNFSRules: an NFSVolume's server and path are checked before any
// runtime sees them, naming the field as sent.
func TestNFSRules(t *testing.T) {
	for _, tc := range []struct {
		server, path string
		code, param  string // "" means valid
	}{
		{"10.0.0.5", "/exports/data", "", ""},
		{"nfs.example.com", "/", "", ""},
		{"fd00::5", "/x", "", ""},
		{"", "/x", errdefs.CodeMissingParameter, "Volume.1.NFSVolume.Server"},
		{"10.0.0.5", "", errdefs.CodeMissingParameter, "Volume.1.NFSVolume.Path"},
		{"fe80::1%eth0", "/x", errdefs.CodeInvalidParameterValue, "Volume.1.NFSVolume.Server"},
		{"a,b", "/x", errdefs.CodeInvalidParameterValue, "Volume.1.NFSVolume.Server"},
		{"-o ro", "/x", errdefs.CodeInvalidParameterValue, "Volume.1.NFSVolume.Server"},
		{"10.0.0.5", "exports", errdefs.CodeInvalidParameterValue, "Volume.1.NFSVolume.Path"},
		{"10.0.0.5", "/exports/../etc", errdefs.CodeInvalidParameterValue, "Volume.1.NFSVolume.Path"},
		{"10.0.0.5", "/x,ro", errdefs.CodeInvalidParameterValue, "Volume.1.NFSVolume.Path"},
		{"10.0.0.5", "/x\n", errdefs.CodeInvalidParameterValue, "Volume.1.NFSVolume.Path"},
	} {
		p := validCreate()
		p.Set("Volume.1.Name", "share")
		p.Set("Volume.1.Type", "NFSVolume")
		if tc.server != "" {
			p.Set("Volume.1.NFSVolume.Server", tc.server)
		}
		if tc.path != "" {
			p.Set("Volume.1.NFSVolume.Path", tc.path)
		}
		err := buildFrom(p)
		if tc.code == "" {
			if err != nil {
				t.Errorf("%s:%s refused: %v", tc.server, tc.path, err)
			}
			continue
		}
		var pe *errdefs.ParamError
		if !errors.As(err, &pe) || pe.Code != tc.code || pe.Param != tc.param {
			t.Errorf("%q:%q: want %s naming %s, got %v", tc.server, tc.path, tc.code, tc.param, err)
		}
	}
}

package console

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openkci/openkci/internal/testenv"
)

// TestConsole walks the console as a user would, against the kcid binary
// on real containerd, in headless chromium.
func TestConsole(t *testing.T) {
	s := startKcid(t)
	image := testenv.BusyboxImage(t)
	reg := testenv.Registry(t)
	p := newPage(t)

	// /console redirects to the page, which asks to sign in.
	p.do("open the console", 30*time.Second, chromedp.Navigate(s.url+"/console"))
	p.waitFor("the sign-in form", `document.querySelector("h1") && document.querySelector("h1").textContent === "Sign in"`, 15*time.Second)
	if got := eval[string](p, `location.pathname + location.hash`); got != "/console/#/signin" {
		t.Errorf("location %q, want /console/#/signin", got)
	}

	t.Run("wrong key", func(t *testing.T) {
		p.t = t
		p.set(`input[name=accessKeyId]`, "AKLTnosuchkey")
		p.set(`input[name=secret]`, secretAccessKey)
		p.click(`form button[type=submit]`)
		p.waitFor("the refusal", `document.querySelector("main .error")`, 15*time.Second)
		msg := eval[string](p, `document.querySelector("main .error").textContent`)
		if !strings.Contains(msg, "kcid refused the key") || !strings.Contains(msg, "InvalidClientTokenId") || !regexp.MustCompile(`request ID [0-9a-f-]{36}`).MatchString(msg) {
			t.Errorf("wrong key shows %q; want the code and the request ID in words", msg)
		}
		// The right key with the wrong secret: the signature does not match.
		p.set(`input[name=accessKeyId]`, accessKeyID)
		p.set(`input[name=secret]`, "not-the-secret")
		p.click(`form button[type=submit]`)
		p.waitFor("the second refusal", `document.querySelector("main .error") && document.querySelector("main .error").textContent.includes("SignatureDoesNotMatch")`, 15*time.Second)
		if stored := eval[bool](p, `sessionStorage.length > 0`); stored {
			t.Error("a refused key was kept in sessionStorage")
		}
		p.screenshot("signin-error")
	})

	t.Run("sign in", func(t *testing.T) {
		p.t = t
		// By keyboard: Tab from the key to the secret, type it, Enter.
		p.set(`input[name=secret]`, "")
		p.do("Tab from the key", 10*time.Second, chromedp.SendKeys(chromedp.CSS(`input[name=accessKeyId]`), "\t"))
		if got := eval[string](p, `document.activeElement.name`); got != "secret" {
			t.Errorf("Tab from the access key went to %q, want the secret", got)
		}
		p.do("type the secret and Enter", 10*time.Second, chromedp.SendKeys(chromedp.CSS(`input[name=secret]`), secretAccessKey+"\r"))
		p.waitFor("the groups page", `document.querySelector("h1") && document.querySelector("h1").textContent === "Container groups"`, 15*time.Second)
		stored := eval[string](p, `sessionStorage.getItem("kci.console.credentials")`)
		if !strings.Contains(stored, accessKeyID) {
			t.Errorf("sessionStorage holds %q", stored)
		}
		if n := eval[int](p, `localStorage.length + document.cookie.length`); n != 0 {
			t.Errorf("the key reached localStorage or a cookie (%d)", n)
		}
		p.waitFor("the empty list", `document.querySelector("table.groups tbody").textContent.includes("No container groups")`, 15*time.Second)
	})

	var groupID string
	t.Run("create: a validation error next to its field", func(t *testing.T) {
		p.t = t
		p.goTo("#/create", "Create a container group")
		p.waitFor("the subnets", fmt.Sprintf(`[...document.querySelectorAll("[data-param=SubnetId] option")].some(o => o.value === %q)`, subnetID), 15*time.Second)
		p.set(`[data-param=ContainerGroupName]`, "web")
		p.set(`[data-param="Container.1.Image"]`, "UPPER/Case:1")
		p.click(`#create-submit`)
		p.waitFor("the field's error", `document.querySelector('[data-param="Container.1.Image"] + .field-error')`, 15*time.Second)
		got := eval[string](p, `document.querySelector('[data-param="Container.1.Image"] + .field-error').textContent`)
		if !strings.Contains(got, "repository name must be lowercase") && !strings.Contains(strings.ToLower(got), "lower") {
			t.Errorf("the image field shows %q", got)
		}
		if inv := eval[string](p, `document.querySelector('[data-param="Container.1.Image"]').getAttribute("aria-invalid")`); inv != "true" {
			t.Errorf("aria-invalid %q", inv)
		}
		if focused := eval[string](p, `document.activeElement.dataset.param || ""`); focused != "Container.1.Image" {
			t.Errorf("focus on %q, want the image field", focused)
		}
		summary := eval[string](p, `document.querySelector("#create-form .error").textContent`)
		if !strings.Contains(summary, "Container.1.Image") || !strings.Contains(summary, "request ID") {
			t.Errorf("the summary reads %q", summary)
		}
		p.screenshot("create-error")
		// The same request in the YAML editor, refused the same way.
		p.click("#mode-yaml")
		if y := eval[string](p, `document.querySelector("#create-json").value`); !strings.Contains(y, "ContainerGroupName: web\n") || !strings.Contains(y, `Image: "UPPER/Case:1"`) {
			t.Errorf("the YAML editor holds:\n%s", y)
		}
		p.click(`#create-form .actions button[type=button]`) // Validate (dry run)
		p.waitFor("the YAML's refusal", `document.querySelector("#create-json-error").textContent.includes("kcid refused Container.1.Image")`, 15*time.Second)
		p.click("#mode-form")
		if gs := s.groups(t); len(gs) != 0 {
			t.Fatalf("a refused create made %d groups", len(gs))
		}
	})

	t.Run("create: the form and the JSON and YAML editors hold one request", func(t *testing.T) {
		p.t = t
		editor := func() string { return eval[string](p, `document.querySelector("#create-json").value`) }
		mode := func() string { return eval[string](p, `document.querySelector("[aria-pressed=true]").id`) }
		formValue := func(param string) string {
			return eval[string](p, fmt.Sprintf(`document.querySelector('[data-param=%q]').value`, param))
		}
		problem := func() string { return eval[string](p, `document.querySelector("#create-json-error").textContent`) }
		p.click("#mode-json")
		orig := editor()
		var req map[string]any
		if err := json.Unmarshal([]byte(orig), &req); err != nil || req["ContainerGroupName"] != "web" || req["SubnetId"] != subnetID || req["ClientToken"] == nil {
			t.Fatalf("the JSON editor holds (%v):\n%s", err, orig)
		}

		// JSON → form: every field the form has shows the JSON's value;
		// what it has no field for is kept, named, and sent with it.
		edited := map[string]any{
			"ContainerGroupName": "web-json", "SubnetId": subnetID, "SecurityGroupId": []any{sgID}, "ChargeType": req["ChargeType"], "ClientToken": req["ClientToken"],
			"Cpu": 1.0, "Memory": 1.0, "RestartPolicy": "Never",
			"Volume": []any{map[string]any{"Name": "scratch", "Type": "EmptyDirVolume"}},
			"Container": []any{
				map[string]any{"Name": "app", "Image": image, "Command": []any{"sh", "-c", "echo hi"}, "EnvironmentVar": []any{map[string]any{"Key": "A", "Value": "1=2"}},
					"Port": []any{map[string]any{"Port": 80.0, "Protocol": "TCP"}}, "Cpu": 0.5, "VolumeMount": []any{map[string]any{"Name": "scratch", "MountPath": "/s"}}},
				map[string]any{"Name": "side", "Image": image},
			},
		}
		b, _ := json.MarshalIndent(edited, "", "  ")
		p.set("#create-json", string(b))
		p.click("#mode-form")
		if m := mode(); m != "mode-form" {
			t.Fatalf("still in %s: %s", m, problem())
		}
		for param, want := range map[string]string{
			"ContainerGroupName": "web-json", "Cpu": "1", "RestartPolicy": "Never", "SecurityGroupId": sgID,
			"Container.1.Command": "sh\n-c\necho hi", "Container.1.EnvironmentVar": "A=1=2", "Container.1.Port": "80/TCP", "Container.1.Cpu": "0.5",
			"Container.2.Name": "side", "Container.2.Image": image,
		} {
			if got := formValue(param); got != want {
				t.Errorf("the form's %s is %q, want %q", param, got, want)
			}
		}
		if kept := eval[string](p, `document.querySelector("#create-kept").textContent`); !strings.Contains(kept, "Volume, Container.1.VolumeMount") {
			t.Errorf("the form names what it keeps as %q", kept)
		}
		// kcid validates the form's request, kept volume and mount included.
		p.click(`#create-form .actions button[type=button]`) // Validate (dry run)
		p.waitFor("kcid's answer", `document.querySelector("#create-form .ok, #create-form .error")`, 15*time.Second)
		if ok := eval[string](p, `document.querySelector("#create-form .ok, #create-form .error").textContent`); !strings.Contains(ok, "Valid: kcid would create this group") {
			t.Errorf("the form's request with the kept parameters: %s", ok)
		}

		// form → YAML: the same request.
		p.click("#mode-yaml")
		yaml := editor()
		var back map[string]any
		quoted, _ := json.Marshal(yaml)
		if err := json.Unmarshal([]byte(eval[string](p, fmt.Sprintf(`import("/console/js/yaml.js").then(m => JSON.stringify(m.parseYAML(%s)))`, quoted))), &back); err != nil || !reflect.DeepEqual(back, edited) {
			t.Errorf("the YAML editor holds another request (%v):\n%s", err, yaml)
		}

		// Text that does not parse, or that the form cannot hold, keeps
		// the editor and the form as they are, and says where.
		for _, tc := range []struct {
			name, to, text, want string
			line                 int // where the caret goes, 0 for anywhere
		}{
			{"a tab in the YAML", "#mode-form", "ContainerGroupName: other\nContainer:\n\t- Name: app\n", "YAML line 3: a tab in the indentation", 3},
			{"a stray comma in the JSON", "#mode-form", "{\n  \"ContainerGroupName\": \"other\",\n  \"Cpu\": 1,,\n}", "JSON line 3, column 12", 3},
			{"two security groups", "#mode-form", `{"ContainerGroupName": "other", "SecurityGroupId": ["` + sgID + `", "sg-other"]}`, "The form cannot show SecurityGroupId.2 as the JSON has it (\"sg-other\")", 0},
			{"a value the form cannot hold", "#mode-form", `{"ContainerGroupName": "other", "Container": [{"Name": "app", "EnvironmentVar": [{"Key": "IP", "ValueFrom": {"FieldRef": {"FieldPath": "status.podIP"}}}]}]}`, "The form cannot show Container.1.EnvironmentVar.1.ValueFrom", 0},
		} {
			want := "#mode-yaml"
			if strings.Contains(tc.name, "JSON") || !strings.Contains(tc.name, "YAML") {
				want = "#mode-json"
			}
			if "#"+mode() != want {
				p.set("#create-json", yaml)
				p.click(want)
			}
			p.set("#create-json", tc.text)
			p.click(tc.to)
			if m := "#" + mode(); m != want {
				t.Errorf("%s: switched to %s", tc.name, m)
			}
			if got := problem(); !strings.Contains(got, tc.want) {
				t.Errorf("%s: the editor says %q, want %q", tc.name, got, tc.want)
			}
			if inv := eval[string](p, `document.querySelector("#create-json").getAttribute("aria-invalid") || ""`); inv != "true" {
				t.Errorf("%s: the editor is not marked invalid", tc.name)
			}
			if tc.line > 0 {
				if line := eval[int](p, `(() => { const e = document.querySelector("#create-json"); return e.value.slice(0, e.selectionStart).split("\n").length; })()`); line != tc.line {
					t.Errorf("%s: the caret is on line %d, want %d", tc.name, line, tc.line)
				}
			}
			if got := formValue("ContainerGroupName"); got != "web-json" || formValue("Container.2.Name") != "side" {
				t.Errorf("%s: the form changed (name %q)", tc.name, got)
			}
			if got := eval[string](p, `document.querySelector("#create-json").value`); got != tc.text {
				t.Errorf("%s: the editor's text changed", tc.name)
			}
		}

		// Back to the request the test began with.
		p.set("#create-json", orig)
		p.click("#mode-form")
		if m := mode(); m != "mode-form" || formValue("ContainerGroupName") != "web" || formValue("Container.1.Image") != "UPPER/Case:1" {
			t.Fatalf("the first request is not back in the form (%s): %s", m, problem())
		}
		if hidden := eval[bool](p, `document.querySelector("#create-kept").hidden && !document.querySelector('[data-param="Container.2.Name"]')`); !hidden {
			t.Error("the form still keeps parameters or a second container of the edited request")
		}
		if gs := s.groups(t); len(gs) != 0 {
			t.Fatalf("validating made %d groups", len(gs))
		}
	})

	t.Run("create from the form", func(t *testing.T) {
		p.t = t
		p.set(`[data-param="Container.1.Image"]`, image)
		p.set(`[data-param="Container.1.ImagePullPolicy"]`, "IfNotPresent")
		p.set(`[data-param="ImageRegistryCredential.1.Server"]`, reg.Host)
		p.set(`[data-param="ImageRegistryCredential.1.Username"]`, reg.Username)
		p.set(`[data-param="ImageRegistryCredential.1.Password"]`, reg.Password)
		p.set(`[data-param="Container.1.Command"]`, "sh\n-c\ni=0; while true; do echo line-$i; i=$((i+1)); sleep 1; done")
		p.click(`#create-submit`)
		p.waitFor("the group's page", `location.hash.startsWith("#/groups/")`, 30*time.Second)
		groupID = strings.TrimPrefix(eval[string](p, `location.hash`), "#/groups/")
		p.waitFor("Running", `document.querySelector("main .summary .status") && document.querySelector("main .summary .status").textContent === "Running"`, 90*time.Second)
		gs := s.groups(t)
		if len(gs) != 1 || gs[0].ContainerGroupID != groupID || gs[0].ContainerGroupName != "web" || gs[0].Containers[0].Image != image {
			t.Fatalf("groups after the create: %+v", gs)
		}
		p.waitFor("the container running in the table", `document.querySelector("#s-containers").parentElement.textContent.includes("running")`, 15*time.Second)
	})
	if groupID == "" {
		t.Fatal("no group")
	}

	t.Run("log and follow", func(t *testing.T) {
		p.t = t
		// The page read the log when the container started, maybe before
		// its first line: Reload until it is there.
		for deadline := time.Now().Add(30 * time.Second); !eval[bool](p, `document.querySelector("#log-output").textContent.includes("line-0\n")`); time.Sleep(500 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no line-0 in the log 30 s after Running:\n%s", p.mainText())
			}
			p.click("#log-reload")
		}
		p.click(`#log-follow`)
		// The page reads the log only on a click or while following: a
		// line written after the click appears only by following.
		start := eval[string](p, `document.querySelector("#log-output").textContent`)
		last := lastLine(start)
		want := fmt.Sprintf("line-%d\n", last+4)
		p.waitFor("followed lines", fmt.Sprintf(`document.querySelector("#log-output").textContent.includes(%q)`, want), 30*time.Second)
		text := eval[string](p, `document.querySelector("#log-output").textContent`)
		for i := 0; i <= last+4; i++ {
			if n := strings.Count(text, fmt.Sprintf("line-%d\n", i)); n != 1 {
				t.Errorf("line-%d appears %d times in the followed log:\n%s", i, n, text)
				break
			}
		}
	})

	t.Run("terminal", func(t *testing.T) {
		p.t = t
		p.click(`#exec-connect`)
		p.waitFor("the socket", `document.querySelector("pre.terminal").textContent.includes("#") || document.querySelector("pre.terminal").textContent.includes("$")`, 30*time.Second)
		// The shell computes 6*7: only a real shell behind the socket
		// prints 42 (the typed line shows the expression).
		p.do("type into the terminal", 20*time.Second, chromedp.SendKeys(chromedp.CSS("pre.terminal"), "echo hello-$((6*7)) from $(hostname)\r"))
		p.waitFor("the command's output", `/\nhello-42 from /.test(document.querySelector("pre.terminal").textContent)`, 20*time.Second)
		// Usage is sampled every second (the test's config): both charts
		// draw real cgroup readings within a few refreshes.
		p.waitFor("the CPU and memory charts", `document.querySelectorAll(".charts svg polyline").length === 2`, 30*time.Second)
		p.screenshot("group")
		p.do("exit the shell", 20*time.Second, chromedp.SendKeys(chromedp.CSS("pre.terminal"), "exit 3\r"))
		p.waitFor("the end of the command", `document.querySelector("#s-terminal").parentElement.querySelector(".summary").textContent.includes("exit code 3; disconnected")`, 20*time.Second)
	})

	t.Run("networks and regions", func(t *testing.T) {
		p.t = t
		p.goTo("#/networks", "Networks")
		p.waitFor("the subnet", fmt.Sprintf(`document.querySelector("main").textContent.includes(%q)`, subnetID), 15*time.Second)
		for _, want := range []string{"vpc-console", "10.81.1.0/24", sgID} {
			if !strings.Contains(p.mainText(), want) {
				t.Errorf("networks page lacks %q", want)
			}
		}
		p.screenshot("networks")
		p.goTo("#/regions", "Regions")
		p.waitFor("the regions", `document.querySelector("main").textContent.includes("cn-beijing-6a")`, 15*time.Second)
		p.screenshot("regions")
		p.goTo("#/groups", "Container groups")
		p.waitFor("the group in the list", `document.querySelector("table.groups tbody a") && document.querySelector("table.groups tbody .status").textContent === "Running"`, 15*time.Second)
		p.set("#group-search", "nothing-matches")
		p.waitFor("the filtered list", `document.querySelector("table.groups tbody").textContent.includes("No group matches")`, 5*time.Second)
		p.set("#group-search", "WE")
		p.waitFor("the group found again", `document.querySelector("table.groups tbody a")`, 5*time.Second)
		p.screenshot("groups")
	})

	t.Run("delete with confirmation", func(t *testing.T) {
		p.t = t
		p.goTo("#/groups/"+groupID, "web")
		p.click("#delete-group")
		p.waitFor("the dialog", `document.querySelector("dialog").open && document.activeElement.textContent === "Cancel"`, 10*time.Second)
		p.click("dialog button[value=cancel]")
		p.waitFor("the dialog closed", `!document.querySelector("dialog").open`, 10*time.Second)
		if len(s.groups(t)) != 1 {
			t.Fatal("Cancel deleted the group")
		}
		p.click("#delete-group")
		p.click("#delete-confirm")
		p.waitFor("the list", `location.hash === "#/groups"`, 30*time.Second)
		deadline := time.Now().Add(60 * time.Second)
		for len(s.groups(t)) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the group is still listed 60 s after the delete")
			}
			time.Sleep(500 * time.Millisecond)
		}
		p.waitFor("the empty list", `document.querySelector("table.groups tbody").textContent.includes("No container groups")`, 15*time.Second)
		s.waitRemoved(t, groupID, 60*time.Second)
	})

	p.t = t
	p.checkClean()
}

// lastLine is N of the last "line-N" in a log.
func lastLine(log string) int {
	m := regexp.MustCompile(`line-(\d+)\n`).FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

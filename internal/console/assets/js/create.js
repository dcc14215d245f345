// Create a group: a form, or the request as JSON or YAML. The API's validation
// errors name a wire parameter (Container.1.Image); the form field that
// carries it shows the message (fields are tagged with data-param, lists
// counted from 1 as on the wire).
import { call, APIError } from "./api.js";
import { h, clear, errorBox, field } from "./dom.js";
import { navigate } from "./main.js";
import { parseYAML, toYAML } from "./yaml.js";

const restartPolicies = ["Always", "OnFailure", "Never"];
const pullPolicies = ["", "IfNotPresent", "Always", "Never"];

const lines = (s) => s.split("\n").map((l) => l.trim()).filter(Boolean);

// input makes a form control tagged with the parameter it fills.
function input(param, attrs = {}) {
  return h(attrs.rows ? "textarea" : "input", { ...attrs, "data-param": param, spellcheck: false });
}

function select(param, values, selected) {
  return h("select", { "data-param": param }, values.map((v) => (Array.isArray(v) ? v : [v, v || "(default)"]))
    .map(([v, label]) => h("option", { value: v, selected: v === selected }, label)));
}

function containerFieldset(n, onRemove) {
  const p = (name) => `Container.${n}.${name}`;
  const fs = h("fieldset", { className: "container" },
    h("legend", {}, "Container " + n),
    field("Name", input(p("Name"), { required: true, value: n === 1 ? "app" : "" })),
    field("Image", input(p("Image"), { required: true, placeholder: "busybox:1.36" })),
    field("Image pull policy", select(p("ImagePullPolicy"), pullPolicies, "")),
    field("Command", input(p("Command"), { rows: 2 }), "One argument per line; empty: the image's entrypoint."),
    field("Arguments", input(p("Arg"), { rows: 2 }), "One argument per line."),
    field("Environment", input(p("EnvironmentVar"), { rows: 2, placeholder: "KEY=value" }), "One KEY=value per line."),
    field("Ports", input(p("Port"), { placeholder: "80/TCP, 53/UDP" })),
    field("CPU (cores)", input(p("Cpu"), { inputMode: "decimal" }), "Optional; at most the group's."),
    field("Memory (GiB)", input(p("Memory"), { inputMode: "decimal" }), "Optional; at most the group's."),
    onRemove ? h("button", { type: "button", onclick: onRemove }, "Remove container " + n) : null,
  );
  return fs;
}

// readContainer turns a container's fieldset into its request shape.
function readContainer(fs, n) {
  const v = (name) => fs.querySelector(`[data-param="Container.${n}.${name}"]`).value;
  const c = { Name: v("Name").trim(), Image: v("Image").trim() };
  if (v("ImagePullPolicy")) c.ImagePullPolicy = v("ImagePullPolicy");
  if (lines(v("Command")).length) c.Command = lines(v("Command"));
  if (lines(v("Arg")).length) c.Arg = lines(v("Arg"));
  const env = lines(v("EnvironmentVar")).map((l) => {
    const i = l.indexOf("=");
    return i < 0 ? { Key: l } : { Key: l.slice(0, i), Value: l.slice(i + 1) };
  });
  if (env.length) c.EnvironmentVar = env;
  const ports = v("Port").split(/[,\s]+/).filter(Boolean).map((p) => {
    const [port, proto] = p.split("/");
    return proto ? { Port: Number(port), Protocol: proto } : { Port: Number(port) };
  });
  if (ports.length) c.Port = ports;
  if (v("Cpu").trim()) c.Cpu = Number(v("Cpu"));
  if (v("Memory").trim()) c.Memory = Number(v("Memory"));
  return c;
}

export async function createPage(el) {
  const clientToken = crypto.randomUUID();
  const name = input("ContainerGroupName", { required: true, autocomplete: "off" });
  const subnet = h("select", { "data-param": "SubnetId" }, h("option", { value: "" }, "Loading subnets…"));
  const sg = h("select", { "data-param": "SecurityGroupId" }, h("option", { value: "" }, "Loading security groups…"));
  const cpu = input("Cpu", { value: "0.5", inputMode: "decimal", required: true });
  const memory = input("Memory", { value: "0.5", inputMode: "decimal", required: true });
  const restart = select("RestartPolicy", restartPolicies, "Always");
  const regServer = input("ImageRegistryCredential.1.Server", { placeholder: "registry.example.com", autocomplete: "off" });
  const regUser = input("ImageRegistryCredential.1.Username", { autocomplete: "off" });
  const regPass = input("ImageRegistryCredential.1.Password", { type: "password", autocomplete: "new-password" });
  const containers = h("div");
  const summary = h("div", { "aria-live": "polite" });
  const json = h("textarea", { id: "create-json", rows: 24, spellcheck: false, className: "code" });
  const editorLabel = h("label", { for: "create-json" });
  const jsonError = h("div", { id: "create-json-error", "aria-live": "polite" });
  const formView = h("div");
  const jsonView = h("div", { hidden: true });
  const tabs = { form: h("button", { type: "button", "aria-pressed": "true", id: "mode-form" }, "Form"),
    json: h("button", { type: "button", "aria-pressed": "false", id: "mode-json" }, "JSON"),
    yaml: h("button", { type: "button", "aria-pressed": "false", id: "mode-yaml" }, "YAML") };
  let mode = "form";
  let count = 0;

  const addContainer = () => {
    count++;
    const n = count;
    const fs = containerFieldset(n, n > 1 ? () => { fs.remove(); renumber(); } : null);
    containers.append(fs);
  };
  // renumber keeps fieldsets and their data-param names counted 1..N.
  const renumber = () => {
    const sets = [...containers.querySelectorAll("fieldset.container")];
    const values = sets.map((fs, i) => [...fs.querySelectorAll("[data-param]")].map((e) => e.value));
    containers.replaceChildren();
    count = 0;
    values.forEach((vals) => {
      addContainer();
      [...containers.lastChild.querySelectorAll("[data-param]")].forEach((e, j) => { e.value = vals[j]; });
    });
  };

  const request = () => {
    const body = {
      ContainerGroupName: name.value.trim(),
      SubnetId: subnet.value,
      SecurityGroupId: sg.value ? [sg.value] : [],
      ChargeType: "HourlyInstantSettlement",
      Cpu: cpu.value.trim() === "" ? undefined : Number(cpu.value),
      Memory: memory.value.trim() === "" ? undefined : Number(memory.value),
      RestartPolicy: restart.value,
      ImageRegistryCredential: regServer.value.trim() || regUser.value || regPass.value
        ? [{ Server: regServer.value.trim(), Username: regUser.value, Password: regPass.value }] : undefined,
      Container: [...containers.querySelectorAll("fieldset.container")].map((fs, i) => readContainer(fs, i + 1)),
      ClientToken: clientToken,
    };
    return JSON.parse(JSON.stringify(body)); // drops undefined
  };

  const clearErrors = () => {
    clear(summary);
    clear(jsonError);
    for (const e of el.querySelectorAll("[aria-invalid]")) {
      e.removeAttribute("aria-invalid");
      e.removeAttribute("aria-describedby");
    }
    for (const e of el.querySelectorAll(".field-error")) e.remove();
  };

  // showError puts the message next to the field its parameter names (the
  // longest tagged prefix of the wire name), or above the form.
  const showError = (err) => {
    if (mode !== "form") {
      jsonError.replaceChildren(errorBox(err, err.param ? "kcid refused " + err.param : "kcid refused the request"));
      return;
    }
    summary.replaceChildren(errorBox(err, "kcid refused the group"));
    if (!(err instanceof APIError) || !err.param) return;
    const parts = err.param.split(".");
    for (let k = parts.length; k > 0; k--) {
      const target = formView.querySelector(`[data-param="${parts.slice(0, k).join(".")}"]`);
      if (!target) continue;
      const id = "err-" + Math.random().toString(36).slice(2, 9);
      const msg = h("p", { className: "field-error", id }, err.message.replace(/^.*?parameter [^:]*: ?/, "") || err.message);
      target.setAttribute("aria-invalid", "true");
      target.setAttribute("aria-describedby", id);
      target.after(msg);
      target.focus();
      return;
    }
  };

  const body = () => (mode === "form" ? request() : mode === "json" ? JSON.parse(json.value) : parseYAML(json.value));
  const submit = async (dryRun) => {
    clearErrors();
    let req;
    try {
      req = body();
    } catch (e) {
      jsonError.replaceChildren(h("p", { className: "error", role: "alert" }, `The ${mode.toUpperCase()} does not parse: ${e.message}`));
      return;
    }
    if (dryRun) req.DryRun = true;
    try {
      const r = await call("CreateContainerGroup", req);
      navigate("#/groups/" + encodeURIComponent(r.ContainerGroupId));
    } catch (err) {
      if (dryRun && err.code === "DryRunOperation") {
        (mode === "form" ? summary : jsonError).replaceChildren(h("p", { className: "ok", role: "status" }, "Valid: kcid would create this group (request ID " + err.requestId + ")."));
        return;
      }
      showError(err);
    }
  };

  // switchTo shows the form or the editor; the editor starts from what
  // the current view would send.
  const switchTo = (next) => {
    if (next === mode) return;
    let req;
    try {
      req = body();
    } catch (e) {
      jsonError.replaceChildren(h("p", { className: "error", role: "alert" }, `The ${mode.toUpperCase()} does not parse, so it cannot be shown as ${next.toUpperCase()}: ${e.message}`));
      return;
    }
    clearErrors();
    if (next !== "form") {
      json.value = next === "json" ? JSON.stringify(req, null, 2) : toYAML(req);
      editorLabel.textContent = `Request (CreateContainerGroup) as ${next.toUpperCase()}; lists are ${next === "json" ? "arrays" : "YAML lists"}, as kcictl create -f reads them`;
    }
    mode = next;
    formView.hidden = mode !== "form";
    jsonView.hidden = mode === "form";
    for (const [m, b] of Object.entries(tabs)) b.setAttribute("aria-pressed", String(m === mode));
    if (mode !== "form") json.focus();
  };
  for (const [m, b] of Object.entries(tabs)) b.addEventListener("click", () => switchTo(m));

  addContainer();
  formView.append(
    h("fieldset", {}, h("legend", {}, "Group"),
      field("Name", name, "Lower-case letters, digits, '-' and '.'."),
      field("Subnet", subnet), field("Security group", sg),
      field("CPU (cores)", cpu), field("Memory (GiB)", memory), field("Restart policy", restart)),
    containers,
    h("button", { type: "button", onclick: () => { addContainer(); containers.lastChild.querySelector("input").focus(); } }, "Add a container"),
    h("fieldset", {}, h("legend", {}, "Private registry (optional)"),
      field("Server", regServer, "The registry host of the images that need a login, e.g. registry.example.com:5000."),
      field("Username", regUser), field("Password", regPass, "Sent with the create request; this page keeps it nowhere.")),
  );
  jsonView.append(h("div", { className: "field" }, editorLabel, json), jsonError);
  el.append(
    h("h1", {}, "Create a container group"),
    h("div", { className: "toolbar", role: "group", "aria-label": "Editor" }, tabs.form, tabs.json, tabs.yaml),
    h("form", { id: "create-form", noValidate: true, onsubmit: (e) => { e.preventDefault(); submit(false); } },
      summary, formView, jsonView,
      h("div", { className: "actions" },
        h("button", { type: "button", onclick: () => submit(true) }, "Validate (dry run)"),
        h("button", { type: "submit", id: "create-submit" }, "Create"))),
  );

  try {
    const [subnets, sgs] = await Promise.all([
      call("DescribeSubnets", {}, { service: "vpc" }),
      call("DescribeSecurityGroups", {}, { service: "vpc" }),
    ]);
    subnet.replaceChildren(...(subnets.SubnetSet || []).map((s) => h("option", { value: s.SubnetId }, `${s.SubnetName || s.SubnetId} — ${s.CidrBlock}, ${s.AvailabilityZoneName} (${s.SubnetId})`)));
    sg.replaceChildren(...(sgs.SecurityGroupSet || []).map((g) => h("option", { value: g.SecurityGroupId }, `${g.SecurityGroupName || g.SecurityGroupId} (${g.SecurityGroupId}, ${g.VpcId})`)));
  } catch (err) {
    summary.replaceChildren(errorBox(err, "Could not list the networks"));
  }
}

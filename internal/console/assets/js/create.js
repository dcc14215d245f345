// Create a group: a form, or the request as JSON or YAML. The API's validation
// errors name a wire parameter (Container.1.Image); the form field that
// carries it shows the message (fields are tagged with data-param, lists
// counted from 1 as on the wire). The three views hold one request: each
// starts from what the one before would send; what the form has no field
// for is kept as it is and sent with it.
import { call, APIError } from "./api.js";
import { h, clear, errorBox, field } from "./dom.js";
import { navigate } from "./main.js";
import { toYAML } from "./yaml.js";
import { parseRequest, offsetOf, groupFields, containerFields, others, difference, valueAt } from "./request.js";

const restartPolicies = ["Always", "OnFailure", "Never", ""];
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

// text is a request's value as a form field shows it ("" for none).
const text = (x) => (x === undefined || x === null ? "" : String(x));

// number is a form field's number, or undefined when it is empty (an
// empty field sends nothing).
const number = (s) => (s.trim() === "" ? undefined : Number(s));

// choose selects value in a select, adding it as an option marked "not in
// the list" when the list lacks it (a subnet typed in the JSON), so the form
// shows and sends what the request says.
function choose(sel, value) {
  for (const o of sel.querySelectorAll("option[data-added]")) if (o.value !== value) o.remove();
  const v = text(value);
  if (![...sel.options].some((o) => o.value === v)) sel.append(h("option", { value: v, "data-added": "" }, v === "" ? "(none)" : v + " (not in the list)"));
  sel.value = v;
}

// readContainer turns a container's fieldset into its request shape; the
// parameters the form has no field for (fs.extras) go with it as they are.
function readContainer(fs, n) {
  const v = (name) => fs.querySelector(`[data-param="Container.${n}.${name}"]`).value;
  const c = {};
  if (v("Name").trim()) c.Name = v("Name").trim();
  if (v("Image").trim()) c.Image = v("Image").trim();
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
  return { ...c, ...fs.extras };
}

// fillContainer shows a request's container in its fieldset.
function fillContainer(fs, n, c) {
  const set = (name, value) => { fs.querySelector(`[data-param="Container.${n}.${name}"]`).value = value; };
  const list = (x) => (Array.isArray(x) ? x : x === undefined ? [] : [x]);
  c = c !== null && typeof c === "object" && !Array.isArray(c) ? c : {};
  fs.extras = others(c, containerFields);
  set("Name", text(c.Name));
  set("Image", text(c.Image));
  choose(fs.querySelector(`[data-param="Container.${n}.ImagePullPolicy"]`), c.ImagePullPolicy ?? "");
  set("Command", list(c.Command).join("\n"));
  set("Arg", list(c.Arg).join("\n"));
  set("EnvironmentVar", list(c.EnvironmentVar).map((e) => (e && e.Value !== undefined ? `${e.Key}=${e.Value}` : text(e && e.Key))).join("\n"));
  set("Port", list(c.Port).map((p) => (p && p.Protocol !== undefined ? `${p.Port}/${p.Protocol}` : text(p && p.Port))).join(", "));
  set("Cpu", text(c.Cpu));
  set("Memory", text(c.Memory));
}

export async function createPage(el) {
  // Kept for the form, which has no fields for them: the ClientToken (one
  // made when the page opens makes a repeated click answer the first
  // group), the charge type, and the group's parameters it does not show.
  let clientToken = crypto.randomUUID();
  let chargeType = "HourlyInstantSettlement";
  let groupExtras = {};
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
  const kept = h("p", { id: "create-kept", className: "summary", hidden: true });
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

  const containerSets = () => [...containers.querySelectorAll("fieldset.container")];
  const addContainer = () => {
    count++;
    const n = count;
    const fs = containerFieldset(n, n > 1 ? () => { fs.remove(); renumber(); } : null);
    fs.extras = {};
    containers.append(fs);
  };
  // renumber keeps fieldsets and their data-param names counted 1..N.
  const renumber = () => {
    const sets = containerSets();
    const values = sets.map((fs) => [...fs.querySelectorAll("[data-param]")].map((e) => e.value));
    const extras = sets.map((fs) => fs.extras);
    containers.replaceChildren();
    count = 0;
    values.forEach((vals, i) => {
      addContainer();
      containers.lastChild.extras = extras[i];
      [...containers.lastChild.querySelectorAll("[data-param]")].forEach((e, j) => { e.value = vals[j]; });
    });
    showKept();
  };

  // showKept names the parameters the form sends without showing them.
  const showKept = () => {
    const names = [...Object.keys(groupExtras), ...containerSets().flatMap((fs, i) => Object.keys(fs.extras).map((k) => `Container.${i + 1}.${k}`))];
    kept.hidden = names.length === 0;
    kept.textContent = names.length ? `Also in this request, sent as they are (edit them as JSON or YAML): ${names.join(", ")}.` : "";
  };

  // request is what the form sends: an empty field sends nothing.
  const request = () => {
    const cred = { Server: regServer.value.trim() || undefined, Username: regUser.value || undefined, Password: regPass.value || undefined };
    const body = {
      ContainerGroupName: name.value.trim() || undefined,
      SubnetId: subnet.value || undefined,
      SecurityGroupId: sg.value ? [sg.value] : undefined,
      ChargeType: chargeType,
      Cpu: number(cpu.value),
      Memory: number(memory.value),
      RestartPolicy: restart.value || undefined,
      ImageRegistryCredential: cred.Server || cred.Username || cred.Password ? [cred] : undefined,
      Container: containerSets().length ? containerSets().map((fs, i) => readContainer(fs, i + 1)) : undefined,
      ClientToken: clientToken,
      ...groupExtras,
    };
    return JSON.parse(JSON.stringify(body)); // drops undefined
  };

  // fill shows a request in the form: each parameter in its field, the
  // ones the form has no field for kept as they are.
  const fill = (req) => {
    groupExtras = others(req, groupFields);
    chargeType = req.ChargeType;
    clientToken = req.ClientToken;
    name.value = text(req.ContainerGroupName);
    choose(subnet, req.SubnetId ?? "");
    choose(sg, Array.isArray(req.SecurityGroupId) ? req.SecurityGroupId[0] ?? "" : req.SecurityGroupId ?? "");
    cpu.value = text(req.Cpu);
    memory.value = text(req.Memory);
    choose(restart, req.RestartPolicy ?? "");
    const cred = (Array.isArray(req.ImageRegistryCredential) && req.ImageRegistryCredential[0]) || {};
    regServer.value = text(cred.Server);
    regUser.value = text(cred.Username);
    regPass.value = text(cred.Password);
    containers.replaceChildren();
    count = 0;
    (Array.isArray(req.Container) ? req.Container : []).forEach((c) => {
      addContainer();
      fillContainer(containers.lastChild, count, c);
    });
    showKept();
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

  const body = () => (mode === "form" ? request() : parseRequest(json.value, mode));

  // editorError says what is wrong with the editor's request, and where:
  // the caret goes to the line and column a syntax error names.
  const editorError = (message, e) => {
    clearErrors();
    jsonError.replaceChildren(h("p", { className: "error", role: "alert", id: "create-json-problem" }, message));
    json.setAttribute("aria-invalid", "true");
    json.setAttribute("aria-describedby", "create-json-problem");
    json.focus();
    if (e && e.line) {
      const off = offsetOf(json.value, e.line, e.column || 1);
      json.setSelectionRange(off, off);
    }
  };

  const submit = async (dryRun) => {
    clearErrors();
    let req;
    try {
      req = body();
    } catch (e) {
      editorError(`The ${mode.toUpperCase()} is not a request: ${e.message}`, e);
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

  // switchTo shows the form or the editor, which starts from what the
  // current view would send. A request the next view cannot show as it is
  // (text that does not parse, a value the form has no field for) keeps the
  // current view, and the form unchanged, and says why and where.
  const switchTo = (next) => {
    if (next === mode) return;
    let req;
    try {
      req = body();
    } catch (e) {
      editorError(`The ${mode.toUpperCase()} is not a request, so it cannot be shown as ${next === "form" ? "the form" : next.toUpperCase()}: ${e.message}`, e);
      return;
    }
    if (next === "form") {
      const before = request();
      fill(req);
      const diff = difference(request(), req);
      if (diff !== null) {
        fill(before);
        const was = valueAt(req, diff);
        editorError(`The form cannot show ${diff} as the ${mode.toUpperCase()} has it (${was === undefined ? "absent" : JSON.stringify(was)}); the form is unchanged. ` +
          `Keep editing the ${mode.toUpperCase()} (Validate and Create send it as it is), or change ${diff} to what the form holds.`);
        return;
      }
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
      summary, kept, formView, jsonView,
      h("div", { className: "actions" },
        h("button", { type: "button", onclick: () => submit(true) }, "Validate (dry run)"),
        h("button", { type: "submit", id: "create-submit" }, "Create"))),
  );

  try {
    const [subnets, sgs] = await Promise.all([
      call("DescribeSubnets", {}, { service: "vpc" }),
      call("DescribeSecurityGroups", {}, { service: "vpc" }),
    ]);
    // A subnet or security group the form took from an editor meanwhile
    // stays chosen.
    const keep = [subnet.value, sg.value];
    subnet.replaceChildren(...(subnets.SubnetSet || []).map((s) => h("option", { value: s.SubnetId }, `${s.SubnetName || s.SubnetId} — ${s.CidrBlock}, ${s.AvailabilityZoneName} (${s.SubnetId})`)));
    sg.replaceChildren(...(sgs.SecurityGroupSet || []).map((g) => h("option", { value: g.SecurityGroupId }, `${g.SecurityGroupName || g.SecurityGroupId} (${g.SecurityGroupId}, ${g.VpcId})`)));
    if (keep[0]) choose(subnet, keep[0]);
    if (keep[1]) choose(sg, keep[1]);
  } catch (err) {
    summary.replaceChildren(errorBox(err, "Could not list the networks"));
  }
}

// One group: its summary, containers, volumes, network, events as a
// timeline, logs (with follow), a terminal, CPU and memory charts, and
// delete with confirmation.
import { call } from "./api.js";
import { h, clear, errorBox, statusBadge, time, field, definitionList } from "./dom.js";
import { LogFollower, logWindow } from "./logfollow.js";
import { Terminal } from "./terminal.js";
import { lineChart } from "./chart.js";
import { navigate } from "./main.js";

const refreshEvery = 3000;
const metricEvery = 5000;

function stateText(s) {
  if (!s) return "";
  let t = s.State || "";
  if (s.Reason) t += " (" + s.Reason + ")";
  if (s.ExitCode != null && s.State === "terminated") t += ", exit code " + s.ExitCode;
  return t;
}

function containersTable(caption, list) {
  return h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ["Name", "Image", "State", "Started", "Restarts", "Previous state", "CPU", "Memory (GiB)"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, list.map((c) => h("tr", {},
      h("td", {}, c.Name), h("td", {}, c.Image),
      h("td", {}, stateText(c.CurrentState)), h("td", {}, time(c.CurrentState && c.CurrentState.StartTime)),
      h("td", { className: "num" }, c.RestartCount), h("td", {}, stateText(c.PreviousState)),
      h("td", { className: "num" }, c.Cpu ?? "—"), h("td", { className: "num" }, c.Memory ?? "—"),
    ))));
}

function volumesSection(g) {
  const vols = g.Volumes || [];
  if (!vols.length) return h("p", {}, "No volumes.");
  const mounts = (name) => (g.Containers || []).flatMap((c) => (c.VolumeMounts || []).filter((m) => m.Name === name).map((m) => `${c.Name}:${m.MountPath}${m.ReadOnly ? " (read-only)" : ""}`));
  return h("table", {},
    h("caption", {}, "Volumes"),
    h("thead", {}, h("tr", {}, ["Name", "Type", "Source", "Mounted at"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, vols.map((v) => h("tr", {},
      h("td", {}, v.Name), h("td", {}, v.Type),
      h("td", {}, v.EBSVolume ? `${v.EBSVolume.VolumeId} (${v.EBSVolume.FsType})` : v.HostPathVolume ? v.HostPathVolume.Path
        : v.ConfigFileVolume ? (v.ConfigFileVolume.ConfigFileToPaths || []).map((f) => f.Path).join(", ") : ""),
      h("td", {}, mounts(v.Name).join(", ")),
    ))));
}

function networkSection(g) {
  const nics = g.NetworkInterfaceAttributes || [];
  if (!nics.length) return h("p", {}, "No network interface.");
  return nics.map((n) => definitionList([
    ["Private IP", n.PrivateIpAddress], ["MAC", n.MacAddress], ["VPC", n.VpcId], ["Subnet", n.SubnetId],
    ["Security groups", (n.SecurityGroups || []).map((s) => s.SecurityGroupId).join(", ")],
    g.DnsConfig && ["DNS servers", (g.DnsConfig.NameServers || []).join(", ")],
  ]));
}

function timeline(events) {
  const list = [...(events || [])].sort((a, b) => new Date(a.LastTimestamp) - new Date(b.LastTimestamp));
  if (!list.length) return h("p", {}, "No events yet.");
  return h("ol", { className: "timeline" }, list.map((e) => h("li", { className: "event event-" + String(e.Type).toLowerCase() },
    h("time", { dateTime: e.LastTimestamp }, time(e.LastTimestamp)),
    h("strong", {}, " " + e.Reason),
    e.Count > 1 ? h("span", { className: "count" }, ` ×${e.Count} since ${time(e.FirstTimestamp)}`) : null,
    h("div", {}, e.Message),
  )));
}

function containerSelect(id, g) {
  const names = (g.InitContainers || []).map((c) => c.Name).concat((g.Containers || []).map((c) => c.Name));
  return h("select", { id }, names.map((n) => h("option", { value: n }, n)));
}

// logsSection reads a container's log; Follow asks every second and
// appends only new lines (LogFollower).
function logsSection(g, stops, watchers) {
  const select = containerSelect("log-container", g);
  const follow = h("input", { type: "checkbox", id: "log-follow" });
  const out = h("pre", { className: "log", id: "log-output", tabIndex: 0, "aria-label": "Log", "aria-live": "off" });
  const problem = h("div", { "aria-live": "polite" });
  let timer = 0, follower = null, gen = 0;
  const load = async () => {
    const mine = ++gen;
    clearTimeout(timer);
    try {
      const r = await call("DescribeContainerLog", { ContainerGroupId: g.ContainerGroupId, ContainerName: select.value, Tail: follow.checked ? logWindow : 200 });
      if (mine !== gen) return;
      clear(problem);
      if (!follow.checked) {
        out.textContent = r.Content;
        follower = null;
      } else {
        if (!follower) {
          follower = new LogFollower();
          out.textContent = "";
        }
        const fresh = follower.update(r.Content);
        if (fresh.length) {
          const atBottom = out.scrollHeight - out.scrollTop - out.clientHeight < 4;
          out.append(fresh.join(""));
          if (atBottom) out.scrollTop = out.scrollHeight;
        }
      }
    } catch (err) {
      if (mine === gen) problem.replaceChildren(errorBox(err, "Could not read the log"));
    }
    if (follow.checked && mine === gen) timer = setTimeout(load, 1000);
  };
  // Not following, the log is read again when the container's state or
  // restart count changes (it started, or ran again).
  let seen = "";
  const watch = (g2) => {
    const c = [...(g2.InitContainers || []), ...(g2.Containers || [])].find((x) => x.Name === select.value);
    const now = c ? JSON.stringify([c.CurrentState && c.CurrentState.State, c.RestartCount]) : "";
    if (seen && now !== seen && !follow.checked) load();
    seen = now;
  };
  watch(g);
  select.addEventListener("change", () => { follower = null; seen = ""; load(); });
  follow.addEventListener("change", () => { follower = null; load(); });
  stops.push(() => { gen++; clearTimeout(timer); });
  load();
  watchers.push(watch);
  return h("div", {},
    h("div", { className: "toolbar" },
      h("label", { for: "log-container" }, "Container"), select,
      h("span", {}, follow, h("label", { for: "log-follow" }, " Follow (new lines every second)")),
      h("button", { type: "button", id: "log-reload", onclick: () => { follower = null; load(); } }, "Reload")),
    problem, out);
}

// terminalSection runs a command with a TTY over the exec socket.
function terminalSection(g, stops) {
  const select = containerSelect("exec-container", g);
  const command = h("input", { id: "exec-command", value: "sh", spellcheck: false });
  const status = h("p", { className: "summary", "aria-live": "polite" }, "Not connected.");
  const problem = h("div");
  const term = new Terminal({ label: "Terminal" });
  term.onstatus = (s) => { status.textContent = "Terminal: " + s + "."; };
  stops.push(() => term.close());
  const connect = async (e) => {
    e.preventDefault();
    clear(problem);
    const argv = command.value.trim().split(/\s+/).filter(Boolean);
    try {
      const r = await call("ExecContainerCommand", { ContainerGroupId: g.ContainerGroupId, ContainerName: select.value, Command: argv, TTY: true, Stdin: true });
      term.connect(r.WebSocketUri);
    } catch (err) {
      problem.replaceChildren(errorBox(err, "Could not start the command"));
    }
  };
  return h("div", {},
    h("form", { className: "toolbar", onsubmit: connect },
      h("label", { for: "exec-container" }, "Container"), select,
      h("label", { for: "exec-command" }, "Command"), command,
      h("button", { type: "submit", id: "exec-connect" }, "Connect"),
      h("button", { type: "button", onclick: () => term.close() }, "Disconnect")),
    problem, status, term.pre);
}

// chartsSection draws the last hour of DescribeContainerGroupMetric.
function chartsSection(g, stops) {
  const box = h("div", { className: "charts" }, h("p", {}, "Loading usage…"));
  let timer = 0;
  const load = async () => {
    try {
      const end = new Date();
      const start = new Date(end.getTime() - 3600 * 1000);
      const r = await call("DescribeContainerGroupMetric", { ContainerGroupId: g.ContainerGroupId, StartTime: start.toISOString().replace(/\.\d{3}/, ""), EndTime: end.toISOString().replace(/\.\d{3}/, "") });
      const recs = r.Records || [];
      const at = (rec) => new Date(rec.Timestamp).getTime();
      box.replaceChildren(
        lineChart({ title: "CPU", unit: "millicores", points: recs.slice(1).map((rec) => [at(rec), (rec.CPU && rec.CPU.UsageNanoCores || 0) / 1e6]) }),
        lineChart({ title: "Memory (working set)", unit: "MiB", points: recs.map((rec) => [at(rec), (rec.Memory && rec.Memory.WorkingSet || 0) / 1048576]) }),
      );
    } catch (err) {
      box.replaceChildren(errorBox(err, "Could not read the usage"));
    }
    timer = setTimeout(load, metricEvery);
  };
  stops.push(() => clearTimeout(timer));
  load();
  return box;
}

function deleteButton(g) {
  const problem = h("div");
  const cancel = h("button", { type: "button", value: "cancel" }, "Cancel");
  const confirm = h("button", { type: "button", className: "danger", id: "delete-confirm" }, "Delete " + g.ContainerGroupName);
  const dialog = h("dialog", { "aria-labelledby": "delete-title" },
    h("h2", { id: "delete-title" }, "Delete " + g.ContainerGroupName + "?"),
    h("p", {}, "Its containers are stopped and removed, with their logs and volumes, and its IP address is released. This cannot be undone."),
    problem,
    h("div", { className: "actions" }, cancel, confirm));
  cancel.addEventListener("click", () => dialog.close());
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      await call("DeleteContainerGroup", { ContainerGroupId: g.ContainerGroupId });
      dialog.close();
      navigate("#/groups");
    } catch (err) {
      problem.replaceChildren(errorBox(err, "Could not delete"));
      confirm.disabled = false;
    }
  });
  const open = h("button", { type: "button", className: "danger", id: "delete-group", onclick: () => { clear(problem); dialog.showModal(); cancel.focus(); } }, "Delete…");
  return [open, dialog];
}

export async function groupPage(el, id) {
  const stops = [];
  const watchers = []; // told of each refreshed group
  const title = h("h1", {}, "Container group");
  el.append(h("p", { className: "crumbs" }, h("a", { href: "#/groups" }, "Container groups")), title);
  let g;
  try {
    const r = await call("DescribeContainerGroup", { ContainerGroupId: [id] });
    g = r.ContainerGroups[0];
  } catch (err) {
    el.append(errorBox(err, "Could not read the group"));
    return;
  }
  if (!g) {
    el.append(h("p", { className: "error", role: "alert" }, "No group " + id + " in this region: it was deleted, or it belongs to another account or region."));
    return;
  }
  title.textContent = g.ContainerGroupName;
  const summary = h("div");
  const containers = h("div");
  const events = h("div");
  const live = h("p", { className: "summary", "aria-live": "polite" });
  const draw = () => {
    live.replaceChildren("Status: ", statusBadge(g.Status));
    summary.replaceChildren(definitionList([
      ["ID", g.ContainerGroupId], ["Status", statusBadge(g.Status)], ["Zone", g.AvailabilityZone],
      ["CPU", g.Cpu], ["Memory (GiB)", g.Memory], ["Restart policy", g.RestartPolicy],
      ["Created", time(g.CreateTime)], g.SucceededTime && ["Succeeded", time(g.SucceededTime)],
      (g.Labels || []).length > 0 && ["Labels", g.Labels.map((l) => l.Key + "=" + l.Value).join(", ")],
    ]));
    containers.replaceChildren(
      (g.InitContainers || []).length ? containersTable("Init containers", g.InitContainers) : "",
      containersTable("Containers", g.Containers || []));
    events.replaceChildren(timeline(g.Events));
  };
  draw();
  let timer = 0, stopped = false;
  const refresh = async () => {
    try {
      const r = await call("DescribeContainerGroup", { ContainerGroupId: [id] });
      if (r.ContainerGroups[0]) {
        g = r.ContainerGroups[0];
        draw();
        watchers.forEach((w) => w(g));
      } else {
        live.replaceChildren(h("span", { className: "error" }, "The group no longer exists."));
        return;
      }
    } catch (err) {
      live.replaceChildren(errorBox(err, "Could not refresh"));
    }
    if (!stopped) timer = setTimeout(refresh, refreshEvery);
  };
  timer = setTimeout(refresh, refreshEvery);
  stops.push(() => { stopped = true; clearTimeout(timer); });
  el.append(
    live,
    h("div", { className: "toolbar" }, deleteButton(g)),
    h("section", { "aria-labelledby": "s-summary" }, h("h2", { id: "s-summary" }, "Summary"), summary),
    h("section", { "aria-labelledby": "s-containers" }, h("h2", { id: "s-containers" }, "Containers"), containers),
    h("section", { "aria-labelledby": "s-usage" }, h("h2", { id: "s-usage" }, "CPU and memory, last hour"), chartsSection(g, stops)),
    h("section", { "aria-labelledby": "s-logs" }, h("h2", { id: "s-logs" }, "Logs"), logsSection(g, stops, watchers)),
    h("section", { "aria-labelledby": "s-terminal" }, h("h2", { id: "s-terminal" }, "Terminal"), terminalSection(g, stops)),
    h("section", { "aria-labelledby": "s-events" }, h("h2", { id: "s-events" }, "Events"), events),
    h("section", { "aria-labelledby": "s-volumes" }, h("h2", { id: "s-volumes" }, "Volumes"), volumesSection(g)),
    h("section", { "aria-labelledby": "s-network" }, h("h2", { id: "s-network" }, "Network"), networkSection(g)),
  );
  return () => stops.forEach((s) => s());
}

// The groups list: every group of the region in memory (pages of 100,
// fetched at once), refreshed every few seconds; search and filters run
// on that copy and only the visible page is rendered, so a few thousand
// groups filter as fast as they are typed.
import { call } from "./api.js";
import { h, clear, errorBox, statusBadge, time } from "./dom.js";

const refreshEvery = 5000;
const pageSizes = [25, 50, 100];

// listGroups fetches every group: the first page says how many there are,
// the rest are asked for at once.
export async function listGroups() {
  const first = await call("DescribeContainerGroup", { MaxResults: 100, Marker: 0 });
  const total = first.TotalCount || 0;
  const rest = [];
  for (let m = first.ContainerGroups.length; m < total; m += 100) rest.push(call("DescribeContainerGroup", { MaxResults: 100, Marker: m }));
  const pages = await Promise.all(rest);
  return first.ContainerGroups.concat(...pages.map((p) => p.ContainerGroups));
}

function ipOf(g) {
  const n = (g.NetworkInterfaceAttributes || [])[0];
  return n ? n.PrivateIpAddress : "";
}

function restarts(g) {
  return (g.Containers || []).reduce((n, c) => n + (c.RestartCount || 0), 0);
}

export function groupsPage(el) {
  const state = { groups: [], search: "", status: "", zone: "", page: 0, size: 50, rows: [] };
  const search = h("input", { type: "search", id: "group-search", placeholder: "name or IP", spellcheck: false });
  const status = h("select", { id: "group-status" }, h("option", { value: "" }, "All statuses"));
  const zone = h("select", { id: "group-zone" }, h("option", { value: "" }, "All zones"));
  const size = h("select", { id: "group-size" }, pageSizes.map((n) => h("option", { value: n, selected: n === state.size }, n + " per page")));
  const tbody = h("tbody");
  const summary = h("p", { className: "summary", "aria-live": "polite" });
  const prev = h("button", { type: "button" }, "Previous page");
  const next = h("button", { type: "button" }, "Next page");
  const problem = h("div");
  let scheduled = false;

  // filtered recomputes the visible rows; searchKey is made once per group.
  const filter = () => {
    const q = state.search.toLowerCase();
    state.rows = state.groups.filter((g) => (!state.status || g.Status === state.status) && (!state.zone || g.AvailabilityZone === state.zone) && (!q || g._key.includes(q)));
    const pages = Math.max(1, Math.ceil(state.rows.length / state.size));
    if (state.page >= pages) state.page = pages - 1;
  };
  const render = () => {
    scheduled = false;
    filter();
    const start = state.page * state.size;
    const visible = state.rows.slice(start, start + state.size);
    const frag = document.createDocumentFragment();
    for (const g of visible) {
      frag.append(h("tr", {},
        h("td", {}, h("a", { href: "#/groups/" + encodeURIComponent(g.ContainerGroupId) }, g.ContainerGroupName)),
        h("td", {}, statusBadge(g.Status)),
        h("td", {}, ipOf(g)),
        h("td", {}, g.AvailabilityZone),
        h("td", { className: "num" }, g.Cpu),
        h("td", { className: "num" }, g.Memory),
        h("td", { className: "num" }, restarts(g)),
        h("td", {}, time(g.CreateTime)),
      ));
    }
    if (!visible.length) frag.append(h("tr", {}, h("td", { colSpan: 8 }, state.groups.length ? "No group matches." : "No container groups in this region yet. ", state.groups.length ? null : h("a", { href: "#/create" }, "Create one."))));
    tbody.replaceChildren(frag);
    const total = state.rows.length;
    summary.textContent = total ? `Showing ${start + 1}–${start + visible.length} of ${total} groups` + (total !== state.groups.length ? ` (${state.groups.length} in all)` : "") : "";
    prev.disabled = state.page === 0;
    next.disabled = start + state.size >= total;
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(render);
    }
  };
  const options = (select, values) => {
    const keep = select.value;
    const first = select.options[0];
    select.replaceChildren(first, ...values.map((v) => h("option", { value: v, selected: v === keep }, v)));
  };
  search.addEventListener("input", () => { state.search = search.value.trim(); state.page = 0; schedule(); });
  status.addEventListener("change", () => { state.status = status.value; state.page = 0; schedule(); });
  zone.addEventListener("change", () => { state.zone = zone.value; state.page = 0; schedule(); });
  size.addEventListener("change", () => { state.size = Number(size.value); state.page = 0; schedule(); });
  prev.addEventListener("click", () => { state.page--; schedule(); });
  next.addEventListener("click", () => { state.page++; schedule(); });

  let timer = 0, stopped = false;
  const load = async () => {
    try {
      const groups = await listGroups();
      for (const g of groups) g._key = (g.ContainerGroupName + " " + ipOf(g) + " " + g.ContainerGroupId).toLowerCase();
      state.groups = groups;
      options(status, [...new Set(groups.map((g) => g.Status))].sort());
      options(zone, [...new Set(groups.map((g) => g.AvailabilityZone))].sort());
      clear(problem);
      schedule();
    } catch (err) {
      problem.replaceChildren(errorBox(err, "Could not list the groups"));
    }
    if (!stopped) timer = setTimeout(load, refreshEvery);
  };

  el.append(
    h("h1", {}, "Container groups"),
    h("div", { className: "toolbar", role: "search" },
      h("label", { for: "group-search" }, "Search"), search,
      h("label", { for: "group-status" }, "Status"), status,
      h("label", { for: "group-zone" }, "Zone"), zone,
      h("label", { for: "group-size" }, "Rows"), size,
      h("a", { className: "button", href: "#/create" }, "Create a group"),
    ),
    problem,
    h("table", { className: "groups" },
      h("caption", {}, "Container groups, refreshed every " + refreshEvery / 1000 + " seconds"),
      h("thead", {}, h("tr", {}, ["Name", "Status", "IP", "Zone", "CPU", "Memory (GiB)", "Restarts", "Created"].map((c) => h("th", { scope: "col" }, c)))),
      tbody),
    h("div", { className: "pager" }, prev, summary, next),
  );
  load();
  return () => { stopped = true; clearTimeout(timer); };
}

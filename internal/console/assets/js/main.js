// The console's shell: sign-in, navigation (hash routes) and the small
// pages (regions, networks). Each page is a function that fills <main> and
// may return a stop function, called when the user leaves the page.
import { call, credentials, saveCredentials, forgetCredentials } from "./api.js";
import { h, clear, errorBox, field, time } from "./dom.js";
import { groupsPage } from "./groups.js";
import { groupPage } from "./group.js";
import { createPage } from "./create.js";

const main = document.getElementById("main");
let stopPage = null;

const routes = [
  [/^#\/signin$/, signInPage],
  [/^#\/groups$/, groupsPage],
  [/^#\/groups\/([^/]+)$/, groupPage],
  [/^#\/create$/, createPage],
  [/^#\/networks$/, networksPage],
  [/^#\/regions$/, regionsPage],
];

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// WebCrypto (and so signing) exists only in a secure context: https, or
// http on 127.0.0.1 or localhost.
function insecure(el) {
  if (window.isSecureContext && crypto.subtle) return false;
  el.append(h("h1", {}, "This page cannot sign requests here"),
    h("p", { className: "error", role: "alert" },
      `The console signs each API request in the browser with WebCrypto, which browsers offer only to secure pages: https, or http on 127.0.0.1 or localhost. This page is ${location.origin}. Serve kcid over TLS (or behind a TLS proxy), or open it through 127.0.0.1 (for example with ssh -L 8080:127.0.0.1:8080).`));
  return true;
}

async function route() {
  if (stopPage) stopPage();
  stopPage = null;
  const creds = credentials();
  let hash = location.hash || "#/groups";
  if (!creds && hash !== "#/signin") hash = "#/signin";
  if (creds && hash === "#/signin") hash = "#/groups";
  if (hash !== location.hash) history.replaceState(null, "", hash);
  header(creds);
  clear(main);
  if (insecure(main)) return;
  for (const [re, page] of routes) {
    const m = re.exec(hash);
    if (m) {
      stopPage = (await page(main, ...m.slice(1).map(decodeURIComponent))) || null;
      const h1 = main.querySelector("h1");
      if (h1) {
        h1.tabIndex = -1;
        h1.focus();
        document.title = h1.textContent + " — OpenKCI console";
      }
      return;
    }
  }
  main.append(h("h1", {}, "Not found"), h("p", {}, "No page at ", hash, ". ", h("a", { href: "#/groups" }, "Go to the container groups.")));
}

function header(creds) {
  const nav = document.getElementById("nav");
  const who = clear(document.getElementById("who"));
  nav.hidden = !creds;
  for (const a of nav.querySelectorAll("a")) {
    if (location.hash.startsWith(a.getAttribute("href"))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!creds) return;
  who.append(
    h("span", {}, creds.accessKeyId + " · " + creds.region),
    h("button", { type: "button", className: "link", onclick: () => { forgetCredentials(); navigate("#/signin"); } }, "Sign out"),
  );
}

function signInPage(el) {
  const key = h("input", { name: "accessKeyId", autocomplete: "username", required: true, spellcheck: false });
  const secret = h("input", { name: "secret", type: "password", autocomplete: "current-password", required: true });
  const region = h("input", { name: "region", value: "cn-beijing-6", required: true, spellcheck: false });
  const status = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { className: "card narrow", onsubmit: async (e) => {
    e.preventDefault();
    clear(status);
    button.disabled = true;
    const creds = { accessKeyId: key.value.trim(), secret: secret.value, region: region.value.trim() };
    try {
      // Any signed call proves the key: DescribeRegions changes nothing.
      await call("DescribeRegions", {}, { creds });
      saveCredentials(creds);
      navigate("#/groups");
    } catch (err) {
      status.append(errorBox(err, "kcid refused the key"));
      button.disabled = false;
      key.focus();
    }
  } },
    field("Access key ID", key),
    field("Secret access key", secret, "Kept in this browser tab's session storage only; it signs each request here and is never sent."),
    field("Region", region),
    status,
    button,
  );
  el.append(h("h1", {}, "Sign in"), form);
}

async function regionsPage(el) {
  el.append(h("h1", {}, "Regions"));
  try {
    const { Regions } = await call("DescribeRegions");
    const current = credentials().region;
    el.append(h("table", {},
      h("caption", {}, "Regions this kcid serves"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Region"), h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Availability zones"), h("th", { scope: "col" }, ""))),
      h("tbody", {}, Regions.map((r) => h("tr", {},
        h("td", {}, r.Region), h("td", {}, r.RegionName), h("td", {}, (r.AvailabilityZones || []).join(", ")),
        h("td", {}, r.Region === current ? h("span", {}, "current") : h("button", { type: "button", onclick: () => {
          saveCredentials({ ...credentials(), region: r.Region });
          navigate("#/groups");
        } }, "Use " + r.Region)),
      ))),
    ));
  } catch (err) {
    el.append(errorBox(err));
  }
}

// all pages through a VPC Describe action (NextToken).
async function vpcList(action, set) {
  let out = [], token = "";
  do {
    const r = await call(action, token ? { MaxResults: 1000, NextToken: token } : { MaxResults: 1000 }, { service: "vpc" });
    out = out.concat(r[set] || []);
    token = r.NextToken || "";
  } while (token);
  return out;
}

async function networksPage(el) {
  el.append(h("h1", {}, "Networks"));
  const table = (caption, cols, rows) => h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, cols.map(([c]) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, cols.map(([, f]) => h("td", {}, f(r))))) : h("tr", {}, h("td", { colSpan: cols.length }, "None."))));
  const parts = await Promise.allSettled([vpcList("DescribeVpcs", "VpcSet"), vpcList("DescribeSubnets", "SubnetSet"), vpcList("DescribeSecurityGroups", "SecurityGroupSet")]);
  const [vpcs, subnets, sgs] = parts;
  el.append(h("h2", {}, "VPCs"), vpcs.status === "fulfilled" ? table("VPCs", [
    ["ID", (v) => v.VpcId], ["Name", (v) => v.VpcName], ["CIDR", (v) => v.CidrBlock], ["Default", (v) => (v.IsDefault ? "yes" : "no")], ["Created", (v) => time(v.CreateTime)],
  ], vpcs.value) : errorBox(vpcs.reason));
  el.append(h("h2", {}, "Subnets"), subnets.status === "fulfilled" ? table("Subnets", [
    ["ID", (s) => s.SubnetId], ["Name", (s) => s.SubnetName], ["CIDR", (s) => s.CidrBlock], ["VPC", (s) => s.VpcId],
    ["Zone", (s) => s.AvailabilityZoneName], ["Gateway", (s) => s.GatewayIp], ["Free IPs", (s) => s.AvailableIpNumber],
  ], subnets.value) : errorBox(subnets.reason));
  el.append(h("h2", {}, "Security groups"), sgs.status === "fulfilled" ? table("Security groups", [
    ["ID", (g) => g.SecurityGroupId], ["Name", (g) => g.SecurityGroupName], ["VPC", (g) => g.VpcId],
    ["Rules", (g) => (g.SecurityGroupEntrySet || []).map((e) => `${e.Direction} ${e.Protocol} ${e.CidrBlock}${e.PortRangeFrom ? " " + e.PortRangeFrom + "-" + e.PortRangeTo : ""} ${e.Policy || ""}`).join("; ") || "none"],
  ], sgs.value) : errorBox(sgs.reason));
}

window.addEventListener("hashchange", route);
route();

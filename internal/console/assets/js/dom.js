// Small DOM helpers. Text is always set as text (textContent), never as
// HTML, so nothing the API returns can become markup.

// h builds an element: attrs are properties (className, onclick, …) or,
// for names with a dash or "for", attributes; children are nodes, strings
// or arrays of them; null and false are skipped.
export function h(tag, attrs, ...children) {
  const el = tag.includes(":") ? document.createElementNS("http://www.w3.org/2000/svg", tag.split(":")[1]) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k.includes("-") || k === "for" || k === "role" || el instanceof SVGElement) el.setAttribute(k, v === true ? "" : String(v));
    else el[k] = v;
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// time renders an RFC 3339 (or KCI "yyyy-MM-dd HH:mm:ss", UTC+8) time in
// the browser's zone.
export function time(t) {
  if (!t) return "";
  // KCI's CreateTime has no zone: it is UTC+8 (docs/api.md). Browsers
  // would read it as local time.
  const d = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(t) ? new Date(t.replace(" ", "T") + "+08:00") : new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

export function statusBadge(status) {
  return h("span", { className: "status status-" + String(status || "unknown").toLowerCase() }, status || "Unknown");
}

// errorBox shows an error in words with its request ID.
export function errorBox(err, prefix) {
  const text = err && err.describe ? err.describe() : String((err && err.message) || err);
  return h("p", { className: "error", role: "alert" }, prefix ? prefix + ": " + text : text);
}

export function field(label, input, hint) {
  const id = input.id || (input.id = "f-" + Math.random().toString(36).slice(2, 9));
  return h("div", { className: "field" }, h("label", { for: id }, label), input, hint ? h("small", {}, hint) : null);
}

export function definitionList(pairs) {
  return h("dl", { className: "props" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === "" || v == null ? "—" : v)]));
}

// lineChart draws one series as an SVG polyline with its axes' extremes
// written out, plus a text summary for screen readers.
import { h } from "./dom.js";

export function lineChart({ title, unit, points, width = 480, height = 160 }) {
  const pad = { l: 56, r: 8, t: 8, b: 22 };
  const svg = h("svg:svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  svg.append(h("svg:title", {}, title));
  if (points.length < 2) {
    svg.append(h("svg:text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "axis" }, points.length ? "One sample so far; the chart needs two." : "No samples yet (one every 15 s)."));
    return h("figure", { className: "chart" }, h("figcaption", {}, title), svg);
  }
  const t0 = points[0][0], t1 = points[points.length - 1][0];
  const max = Math.max(...points.map((p) => p[1]), 1e-9) * 1.1;
  const x = (t) => pad.l + ((t - t0) / Math.max(t1 - t0, 1)) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  svg.append(
    h("svg:line", { x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b, class: "grid" }),
    h("svg:line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b, class: "grid" }),
    h("svg:text", { x: pad.l - 4, y: pad.t + 10, "text-anchor": "end", class: "axis" }, fmt(max) + " " + unit),
    h("svg:text", { x: pad.l - 4, y: height - pad.b, "text-anchor": "end", class: "axis" }, "0"),
    h("svg:text", { x: pad.l, y: height - 6, class: "axis" }, new Date(t0).toLocaleTimeString()),
    h("svg:text", { x: width - pad.r, y: height - 6, "text-anchor": "end", class: "axis" }, new Date(t1).toLocaleTimeString()),
    h("svg:polyline", { points: points.map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" "), class: "line" }),
  );
  const last = points[points.length - 1][1];
  return h("figure", { className: "chart" }, h("figcaption", {}, `${title}: now ${fmt(last)} ${unit}, peak ${fmt(max / 1.1)} ${unit}`), svg);
}

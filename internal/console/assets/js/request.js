// The create page's request as text and back: reading the JSON or YAML
// editor (errors say where: line and column), splitting a request into what
// the form has fields for and what it keeps as it is, and finding where two
// requests differ, named as the wire parameter (Container.1.Command.2).
import { parseYAML } from "./yaml.js";

// RequestSyntaxError is text that is not a request; line and column (from
// 1) say where, when known.
export class RequestSyntaxError extends Error {
  constructor(format, line, column, what) {
    super(`${format} line ${line}${column ? ", column " + column : ""}: ${what}`);
    this.line = line;
    this.column = column;
  }
}

// place turns an offset in text into its line and column (from 1).
export function place(text, offset) {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const line = before.split("\n").length;
  return { line, column: offset - (before.lastIndexOf("\n") + 1) + 1 };
}

// offsetOf is the offset of a line and column (from 1) in text.
export function offsetOf(text, line, column) {
  let off = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", off);
    if (nl < 0) return text.length;
    off = nl + 1;
  }
  return Math.min(off + Math.max(0, (column || 1) - 1), text.length);
}

// parseJSON reads JSON; a syntax error says the line and column of the
// offending character (browsers name its offset, "at position 42").
function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    const what = e.message.replace(/^JSON\.parse: /, "").replace(/\s*\(line \d+ column \d+\)$/, "").replace(/ in JSON at position \d+/, "");
    const pos = /at position (\d+)/.exec(e.message);
    const lc = /line (\d+) column (\d+)/.exec(e.message);
    if (lc) throw new RequestSyntaxError("JSON", Number(lc[1]), Number(lc[2]), what);
    if (pos) {
      const p = place(text, Number(pos[1]));
      throw new RequestSyntaxError("JSON", p.line, p.column, what);
    }
    const p = place(text, text.trimEnd().length); // "Unexpected end of JSON input"
    throw new RequestSyntaxError("JSON", p.line, p.column, what);
  }
}

// parseRequest reads the editor's text as format ("json" or "yaml"): a
// request is an object.
export function parseRequest(text, format) {
  let v;
  if (format === "json") v = parseJSON(text);
  else {
    try {
      v = parseYAML(text);
    } catch (e) {
      const m = /^YAML line (\d+): (.*)$/s.exec(e.message);
      if (m) throw new RequestSyntaxError("YAML", Number(m[1]), 0, m[2]);
      throw e;
    }
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new RequestSyntaxError(format.toUpperCase(), 1, 1, "the request must be a mapping of parameters (ContainerGroupName, Container, …), not " + (Array.isArray(v) ? "a list" : JSON.stringify(v)));
  }
  return v;
}

// The parameters the form has fields for; the rest of a request is kept
// as it is and sent with what the form holds.
export const groupFields = ["ContainerGroupName", "SubnetId", "SecurityGroupId", "ChargeType", "Cpu", "Memory", "RestartPolicy", "ImageRegistryCredential", "Container", "ClientToken"];
export const containerFields = ["Name", "Image", "ImagePullPolicy", "Command", "Arg", "EnvironmentVar", "Port", "Cpu", "Memory"];

// others is the part of obj whose keys are not in known.
export function others(obj, known) {
  const out = {};
  for (const [k, v] of Object.entries(obj || {})) if (!known.includes(k)) out[k] = v;
  return out;
}

const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);

// difference is the first wire parameter at which a and b differ (lists
// counted from 1, object keys in sorted order), or null when they are the
// same request.
export function difference(a, b, prefix = "") {
  const name = (k) => (prefix ? prefix + "." + k : String(k));
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = difference(a[i], b[i], name(i + 1));
      if (d !== null) return d;
    }
    return null;
  }
  if (isObject(a) && isObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = difference(a[k], b[k], name(k));
      if (d !== null) return d;
    }
    return null;
  }
  return Object.is(a, b) ? null : prefix || "(the request)";
}

// valueAt is the value a wire parameter names in req (undefined if none).
export function valueAt(req, param) {
  let v = req;
  for (const part of param.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = Array.isArray(v) ? v[Number(part) - 1] : v[part];
  }
  return v;
}

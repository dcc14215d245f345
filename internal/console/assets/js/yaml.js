// A reader and writer for the part of YAML a group's spec needs — the
// file kcictl create -f takes (docs/kcictl.md): block mappings and lists,
// plain and quoted scalars, flow lists of scalars, comments. Anything else
// (anchors, tags, block scalars, flow mappings, several documents) is
// refused with its line, so nothing is read differently than written.

const keyRe = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#\-[{][^:]*?|-[^\s:][^:]*?):(?:\s+(.*))?$/;

class YAMLError extends Error {
  constructor(line, what) {
    super(`YAML line ${line}: ${what}`);
  }
}

function stripComment(s) {
  let q = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === "\\" && q === '"') i++;
      else if (c === q) q = "";
    } else if (c === '"' || c === "'") q = c;
    else if (c === "#" && (i === 0 || /\s/.test(s[i - 1]))) return s.slice(0, i);
  }
  return s;
}

function splitFlow(s, n) {
  const out = [];
  let q = "", cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === "\\" && q === '"') { cur += c + s[++i]; continue; }
      if (c === q) q = "";
    } else if (c === '"' || c === "'") q = c;
    else if (c === "[" || c === "{") throw new YAMLError(n, "nested flow collections are not supported; use block lists");
    else if (c === ",") { out.push(cur.trim()); cur = ""; continue; }
    cur += c;
  }
  if (cur.trim() !== "" || out.length) out.push(cur.trim());
  return out;
}

function scalar(s, n) {
  if (s.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(s)) throw new YAMLError(n, "an unterminated double-quoted string");
    try {
      return JSON.parse(s);
    } catch {
      throw new YAMLError(n, "a double-quoted string with an escape the console does not read");
    }
  }
  if (s.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(s)) throw new YAMLError(n, "an unterminated single-quoted string");
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (s.startsWith("[")) {
    if (!s.endsWith("]")) throw new YAMLError(n, "a flow list must end on its line with ]");
    return splitFlow(s.slice(1, -1), n).map((x) => {
      if (x === "") throw new YAMLError(n, "an empty item in a flow list");
      return scalar(x, n);
    });
  }
  if (s === "{}") return {};
  if (s.startsWith("{")) throw new YAMLError(n, "flow mappings ({a: b}) are not supported; use block mappings");
  if (/^[|>]/.test(s)) throw new YAMLError(n, "block scalars (| and >) are not supported; use a quoted string with \\n");
  if (/^[&*!%@`]/.test(s)) throw new YAMLError(n, `'${s[0]}' (anchors, aliases, tags, directives) is not supported`);
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  if (/^(null|Null|NULL|~)$/.test(s)) return null;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s);
  if (/:\s/.test(s) || s.endsWith(":")) throw new YAMLError(n, "a ': ' inside a plain value; quote the value");
  return s;
}

function unquoteKey(k, n) {
  return k.startsWith('"') || k.startsWith("'") ? String(scalar(k, n)) : k;
}

const isItem = (t) => t === "-" || t.startsWith("- ");

// parseYAML reads one document.
export function parseYAML(text) {
  const lines = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const n = i + 1;
    const lead = raw.match(/^\s*/)[0];
    if (lead.includes("\t")) throw new YAMLError(n, "a tab in the indentation; indent with spaces");
    const t = stripComment(raw).trimEnd();
    if (t.trim() === "") return;
    if (t === "---" || t === "...") {
      if (lines.length) throw new YAMLError(n, "several documents; the console creates one group at a time");
      return;
    }
    lines.push({ n, indent: lead.length, text: t.trim() });
  });
  if (!lines.length) throw new YAMLError(1, "the document is empty");
  let pos = 0;

  const block = () => (isItem(lines[pos].text) ? list(lines[pos].indent) : map(lines[pos].indent));

  function list(indent) {
    const out = [];
    while (pos < lines.length && lines[pos].indent === indent && isItem(lines[pos].text)) {
      const l = lines[pos];
      const rest = l.text.slice(1).trimStart();
      if (rest === "") {
        pos++;
        out.push(pos < lines.length && lines[pos].indent > indent ? block() : null);
      } else if (keyRe.test(rest)) {
        // "- key: value": a mapping whose keys line up with this one.
        const inner = indent + l.text.length - rest.length;
        lines[pos] = { n: l.n, indent: inner, text: rest };
        out.push(map(inner));
      } else if (isItem(rest)) {
        throw new YAMLError(l.n, "a list directly inside a list item; put it on the next line");
      } else {
        pos++;
        out.push(scalar(rest, l.n));
      }
    }
    if (pos < lines.length && lines[pos].indent > indent) throw new YAMLError(lines[pos].n, "unexpected indentation");
    return out;
  }

  function map(indent) {
    const out = {};
    while (pos < lines.length && lines[pos].indent === indent) {
      const l = lines[pos];
      if (isItem(l.text)) throw new YAMLError(l.n, "a list item where a 'key: value' was expected");
      const m = keyRe.exec(l.text);
      if (!m) throw new YAMLError(l.n, "expected 'key: value'");
      const key = unquoteKey(m[1], l.n);
      const rest = m[2] || "";
      if (Object.hasOwn(out, key)) throw new YAMLError(l.n, `the key ${key} is given twice`);
      pos++;
      if (rest !== "") out[key] = scalar(rest, l.n);
      else if (pos < lines.length && (lines[pos].indent > indent || (lines[pos].indent === indent && isItem(lines[pos].text)))) out[key] = block();
      else out[key] = null;
    }
    if (pos < lines.length && lines[pos].indent > indent) throw new YAMLError(lines[pos].n, "unexpected indentation");
    return out;
  }

  const v = block();
  if (pos < lines.length) throw new YAMLError(lines[pos].n, "unexpected indentation");
  return v;
}

const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
const isBlock = (x) => (Array.isArray(x) && x.length > 0) || (isObject(x) && Object.keys(x).length > 0);

function plainSafe(s) {
  return /^[A-Za-z0-9_./@$][A-Za-z0-9_./@$ =+,-]*$/.test(s) && !/ $/.test(s) && typeof scalarOrNull(s) === "string";
}

function scalarOrNull(s) {
  try {
    return scalar(s, 0);
  } catch {
    return null;
  }
}

function scalarOut(x) {
  if (Array.isArray(x)) return "[]";
  if (isObject(x)) return "{}";
  if (x === null || x === undefined) return "null";
  if (typeof x !== "string") return String(x);
  return plainSafe(x) ? x : JSON.stringify(x);
}

function keyOut(k) {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : JSON.stringify(k);
}

function emit(v, ind) {
  if (Array.isArray(v)) {
    return v.map((x) => (isBlock(x) ? ind + "- " + emit(x, ind + "  ").slice(ind.length + 2) : ind + "- " + scalarOut(x))).join("\n");
  }
  return Object.entries(v).map(([k, x]) => (isBlock(x) ? `${ind}${keyOut(k)}:\n${emit(x, ind + "  ")}` : `${ind}${keyOut(k)}: ${scalarOut(x)}`)).join("\n");
}

// toYAML writes a mapping or list as block YAML that parseYAML reads back.
export function toYAML(v) {
  return isBlock(v) ? emit(v, "") + "\n" : scalarOut(v) + "\n";
}

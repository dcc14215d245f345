// A small terminal: a screen of rows × cols characters drawn into a <pre>,
// fed by the exec socket in the Kubernetes v5.channel.k8s.io protocol
// (docs/exec.md) with a TTY. It understands what a shell's line editor
// and simple programs write — printable text, CR, LF, BS, TAB, cursor
// moves, erasing, insert/delete of characters — and ignores colours and
// modes it does not draw. Keys are sent as a terminal sends them.
import { h } from "./dom.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Screen {
  constructor(rows = 24, cols = 80, scrollback = 1000) {
    this.rows = rows;
    this.cols = cols;
    this.max = scrollback;
    this.history = [];
    this.lines = Array.from({ length: rows }, () => this.blank());
    this.x = 0;
    this.y = 0;
    this.saved = [0, 0];
    this.pending = ""; // an unfinished escape sequence
  }

  blank() {
    return new Array(this.cols).fill(" ");
  }

  lineFeed() {
    if (this.y === this.rows - 1) {
      this.history.push(this.lines.shift().join("").trimEnd());
      if (this.history.length > this.max) this.history.shift();
      this.lines.push(this.blank());
    } else this.y++;
  }

  put(ch) {
    if (this.x >= this.cols) {
      this.x = 0;
      this.lineFeed();
    }
    this.lines[this.y][this.x++] = ch;
  }

  write(text) {
    const s = this.pending + text;
    this.pending = "";
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      if (c === "\x1b") {
        const n = this.escape(s, i);
        if (n < 0) {
          this.pending = s.slice(i);
          return;
        }
        i = n;
      } else if (c === "\r") this.x = 0;
      else if (c === "\n") this.lineFeed();
      else if (c === "\b") this.x = Math.max(0, this.x - 1);
      else if (c === "\t") this.x = Math.min(this.cols - 1, (Math.floor(this.x / 8) + 1) * 8);
      else if (c >= " " && c !== "\x7f") this.put(c);
    }
  }

  // escape handles the sequence at s[i] (ESC) and returns the index of its
  // last character, or -1 when it is not complete yet.
  escape(s, i) {
    if (i + 1 >= s.length) return -1;
    const k = s[i + 1];
    if (k === "[") {
      let j = i + 2;
      while (j < s.length && !/[@-~]/.test(s[j])) j++;
      if (j >= s.length) return -1;
      this.csi(s.slice(i + 2, j), s[j]);
      return j;
    }
    if (k === "]") { // OSC, ended by BEL or ESC \
      for (let j = i + 2; j < s.length; j++) {
        if (s[j] === "\x07") return j;
        if (s[j] === "\x1b" && s[j + 1] === "\\") return j + 1;
      }
      return -1;
    }
    if (k === "7") this.saved = [this.x, this.y];
    else if (k === "8") [this.x, this.y] = this.saved;
    else if (k === "(" || k === ")") return i + 2 < s.length ? i + 2 : -1;
    return i + 1; // = > and others: modes not drawn
  }

  csi(params, final) {
    const p = params.replace(/^[?>]/, "").split(";").map((v) => parseInt(v, 10));
    const n = (d = 1) => (isNaN(p[0]) || p[0] === 0 ? d : p[0]);
    const row = this.lines[this.y];
    switch (final) {
      case "A": this.y = Math.max(0, this.y - n()); break;
      case "B": this.y = Math.min(this.rows - 1, this.y + n()); break;
      case "C": this.x = Math.min(this.cols - 1, this.x + n()); break;
      case "D": this.x = Math.max(0, this.x - n()); break;
      case "G": this.x = Math.min(this.cols - 1, n() - 1); break;
      case "H": case "f":
        this.y = Math.min(this.rows - 1, Math.max(0, (p[0] || 1) - 1));
        this.x = Math.min(this.cols - 1, Math.max(0, (p[1] || 1) - 1));
        break;
      case "J": {
        const mode = p[0] || 0;
        if (mode === 2 || mode === 3) this.lines = Array.from({ length: this.rows }, () => this.blank());
        else if (mode === 0) {
          row.fill(" ", this.x);
          for (let y = this.y + 1; y < this.rows; y++) this.lines[y] = this.blank();
        } else {
          row.fill(" ", 0, this.x + 1);
          for (let y = 0; y < this.y; y++) this.lines[y] = this.blank();
        }
        break;
      }
      case "K": {
        const mode = p[0] || 0;
        if (mode === 0) row.fill(" ", this.x);
        else if (mode === 1) row.fill(" ", 0, this.x + 1);
        else row.fill(" ");
        break;
      }
      case "P": row.splice(this.x, n()); while (row.length < this.cols) row.push(" "); break;
      case "@": row.splice(this.x, 0, ...new Array(n()).fill(" ")); row.length = this.cols; break;
      case "X": row.fill(" ", this.x, this.x + n()); break;
      default: // m (colours), h/l (modes), r (scroll region), n (reports): not drawn
    }
  }

  // text is the screen (after the scrollback) as lines, the cursor's
  // position included so a renderer can mark it.
  text() {
    return { history: this.history, lines: this.lines.map((l) => l.join("")), x: this.x, y: this.y };
  }
}

// keyBytes is what a terminal sends for a key press, or "" for keys left to
// the browser (Shift+Tab leaves the terminal; Ctrl+Shift keys copy).
export function keyBytes(e) {
  if (e.metaKey || (e.ctrlKey && e.shiftKey)) return "";
  if (e.ctrlKey && !e.altKey && e.key.length === 1) {
    const c = e.key.toUpperCase().charCodeAt(0);
    if (c >= 64 && c <= 95) return String.fromCharCode(c - 64);
    return "";
  }
  const keys = {
    Enter: "\r", Backspace: "\x7f", Escape: "\x1b", Delete: "\x1b[3~", Home: "\x1b[H", End: "\x1b[F",
    ArrowUp: "\x1b[A", ArrowDown: "\x1b[B", ArrowRight: "\x1b[C", ArrowLeft: "\x1b[D", PageUp: "\x1b[5~", PageDown: "\x1b[6~",
  };
  if (e.key === "Tab") return e.shiftKey ? "" : "\t";
  if (keys[e.key]) return keys[e.key];
  if (e.key.length === 1) return (e.altKey ? "\x1b" : "") + e.key;
  return "";
}

// Terminal binds a Screen, a <pre> and an exec socket.
export class Terminal {
  constructor({ rows = 24, cols = 80, label = "Terminal" } = {}) {
    this.screen = new Screen(rows, cols);
    this.pre = h("pre", { className: "terminal", tabIndex: 0, role: "textbox", "aria-label": label + " (Shift+Tab leaves it)", "aria-multiline": "true" });
    this.socket = null;
    this.drawn = false;
    this.onstatus = () => {};
    this.pre.addEventListener("keydown", (e) => {
      const b = keyBytes(e);
      if (!b || !this.open()) return;
      e.preventDefault();
      this.send(0, enc.encode(b));
    });
    this.pre.addEventListener("paste", (e) => {
      if (!this.open()) return;
      e.preventDefault();
      this.send(0, enc.encode(e.clipboardData.getData("text").replace(/\r?\n/g, "\r")));
    });
    this.draw();
  }

  open() {
    return this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  send(channel, bytes) {
    const m = new Uint8Array(bytes.length + 1);
    m[0] = channel;
    m.set(bytes, 1);
    this.socket.send(m);
  }

  // connect opens the socket ExecContainerCommand gave (single-use).
  connect(uri) {
    this.close();
    const ws = new WebSocket(uri, ["v5.channel.k8s.io"]);
    ws.binaryType = "arraybuffer";
    this.socket = ws;
    const decoder = new TextDecoder();
    let ended = "";
    ws.onopen = () => {
      this.send(4, enc.encode(JSON.stringify({ Width: this.screen.cols, Height: this.screen.rows })));
      this.onstatus("connected");
      this.pre.focus();
    };
    ws.onmessage = (ev) => {
      const data = new Uint8Array(ev.data);
      if (!data.length) return;
      if (data[0] === 1 || data[0] === 2) {
        this.screen.write(decoder.decode(data.subarray(1), { stream: true }));
        this.schedule();
      } else if (data[0] === 3) {
        let st = {};
        try { st = JSON.parse(dec.decode(data.subarray(1))); } catch { /* a status that is not JSON */ }
        ended = st.status === "Success" ? "the command exited with code 0" : "the command ended: " + (st.message || st.reason || "failure");
        this.screen.write("\r\n[" + ended + "]\r\n");
        this.schedule();
        this.onstatus(ended);
      }
    };
    ws.onclose = (ev) => {
      if (this.socket === ws) this.socket = null;
      if (ended) this.onstatus(ended + "; disconnected");
      else this.onstatus(ev.code === 1000 ? "disconnected" : `disconnected (code ${ev.code}${ev.reason ? ": " + ev.reason : ""})`);
    };
    ws.onerror = () => this.onstatus("the socket failed");
  }

  close() {
    if (this.socket) this.socket.close();
    this.socket = null;
  }

  schedule() {
    if (this.drawn) return;
    this.drawn = true;
    requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.drawn = false;
    const { history, lines, x, y } = this.screen.text();
    const before = history.concat(lines.slice(0, y)).join("\n");
    const row = lines[y];
    const after = lines.slice(y + 1).join("\n").replace(/\s+$/, "");
    const atBottom = this.pre.scrollHeight - this.pre.scrollTop - this.pre.clientHeight < 4;
    this.pre.replaceChildren(
      (before ? before + "\n" : "") + row.slice(0, x),
      h("span", { className: "cursor" }, row[x] || " "),
      row.slice(x + 1).replace(/\s+$/, "") + (after ? "\n" + after : ""),
    );
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }
}

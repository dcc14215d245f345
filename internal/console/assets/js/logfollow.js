// LogFollower finds the new lines of a log from successive tails of it
// (DescribeContainerLog has no follow mode; the console asks again every
// second). It is kcictl's algorithm (internal/kcictl/logs.go): only
// complete lines are returned; when both answers hold the whole log the new
// lines are past the old ones; when they are windows of a longer log, the
// smallest shift that lines the old window up with the new one.
export const logWindow = 2000;

export class LogFollower {
  constructor() {
    this.started = false;
    this.prev = [];
    this.truncated = false;
  }

  // update takes the latest answer and returns the complete lines not
  // returned before, each with its newline.
  update(content) {
    let lines = content.split(/(?<=\n)/);
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    const truncated = lines.length >= logWindow;
    if (lines.length && !lines[lines.length - 1].endsWith("\n")) lines = lines.slice(0, -1);
    let fresh;
    const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
    if (!this.started) {
      fresh = lines;
    } else if (!truncated && !this.truncated) {
      fresh = lines.length >= this.prev.length && equal(lines.slice(0, this.prev.length), this.prev) ? lines.slice(this.prev.length) : lines;
    } else {
      fresh = lines;
      for (let d = 0; d <= this.prev.length; d++) {
        const rest = this.prev.slice(d);
        if (rest.length <= lines.length && equal(rest, lines.slice(0, rest.length))) {
          fresh = lines.slice(rest.length);
          break;
        }
      }
    }
    this.started = true;
    this.prev = lines;
    this.truncated = truncated;
    return fresh;
  }
}

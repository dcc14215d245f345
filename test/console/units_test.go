package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openkci/openkci/internal/console"
)

// consolePage opens the console's page, served by its handler alone (no
// kcid: these tests run the page's modules, not the API), in chromium.
func consolePage(t *testing.T) *page {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /console/", console.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := newPage(t)
	p.do("open the console", 30*time.Second, chromedp.Navigate(srv.URL+"/console/"))
	p.waitFor("the sign-in page", `document.querySelector("h1") && document.querySelector("h1").textContent === "Sign in"`, 15*time.Second)
	return p
}

// module evaluates body in an async function with the module's exports as m.
func module[T any](p *page, name, body string) T {
	p.t.Helper()
	return eval[T](p, fmt.Sprintf(`(async () => { const m = await import("/console/js/%s"); %s })()`, name, body))
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTerminalScreen feeds the terminal's screen what shells write and
// checks the cells and the cursor.
func TestTerminalScreen(t *testing.T) {
	p := consolePage(t)
	type screen struct {
		History []string `json:"history"`
		Lines   []string `json:"lines"`
		X       int      `json:"x"`
		Y       int      `json:"y"`
	}
	tests := []struct {
		name       string
		rows, cols int
		writes     []string
		want       screen
	}{
		{"text", 2, 6, []string{"abc"}, screen{nil, []string{"abc   ", "      "}, 3, 0}},
		{"CR LF", 2, 6, []string{"ab\r\ncd"}, screen{nil, []string{"ab    ", "cd    "}, 2, 1}},
		{"wrap and scroll", 2, 4, []string{"abcdefgh", "i"}, screen{[]string{"abcd"}, []string{"efgh", "i   "}, 1, 1}},
		{"cursor back, erase to the end", 1, 8, []string{"abcdef\x1b[3D\x1b[K"}, screen{nil, []string{"abc     "}, 3, 0}},
		{"backspace, delete a character", 1, 8, []string{"hello\b\b\x1b[P"}, screen{nil, []string{"helo    "}, 3, 0}},
		{"insert a blank", 1, 6, []string{"abc\x1b[2D\x1b[@X"}, screen{nil, []string{"aXbc  "}, 2, 0}},
		{"a sequence split across writes", 1, 4, []string{"ab\x1b[", "2Dx"}, screen{nil, []string{"xb  "}, 1, 0}},
		{"a title and colours are not drawn", 1, 8, []string{"\x1b]0;title\x07\x1b[1;32mok\x1b[0m"}, screen{nil, []string{"ok      "}, 2, 0}},
		{"position", 3, 4, []string{"\x1b[2;3Hz"}, screen{nil, []string{"    ", "  z ", "    "}, 3, 1}},
		{"clear the screen", 2, 3, []string{"ab\r\ncd\x1b[2J\x1b[H"}, screen{nil, []string{"   ", "   "}, 0, 0}},
		{"tab", 1, 12, []string{"a\tb"}, screen{nil, []string{"a       b   "}, 9, 0}},
		{"bracketed paste mode and keypad modes ignored", 1, 4, []string{"\x1b[?2004h\x1b=hi\x1b>"}, screen{nil, []string{"hi  "}, 2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.t = t
			got := module[screen](p, "terminal.js", fmt.Sprintf(`const s = new m.Screen(%d, %d); for (const w of %s) s.write(w); const r = s.text(); return {history: r.history, lines: r.lines, x: r.x, y: r.y};`, tt.rows, tt.cols, js(tt.writes)))
			if len(got.History) == 0 {
				got.History = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	p.t = t
	p.checkClean()
}

// TestTerminalKeys checks what a key press sends to the shell.
func TestTerminalKeys(t *testing.T) {
	p := consolePage(t)
	tests := []struct {
		key  map[string]any
		want string
	}{
		{map[string]any{"key": "a"}, "a"},
		{map[string]any{"key": "Enter"}, "\r"},
		{map[string]any{"key": "Backspace"}, "\x7f"},
		{map[string]any{"key": "c", "ctrlKey": true}, "\x03"},
		{map[string]any{"key": "d", "ctrlKey": true}, "\x04"},
		{map[string]any{"key": "Tab"}, "\t"},
		{map[string]any{"key": "Tab", "shiftKey": true}, ""}, // leaves the terminal
		{map[string]any{"key": "ArrowUp"}, "\x1b[A"},
		{map[string]any{"key": "x", "altKey": true}, "\x1bx"},
		{map[string]any{"key": "C", "ctrlKey": true, "shiftKey": true}, ""}, // the browser's copy
		{map[string]any{"key": "Shift", "shiftKey": true}, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.key), func(t *testing.T) {
			p.t = t
			if got := module[string](p, "terminal.js", fmt.Sprintf(`return m.keyBytes(%s);`, js(tt.key))); got != tt.want {
				t.Errorf("%v sends %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// TestLogFollower checks the new lines found in successive tails of a log.
func TestLogFollower(t *testing.T) {
	p := consolePage(t)
	window := make([]string, 2000)
	for i := range window {
		window[i] = fmt.Sprintf("l%d\n", i)
	}
	shifted := append(append([]string{}, window[3:]...), "n1\n", "n2\n", "n3\n")
	tests := []struct {
		name    string
		answers []string
		want    [][]string
	}{
		{"growing", []string{"a\nb\n", "a\nb\nc\n", "a\nb\nc\n"}, [][]string{{"a\n", "b\n"}, {"c\n"}, {}}},
		{"an incomplete last line waits", []string{"a\nb", "a\nb\n"}, [][]string{{"a\n"}, {"b\n"}}},
		{"replaced log", []string{"a\nb\n", "x\n"}, [][]string{{"a\n", "b\n"}, {"x\n"}}},
		{"empty", []string{"", "a\n"}, [][]string{{}, {"a\n"}}},
		{"full windows shift", []string{strings.Join(window, ""), strings.Join(shifted, "")}, [][]string{window, {"n1\n", "n2\n", "n3\n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.t = t
			got := module[[][]string](p, "logfollow.js", fmt.Sprintf(`const f = new m.LogFollower(); return %s.map((a) => f.update(a));`, js(tt.answers)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParamOf checks that the wire parameter is found in the API's
// messages (docs/api.md, "Errors"), which puts an error next to its field.
func TestParamOf(t *testing.T) {
	p := consolePage(t)
	tests := []struct{ message, want string }{
		{"An invalid or out-of-range value was supplied for the input parameter Container.1.Name: must be at most 63 lower-case letters.", "Container.1.Name"},
		{"An value must be supplied for the input parameter ContainerGroupName.", "ContainerGroupName"},
		{"An invalid or out-of-range value was supplied for the input parameter Container.0.Port.1.Port.", "Container.0.Port.1.Port"},
		{"The query parameter Container.x.Name is malformed or does not adhere to KSC standards.", "Container.x.Name"},
		{"Request was rejected because the request speed of this openAPI is beyond the current flow control limit.", ""},
		{"", ""},
	}
	for _, tt := range tests {
		p.t = t
		if got := module[string](p, "api.js", fmt.Sprintf(`return m.paramOf(%s);`, js(tt.message))); got != tt.want {
			t.Errorf("paramOf(%q) = %q, want %q", tt.message, got, tt.want)
		}
	}
}

// TestYAML checks the create page's YAML reader on kcictl's spec shape,
// its refusals, and that what it writes reads back the same.
func TestYAML(t *testing.T) {
	p := consolePage(t)
	type result struct {
		Value any    `json:"value"`
		Err   string `json:"err"`
	}
	parse := func(text string) result {
		return module[result](p, "yaml.js", fmt.Sprintf(`try { return {value: m.parseYAML(%s), err: ""}; } catch (e) { return {value: null, err: e.message}; }`, js(text)))
	}
	tests := []struct {
		name, text string
		want       any
		err        string
	}{
		{"kcictl's spec", "ContainerGroupName: web   # a name\nCpu: 1\nMemory: 0.5\nContainer:\n  - Name: app\n    Image: busybox:1.36\n    Command: [sh, -c, \"echo hi; sleep 1\"]\n    Port:\n    - Port: 80\n      Protocol: TCP\nLabel: []\n",
			map[string]any{"ContainerGroupName": "web", "Cpu": 1.0, "Memory": 0.5, "Label": []any{}, "Container": []any{map[string]any{
				"Name": "app", "Image": "busybox:1.36", "Command": []any{"sh", "-c", "echo hi; sleep 1"},
				"Port": []any{map[string]any{"Port": 80.0, "Protocol": "TCP"}}}}}, ""},
		{"scalars", "a: 'it''s'\nb: \"x\\ny\"\nc: true\nd: ~\ne: -3\nf: 0644\ng: http://x\nh:\n", map[string]any{"a": "it's", "b": "x\ny", "c": true, "d": nil, "e": -3.0, "f": 644.0, "g": "http://x", "h": nil}, ""},
		{"a list at the key's indentation", "a:\n- 1\n- two\n", map[string]any{"a": []any{1.0, "two"}}, ""},
		{"block scalar", "a: |\n  x\n", nil, "YAML line 1: block scalars"},
		{"anchor", "a: &x 1\n", nil, "YAML line 1: '&'"},
		{"duplicate key", "a: 1\na: 2\n", nil, "YAML line 2: the key a is given twice"},
		{"tab", "a:\n\t- b\n", nil, "YAML line 2: a tab"},
		{"flow mapping", "a: {b: 1}\n", nil, "YAML line 1: flow mappings"},
		{"plain value with ': '", "a: b: c\n", nil, "YAML line 1: a ': ' inside a plain value"},
		{"two documents", "a: 1\n---\nb: 2\n", nil, "YAML line 2: several documents"},
		{"bad indentation", "a: 1\n  b: 2\n", nil, "YAML line 2: unexpected indentation"},
		{"empty", "# nothing\n", nil, "YAML line 1: the document is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.t = t
			got := parse(tt.text)
			if tt.err != "" {
				if !strings.HasPrefix(got.Err, tt.err) {
					t.Errorf("error %q, want it to start with %q", got.Err, tt.err)
				}
				return
			}
			if got.Err != "" || !reflect.DeepEqual(got.Value, tt.want) {
				t.Errorf("got %#v (%s), want %#v", got.Value, got.Err, tt.want)
			}
		})
	}
	p.t = t
	for _, v := range []any{
		map[string]any{"a": "x: y", "b": "true", "c": "12", "d": "", "e": "it's #1", "f": []any{"a b", "-c", "sh -c 'x'", "~"},
			"g": []any{map[string]any{"h": []any{1.0, 2.0}, "i": map[string]any{"j": nil}}, []any{}}, "k": "https://x", "l": " lead", "m": "null"},
	} {
		got := module[result](p, "yaml.js", fmt.Sprintf(`const y = m.toYAML(%s); try { return {value: m.parseYAML(y), err: ""}; } catch (e) { return {value: null, err: e.message + " in\n" + y}; }`, js(v)))
		if got.Err != "" || !reflect.DeepEqual(got.Value, v) {
			t.Errorf("round trip: got %#v (%s), want %#v", got.Value, got.Err, v)
		}
	}
}

// TestTimes checks that times are shown as the instants they are: KCI's
// CreateTime ("2026-12-01 18:00:00") is UTC+8 without a zone; container
// and event times are RFC 3339.
func TestTimes(t *testing.T) {
	p := consolePage(t)
	for _, tt := range []struct{ in, instant string }{
		{"2026-12-01 18:00:00", "2026-12-01T10:00:00Z"},
		{"2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"},
	} {
		if same := module[bool](p, "dom.js", fmt.Sprintf(`return m.time(%s) === new Date(%s).toLocaleString();`, js(tt.in), js(tt.instant))); !same {
			t.Errorf("time(%q) is not the instant %s: %q", tt.in, tt.instant, module[string](p, "dom.js", fmt.Sprintf(`return m.time(%s);`, js(tt.in))))
		}
	}
}

// TestRequestText checks how the create page reads its editors: a syntax
// error names its line and column, a request must be a mapping, and two
// requests' first difference is named as its wire parameter.
func TestRequestText(t *testing.T) {
	p := consolePage(t)
	type result struct {
		Value  any    `json:"value"`
		Err    string `json:"err"`
		Line   int    `json:"line"`
		Column int    `json:"column"`
	}
	tests := []struct {
		name, format, text string
		want               any
		err                string // the start of the message
		line, column       int
	}{
		{"JSON", "json", `{"ContainerGroupName": "web", "Cpu": 0.5}`, map[string]any{"ContainerGroupName": "web", "Cpu": 0.5}, "", 0, 0},
		{"YAML", "yaml", "ContainerGroupName: web\nCpu: 0.5\n", map[string]any{"ContainerGroupName": "web", "Cpu": 0.5}, "", 0, 0},
		{"a stray comma", "json", "{\n  \"ContainerGroupName\": \"web\",\n  \"Cpu\": 1,,\n}", nil, "JSON line 3, column 12: ", 3, 12},
		{"a missing quote", "json", "{\n  \"Container\": [\n    {\"Name: \"app\"}\n  ]\n}", nil, "JSON line 3, column ", 3, -1},
		{"cut short", "json", "{\n  \"Cpu\": 1,\n", nil, "JSON line 3, column 1: ", 3, 1},
		{"a list, not a request", "json", `[1, 2]`, nil, "JSON line 1, column 1: the request must be a mapping", 1, 1},
		{"a tab in YAML", "yaml", "ContainerGroupName: web\nContainer:\n\t- Name: app\n", nil, "YAML line 3: a tab in the indentation", 3, 0},
		{"a YAML list", "yaml", "- web\n", nil, "YAML line 1, column 1: the request must be a mapping", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.t = t
			got := module[result](p, "request.js", fmt.Sprintf(`try { return {value: m.parseRequest(%s, %s), err: "", line: 0, column: 0}; } catch (e) { return {value: null, err: e.message, line: e.line || 0, column: e.column || 0}; }`, js(tt.text), js(tt.format)))
			if tt.err == "" {
				if got.Err != "" || !reflect.DeepEqual(got.Value, tt.want) {
					t.Errorf("got %#v (%s), want %#v", got.Value, got.Err, tt.want)
				}
				return
			}
			if !strings.HasPrefix(got.Err, tt.err) || got.Line != tt.line || (tt.column >= 0 && got.Column != tt.column) {
				t.Errorf("error %q at %d:%d, want it to start with %q at %d:%d", got.Err, got.Line, got.Column, tt.err, tt.line, tt.column)
			}
		})
	}
	p.t = t
	for _, tt := range []struct {
		a, b any
		want string // "" for the same request
	}{
		{map[string]any{"Cpu": 1, "Container": []any{map[string]any{"Name": "a"}}}, map[string]any{"Container": []any{map[string]any{"Name": "a"}}, "Cpu": 1}, ""},
		{map[string]any{"Container": []any{map[string]any{"Command": []any{"sh", "-c"}}}}, map[string]any{"Container": []any{map[string]any{"Command": []any{"sh", " -c"}}}}, "Container.1.Command.2"},
		{map[string]any{"SecurityGroupId": []any{"sg-1"}}, map[string]any{"SecurityGroupId": []any{"sg-1", "sg-2"}}, "SecurityGroupId.2"},
		{map[string]any{"Cpu": 1}, map[string]any{"Cpu": "1"}, "Cpu"},
		{map[string]any{}, map[string]any{"Port": []any{}}, "Port"},
	} {
		if got := module[string](p, "request.js", fmt.Sprintf(`return m.difference(%s, %s) || "";`, js(tt.a), js(tt.b))); got != tt.want {
			t.Errorf("difference(%s, %s) = %q, want %q", js(tt.a), js(tt.b), got, tt.want)
		}
	}
	if got := module[string](p, "request.js", `const t = "ab\ncd\nef"; const {line, column} = m.place(t, 4); return line + ":" + column + ":" + m.offsetOf(t, line, column);`); got != "2:2:4" {
		t.Errorf("place and offsetOf: %s, want 2:2:4", got)
	}
	p.checkClean()
}

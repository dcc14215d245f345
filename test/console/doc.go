// Package console tests kcid's web console (internal/console) in a real
// browser: Debian's chromium, headless, driven with chromedp, against the
// kcid binary on real containerd (runc, CNI, a local registry). It signs
// in, creates a group from the form, sees it Running, reads and follows
// its log, runs a command in the terminal over the exec socket and deletes
// it; a wrong key and a validation error show in words next to what they
// are about; and the page raises no script error or CSP violation.
//
// With KCI_CONSOLE_SCREENSHOTS=DIR the test also writes PNG screenshots of
// the main pages into DIR (docs/console/ holds the committed ones).
package console

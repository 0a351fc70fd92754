package bench

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// The reports' explanations (intros, section texts, notes) are prose for
// people, kept in templates rather than in Go strings.
//
//go:embed templates/*.md.tmpl
var proseFiles embed.FS

var proseTemplates = template.Must(template.New("").Option("missingkey=error").ParseFS(proseFiles, "templates/*.md.tmpl"))

// prose renders the block name of templates/*.md.tmpl with data.
func prose(name string, data any) string {
	var b strings.Builder
	if err := proseTemplates.ExecuteTemplate(&b, name, data); err != nil {
		// The templates are built in: a bad name or field is a bug, which
		// TestProse catches.
		panic(fmt.Sprintf("bench: render %s: %v", name, err))
	}
	return b.String()
}

// Report is the result of one topic: <topic>.md for people and <topic>.json for
// tools, with the same content.
type Report struct {
	Topic   string    `json:"topic"`
	Title   string    `json:"title"`
	Intro   string    `json:"intro"`
	Date    time.Time `json:"date"`
	Quick   bool      `json:"quick"`
	Machine Machine   `json:"machine"`
	CPU     CPUUse    `json:"cpu"`
	// Elapsed is how long the topic took, set-up included.
	Elapsed  float64   `json:"elapsedSeconds"`
	Repeats  string    `json:"repeats"`
	Sections []Section `json:"sections"`
	Plots    []Plot    `json:"plots,omitempty"`
	Notes    []string  `json:"notes,omitempty"`

	plots map[string][]byte // SVG by file name
}

// Section is one table of figures.
type Section struct {
	Title string `json:"title"`
	Text  string `json:"text,omitempty"`
	Rows  []Row  `json:"rows"`
}

// Row is one figure over its repeats, with its goal if it has one.
type Row struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Values []float64 `json:"values"`
	Stat   Summary   `json:"summary"`
	Goal   *Goal     `json:"goal,omitempty"`
	// Met tells whether the median meets the goal; nil without a goal.
	Met *bool `json:"met,omitempty"`
}

// Goal is a bound the median of a figure should meet.
type Goal struct {
	// Op is ">=", "<=" or "±" (within Tol of Value).
	Op    string  `json:"op"`
	Value float64 `json:"value"`
	Tol   float64 `json:"tolerance,omitempty"`
}

// AtLeast and AtMost make goals.
func AtLeast(v float64) *Goal { return &Goal{Op: ">=", Value: v} }
func AtMost(v float64) *Goal  { return &Goal{Op: "<=", Value: v} }

// Within is the goal |x − v| ≤ tol.
func Within(v, tol float64) *Goal { return &Goal{Op: "±", Value: v, Tol: tol} }

// Met reports whether x meets the goal.
func (g *Goal) Met(x float64) bool {
	if math.IsNaN(x) {
		return false
	}
	switch g.Op {
	case "<=":
		return x <= g.Value
	case "±":
		return math.Abs(x-g.Value) <= g.Tol
	}
	return x >= g.Value
}

func (g *Goal) String() string {
	switch g.Op {
	case "<=":
		return "≤ " + formatNumber(g.Value)
	case "±":
		return formatNumber(g.Value) + " ± " + formatNumber(g.Tol)
	}
	return "≥ " + formatNumber(g.Value)
}

// Plot is an SVG figure of the report.
type Plot struct {
	File    string `json:"file"`
	Caption string `json:"caption"`
}

func (h *harness) newReport(topic string) *Report {
	return &Report{Topic: topic, Date: time.Now().UTC(), Quick: h.opts.Quick, plots: map[string][]byte{}}
}

// section adds a table and returns it for rows to be added.
func (r *Report) section(title, text string) *Section {
	r.Sections = append(r.Sections, Section{Title: title, Text: text})
	return &r.Sections[len(r.Sections)-1]
}

// add appends a figure; goal may be nil.
func (s *Section) add(name, unit string, values []float64, goal *Goal) *Row {
	row := Row{Name: name, Unit: unit, Values: values, Stat: Summarize(values), Goal: goal}
	if goal != nil {
		met := goal.Met(row.Stat.Median)
		row.Met = &met
	}
	s.Rows = append(s.Rows, row)
	return &s.Rows[len(s.Rows)-1]
}

// proseNote adds the block name of templates/*.md.tmpl as a note.
func (r *Report) proseNote(name string, data any) { r.Notes = append(r.Notes, prose(name, data)) }

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Report) plot(file, caption string, svg []byte) {
	r.Plots = append(r.Plots, Plot{File: file, Caption: caption})
	r.plots[file] = svg
}

func (r *Report) finish(cpu CPUUse, elapsed time.Duration) {
	r.CPU = cpu
	r.Elapsed = elapsed.Seconds()
}

// busyThreshold is the CPU of other work, in cores, above which a report says
// that it ran alongside.
const busyThreshold = 0.15

func (r *Report) write(dir string) error {
	for file, svg := range r.plots {
		if err := os.WriteFile(filepath.Join(dir, file), svg, 0o644); err != nil {
			return fmt.Errorf("write plot: %w", err)
		}
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s report: %w", r.Topic, err)
	}
	if err := os.WriteFile(filepath.Join(dir, r.Topic+".json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s report: %w", r.Topic, err)
	}
	if err := os.WriteFile(filepath.Join(dir, r.Topic+".md"), []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write %s report: %w", r.Topic, err)
	}
	return nil
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	if r.Intro != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Intro)
	}
	m := r.Machine
	mode := "full run"
	if r.Quick {
		mode = "quick smoke run (`--quick`): figures are not meaningful"
	}
	other := fmt.Sprintf("%.2f cores on average of %d (load average %.1f at start, %.1f at end)",
		r.CPU.OtherCores, m.CPUs, r.CPU.Load1Start, r.CPU.Load1End)
	if r.CPU.OtherCores > busyThreshold {
		other = "**yes**: " + other
	} else {
		other = "no: " + other
	}
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| machine | %d × %s, %.1f GiB memory |\n", m.CPUs, m.CPUModel, m.MemoryGiB)
	fmt.Fprintf(&b, "| Go | %s |\n", m.Go)
	if m.Postgres != "" {
		fmt.Fprintf(&b, "| PostgreSQL | %s (throwaway local server: %s) |\n", m.Postgres, m.PostgresSettings)
	}
	fmt.Fprintf(&b, "| date | %s |\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| mode | %s; took %s |\n", mode, (time.Duration(r.Elapsed) * time.Second).Round(time.Second))
	fmt.Fprintf(&b, "| repeats | %s |\n", r.Repeats)
	fmt.Fprintf(&b, "| other work on the machine meanwhile | %s; this benchmark and what it started used %.2f cores |\n", other, r.CPU.OurCores)
	b.WriteString("\nEach figure is min / median / max over its repeats; the goal is checked on the median.\n\n")

	for _, s := range r.Sections {
		fmt.Fprintf(&b, "## %s\n\n", s.Title)
		if s.Text != "" {
			fmt.Fprintf(&b, "%s\n\n", s.Text)
		}
		b.WriteString("| figure | min | median | max | unit | n | goal | |\n|---|--:|--:|--:|---|--:|---|---|\n")
		for _, row := range s.Rows {
			goal, mark := "", ""
			if row.Goal != nil {
				goal = row.Goal.String()
				mark = "✗"
				if *row.Met {
					mark = "✓"
				}
			}
			f := formatNumber
			if row.Unit == "share" {
				f = func(v float64) string { return fmt.Sprintf("%.4f", v) }
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %s | %s |\n", row.Name,
				f(row.Stat.Min), f(row.Stat.Median), f(row.Stat.Max),
				row.Unit, row.Stat.N, goal, mark)
		}
		b.WriteString("\n")
	}
	for _, p := range r.Plots {
		fmt.Fprintf(&b, "![%s](%s)\n\n*%s*\n\n", p.Caption, p.File, p.Caption)
	}
	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// formatNumber prints a figure with three significant digits or so, never in
// exponent form.
func formatNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "–"
	case math.IsInf(v, 0):
		return "∞"
	case a == 0:
		return "0"
	case a >= 1000:
		return addThousands(fmt.Sprintf("%.0f", v))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// addThousands separates thousands with a thin space so that large counts read
// at a glance.
func addThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune(' ')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

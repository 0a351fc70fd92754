package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
)

// Chart is a line chart written as a standalone SVG, small enough to need no
// plotting library: linear axes, a legend, and optional horizontal reference lines.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// Refs are dashed horizontal lines, such as a limit.
	Refs []Ref
	// Steps draws each series as a step function (per-window counts).
	Steps bool
}

// Series is one line of a Chart.
type Series struct {
	Name  string
	Color string
	// Dash is an SVG stroke-dasharray, so that lines on top of each other stay apart.
	Dash   string
	Points []Point
}

// Point is a point of a Series.
type Point struct{ X, Y float64 }

// Ref is a labelled horizontal line.
type Ref struct {
	Label string
	Y     float64
}

const (
	chartW, chartH = 760.0, 360.0
	padL, padR     = 60.0, 20.0
	padT, padB     = 40.0, 80.0
)

// SVG renders the chart.
func (c Chart) SVG() []byte {
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), 0.0, math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
			ymax = math.Max(ymax, p.Y)
		}
	}
	for _, r := range c.Refs {
		ymax = math.Max(ymax, r.Y)
	}
	if math.IsInf(xmin, 1) {
		xmin, xmax = 0, 1
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	if math.IsInf(ymax, -1) || ymax <= ymin {
		ymax = ymin + 1
	}
	ystep := niceStep((ymax - ymin) / 5)
	ymax = math.Ceil(ymax*1.05/ystep) * ystep
	xstep := niceStep((xmax - xmin) / 8)

	pw, ph := chartW-padL-padR, chartH-padT-padB
	sx := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*pw }
	sy := func(y float64) float64 { return padT + ph - (y-ymin)/(ymax-ymin)*ph }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padL, html.EscapeString(c.Title))
	// Grid and ticks.
	for y := ymin; y <= ymax+ystep/2; y += ystep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", padL, sy(y), padL+pw, sy(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, sy(y)+4, tick(y))
	}
	for x := math.Ceil(xmin/xstep) * xstep; x <= xmax+xstep/1e6; x += xstep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`+"\n", sx(x), padT+ph, sx(x), padT+ph+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", sx(x), padT+ph+18, tick(x))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", padL, padT, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", padL+pw/2, padT+ph+36, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+ph/2, html.EscapeString(c.YLabel))
	for _, r := range c.Refs {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="6 4"/>`+"\n", padL, sy(r.Y), padL+pw, sy(r.Y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#c00">%s</text>`+"\n", padL+pw-4, sy(r.Y)-4, html.EscapeString(r.Label))
	}
	for _, s := range c.Series {
		if len(s.Points) == 0 {
			continue
		}
		var pts bytes.Buffer
		for i, p := range s.Points {
			if c.Steps && i > 0 {
				fmt.Fprintf(&pts, "%.1f,%.1f ", sx(p.X), sy(s.Points[i-1].Y))
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", sx(p.X), sy(p.Y))
		}
		dash := ""
		if s.Dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.Dash)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>`+"\n", s.Color, dash, bytes.TrimSpace(pts.Bytes()))
	}
	// Legend below the axis label.
	lx := padL
	for _, s := range c.Series {
		y := chartH - 18
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3" stroke-dasharray="%s"/>`+"\n", lx, y-4, lx+20, y-4, s.Color, s.Dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+26, y, html.EscapeString(s.Name))
		lx += 40 + 7*float64(len(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func tick(v float64) string {
	if math.Abs(v) < 1e-9 {
		return "0"
	}
	if math.Abs(v-math.Round(v)) < 1e-9 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// panel is one chart of the figure: a title and the cells it shows.
type panel struct {
	title string
	pick  func(cell) bool
}

// chart draws the medians as grouped bars, one panel without pipelining,
// one with (their scales differ tenfold) and one for the data types.
func (r report) chart(path string) error {
	panels := []panel{
		{"no pipelining (-P 1)", func(c cell) bool { return c.pipe == 1 && !c.types }},
		{"pipelined (-P 16)", func(c cell) bool { return c.pipe > 1 && !c.types }},
		{"data types and a script (-P 1)", func(c cell) bool { return c.types }},
	}
	// A panel with no cells (the data types without -types) is left out.
	panels = slices.DeleteFunc(panels, func(p panel) bool { return !slices.ContainsFunc(r.cells, p.pick) })
	plots := make([][]*plot.Plot, len(panels))
	for pi, panel := range panels {
		p := plot.New()
		p.Title.Text = "keepkv vs redis-server, " + panel.title
		p.Y.Label.Text = "thousand requests/s"
		p.Legend.Top = true
		var labels []string
		var cells []int
		top := 0.0
		for ci, c := range r.cells {
			if panel.pick(c) {
				cells = append(cells, ci)
				label := fmt.Sprintf("%s -d %d -c %d", strings.ToUpper(c.test), c.size, c.c)
				if c.types {
					label = strings.ToUpper(c.test)
				} else if c.label != "" {
					label = c.label
				}
				labels = append(labels, label)
			}
		}
		// Bars narrow as a panel's cells grow, to fit its width.
		width := min(vg.Points(20), vg.Points(760/float64(len(cells)*len(r.systems))))
		for si, s := range r.systems {
			vals := make(plotter.Values, len(cells))
			for i, ci := range cells {
				vals[i] = r.medians[ci][si].rps / 1000
				top = max(top, vals[i])
			}
			bars, err := plotter.NewBarChart(vals, width)
			if err != nil {
				return err
			}
			bars.Offset = width * vg.Length(float64(si)-float64(len(r.systems)-1)/2)
			bars.Color = plotutil.Color(si)
			bars.LineStyle.Width = 0
			p.Add(bars)
			p.Legend.Add(s.name, bars)
		}
		p.NominalX(labels...)
		// Headroom above the tallest bar for the legend.
		p.Y.Min, p.Y.Max = 0, top*1.35
		p.Add(plotter.NewGrid())
		plots[pi] = []*plot.Plot{p}
	}
	img := vgimg.New(vg.Points(900), vg.Points(400*float64(len(panels))))
	canvases := plot.Align(plots, draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(12), PadX: vg.Points(8), PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}, draw.New(img))
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

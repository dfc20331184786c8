package main

import (
	"fmt"
	"image/color"
	"os"

	"github.com/mmapkit/mmapkit/internal/bench"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// benchPlot draws one horizontal bar chart per cache state, stacked, each on
// its own time scale (warm and cold times differ a hundredfold).
func benchPlot(rep *bench.Report, path string) error {
	var rows [][]*plot.Plot
	maxMethods := 0
	for _, sr := range rep.States {
		var names []string
		var goVals, pyVals plotter.Values
		var labels []string
		var xys plotter.XYs
		// Bars are drawn bottom-up: walk the results backwards so the table's
		// first method is on top.
		for k := len(sr.Results) - 1; k >= 0; k-- {
			r := sr.Results[k]
			names = append(names, r.Method)
			t := float64(r.Total)
			label := fmt.Sprintf(" %.3f s", t)
			switch {
			case r.Skipped != "":
				t, label = 0, " skipped"
			case r.Error != "":
				t, label = 0, " failed"
			case !r.ChecksumOK:
				label += " (checksum MISMATCH)"
			}
			if r.Lang == "python" {
				goVals, pyVals = append(goVals, 0), append(pyVals, t)
			} else {
				goVals, pyVals = append(goVals, t), append(pyVals, 0)
			}
			labels = append(labels, label)
			xys = append(xys, plotter.XY{X: t, Y: float64(len(names) - 1)})
		}
		maxMethods = max(maxMethods, len(names))
		p := plot.New()
		p.Title.Text = sr.Label
		if rep.Python != "" && len(rows) == 0 {
			p.Title.Text += "\nblue: Go (mmapkit), orange: Python"
		}
		p.Title.TextStyle.Font.Size = vg.Points(10)
		p.X.Label.Text = "seconds (lower is better)"
		p.X.Min = 0
		w := vg.Points(11)
		for _, set := range []struct {
			vals plotter.Values
			c    color.Color
		}{{goVals, color.RGBA{R: 31, G: 119, B: 180, A: 255}}, {pyVals, color.RGBA{R: 255, G: 127, B: 14, A: 255}}} {
			b, err := plotter.NewBarChart(set.vals, w)
			if err != nil {
				return err
			}
			b.Horizontal = true
			b.Color = set.c
			b.LineStyle.Width = 0
			p.Add(b)
		}
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return err
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Font.Size = vg.Points(8)
			lb.TextStyle[i].YAlign = draw.YCenter
		}
		p.Add(lb)
		p.NominalY(names...)
		// Room on the right for the labels of the longest bar.
		maxT := 0.0
		for _, xy := range xys {
			maxT = max(maxT, xy.X)
		}
		p.X.Max = maxT * 1.35
		rows = append(rows, []*plot.Plot{p})
	}
	if len(rows) == 0 {
		return fmt.Errorf("nothing to plot")
	}
	width := 8 * vg.Inch
	panel := vg.Length(float64(maxMethods)*0.28+1.1) * vg.Inch
	img := vgimg.New(width, panel*vg.Length(len(rows)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6), PadY: vg.Points(12)}
	canvases := plot.Align(rows, tiles, dc)
	for i := range rows {
		rows[i][0].Draw(canvases[i][0])
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

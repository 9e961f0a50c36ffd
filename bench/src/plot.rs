//! Plots next to the result files: latency against the number of athletes (plotters, SVG).

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

/// One line of a latency plot: its label and (athletes, latency in ms) points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label, e.g. "MQTT p99".
    pub label: String,
    /// (athletes, latency_ms) points, athletes ascending.
    pub points: Vec<(f64, f64)>,
}

/// Writes an SVG of latency (ms, log scale) against athletes (log scale) with the SPEC's
/// targets (5 ms and 100 ms p99) as dashed lines.
pub fn latency_vs_athletes(path: &Path, title: &str, series: &[Series]) -> anyhow::Result<()> {
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_min, mut y_max) = (100.0f64, 0.1f64, 200.0f64);
    for &(x, y) in all {
        x_max = x_max.max(x);
        if y > 0.0 {
            y_min = y_min.min(y);
            y_max = y_max.max(y);
        }
    }
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (50.0f64..x_max * 1.5).log_scale(),
            (y_min * 0.5..y_max * 2.0).log_scale(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("athletes (separate connections)")
        .y_desc("command frame → cue at the device, ms")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (target_ms, label) in [
        (5.0, "target p99 at 2,000: 5 ms"),
        (100.0, "capacity p99: 100 ms"),
    ] {
        chart
            .draw_series(LineSeries::new(
                [(50.0, target_ms), (x_max * 1.5, target_ms)],
                ShapeStyle::from(&BLACK.mix(0.4)).stroke_width(1),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.4)));
    }
    for (index, s) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

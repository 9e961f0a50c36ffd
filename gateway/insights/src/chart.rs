//! Small charts as SVG strings: a finding's scatter plot, the weekly efficiency trend.
//!
//! Hand-written rather than drawn with a plotting crate: two chart kinds, a few dozen points,
//! and the output must be byte-for-byte deterministic (fixed decimals, no ids or
//! timestamps) and self-contained (no fonts or scripts fetched), which a string template
//! guarantees. Text is XML-escaped; points past [`MAX_SCATTER_POINTS`] are left out.

use std::fmt::Write as _;

/// Most points drawn.
pub const MAX_SCATTER_POINTS: usize = 2_000;
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;

/// XML-escapes `text` for an SVG or HTML text node or attribute.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The data range of `values` padded so a constant series still has width.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() || !(hi - lo).is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    }
}

/// A scatter plot of `points` (x, y) with a title and axis labels; non-finite points are
/// skipped. The axes are labelled with their minimum and maximum.
pub fn scatter_svg(title: &str, x_label: &str, y_label: &str, points: &[(f64, f64)]) -> String {
    chart_svg(title, x_label, y_label, points, false)
}

/// A line chart: as [`scatter_svg`], the points also joined in the order given.
pub fn line_svg(title: &str, x_label: &str, y_label: &str, points: &[(f64, f64)]) -> String {
    chart_svg(title, x_label, y_label, points, true)
}

fn chart_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
    joined: bool,
) -> String {
    let points: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .take(MAX_SCATTER_POINTS)
        .collect();
    let (x_lo, x_hi) = range(points.iter().map(|p| p.0));
    let (y_lo, y_hi) = range(points.iter().map(|p| p.1));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w;
    let sy = |y: f64| TOP + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h;
    let mut svg = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{HEIGHT:.0}\" \
         viewBox=\"0 0 {WIDTH:.0} {HEIGHT:.0}\" font-family=\"sans-serif\" font-size=\"11\">\
         <title>{t}</title>\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\
         <text x=\"{cx:.1}\" y=\"16\" text-anchor=\"middle\" font-size=\"12\">{t}</text>\
         <line x1=\"{LEFT:.1}\" y1=\"{yb:.1}\" x2=\"{xr:.1}\" y2=\"{yb:.1}\" stroke=\"#444444\"/>\
         <line x1=\"{LEFT:.1}\" y1=\"{TOP:.1}\" x2=\"{LEFT:.1}\" y2=\"{yb:.1}\" stroke=\"#444444\"/>",
        t = escape_xml(title),
        cx = WIDTH / 2.0,
        yb = TOP + plot_h,
        xr = LEFT + plot_w,
    );
    if joined && points.len() > 1 {
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>",
            path.join(" ")
        );
    }
    for (x, y) in &points {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f77b4\" fill-opacity=\"0.7\"/>",
            sx(*x),
            sy(*y)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{LEFT:.1}\" y=\"{xt:.1}\" text-anchor=\"start\">{x_lo}</text>\
         <text x=\"{xr:.1}\" y=\"{xt:.1}\" text-anchor=\"end\">{x_hi}</text>\
         <text x=\"{cx:.1}\" y=\"{xl:.1}\" text-anchor=\"middle\">{xlab}</text>\
         <text x=\"{yt:.1}\" y=\"{yb:.1}\" text-anchor=\"end\">{y_lo}</text>\
         <text x=\"{yt:.1}\" y=\"{ytop:.1}\" text-anchor=\"end\">{y_hi}</text>\
         <text transform=\"translate(14 {ym:.1}) rotate(-90)\" text-anchor=\"middle\">{ylab}</text>\
         </svg>",
        xt = TOP + plot_h + 14.0,
        xr = LEFT + plot_w,
        cx = LEFT + plot_w / 2.0,
        xl = HEIGHT - 8.0,
        yt = LEFT - 4.0,
        yb = TOP + plot_h,
        ytop = TOP + 4.0,
        ym = TOP + plot_h / 2.0,
        x_lo = tick(x_lo),
        x_hi = tick(x_hi),
        y_lo = tick(y_lo),
        y_hi = tick(y_hi),
        xlab = escape_xml(x_label),
        ylab = escape_xml(y_label),
    );
    svg
}

/// An axis number: two significant decimals under 10, one under 100, none above.
fn tick(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.2}")
    } else if v.abs() < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_xml("a<b & \"c\" 'd'>\u{7}"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
    }

    #[test]
    fn points_land_where_the_scale_puts_them() {
        // x 6..10 → 56..344 (plot width 360 − 56 − 16 = 288), y 1..2 → 216..28 (plot
        // height 260 − 28 − 44 = 188): (6, 1) → (56.0, 216.0), (8, 1.5) → (200.0, 122.0),
        // (10, 2) → (344.0, 28.0).
        let svg = scatter_svg(
            "Sleep <vs> EF",
            "sleep (h)",
            "EF",
            &[(6.0, 1.0), (8.0, 1.5), (10.0, 2.0), (f64::NAN, 1.0)],
        );
        assert!(svg.contains("<circle cx=\"56.0\" cy=\"216.0\""));
        assert!(svg.contains("<circle cx=\"200.0\" cy=\"122.0\""));
        assert!(svg.contains("<circle cx=\"344.0\" cy=\"28.0\""));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("Sleep &lt;vs&gt; EF"));
        assert!(svg.contains(">6.00<") && svg.contains(">10.0<"));
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert_eq!(
            svg,
            scatter_svg(
                "Sleep <vs> EF",
                "sleep (h)",
                "EF",
                &[(6.0, 1.0), (8.0, 1.5), (10.0, 2.0)]
            )
        );
    }

    #[test]
    fn a_line_joins_its_points() {
        // Same scale as above: (6, 1), (8, 1.5), (10, 2) → 56,216 200,122 344,28.
        let svg = line_svg("t", "x", "y", &[(6.0, 1.0), (8.0, 1.5), (10.0, 2.0)]);
        assert!(svg.contains("<polyline points=\"56.0,216.0 200.0,122.0 344.0,28.0\""));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(!scatter_svg("t", "x", "y", &[(6.0, 1.0), (8.0, 1.5)]).contains("polyline"));
    }

    #[test]
    fn empty_and_constant_series_draw() {
        let svg = scatter_svg("t", "x", "y", &[]);
        assert_eq!(svg.matches("<circle").count(), 0);
        // A constant x of 5 is padded to 4..6: the point sits in the middle, 200.0.
        let svg = scatter_svg("t", "x", "y", &[(5.0, 1.0), (5.0, 2.0)]);
        assert!(svg.contains("cx=\"200.0\" cy=\"216.0\""));
    }
}

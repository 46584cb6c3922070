//! Hand-written SVG charts for the analytics page: lines, and bars stacked above and below zero,
//! over the period's weeks or months. Drawn on a fixed view box that scales to the page's width;
//! colours are presentation attributes (the CSP allows no inline style), and every chart has a
//! title and a table of the same numbers beside it for screen readers.

use std::fmt::Write as _;

// A narrow view box, so that the text stays readable when a phone shrinks the chart to its
// width (13 units are about 10 px at 375 px).
const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 46.0;
const BOTTOM: f64 = 24.0;
const FONT: f64 = 13.0;
/// Width of a character of the legend, roughly.
const CHAR: f64 = 7.2;

/// One series: its name for the legend, its colour, a value per bucket (`None`: no data).
pub struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    pub values: Vec<Option<f64>>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The vertical scale: from `low` (at most 0) to `high`, mapped onto the plot's height.
struct Scale {
    low: f64,
    high: f64,
}

impl Scale {
    fn of(values: impl Iterator<Item = f64>) -> Scale {
        let (mut low, mut high) = (0.0_f64, 0.0_f64);
        for v in values.filter(|v| v.is_finite()) {
            low = low.min(v);
            high = high.max(v);
        }
        if (high - low).abs() < f64::EPSILON {
            high = low + 1.0;
        }
        Scale { low, high }
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (self.high - v) / (self.high - self.low) * (HEIGHT - TOP - BOTTOM)
    }
}

/// The frame: title, legend, the axis values at the top, zero and bottom, the first, middle
/// and last bucket labels.
fn frame(
    svg: &mut String,
    title: &str,
    labels: &[String],
    legend: &[(&str, &str)],
    scale: &Scale,
    format: &dyn Fn(f64) -> String,
) {
    let _ = write!(
        svg,
        r#"<svg class="graph" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(title)
    );
    // The legend on up to two rows above the plot.
    let (mut x, mut y) = (RIGHT, 6.0);
    for (name, colour) in legend {
        let width = 18.0 + CHAR * name.len() as f64;
        if x + width > WIDTH - RIGHT && x > RIGHT {
            (x, y) = (RIGHT, y + 18.0);
        }
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{y}" width="11" height="11" fill="{colour}"/><text x="{:.1}" y="{}" font-size="{FONT}" fill="#333">{}</text>"##,
            x + 15.0,
            y + 10.0,
            escape(name)
        );
        x += width + 8.0;
    }
    let mut marks = vec![scale.high, scale.low];
    if scale.low < 0.0 {
        marks.push(0.0);
    }
    for v in marks {
        let y = scale.y(v);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d7de" stroke-width="1"/><text x="{}" y="{:.1}" font-size="{FONT}" text-anchor="end" fill="#555">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            escape(&format(v))
        );
    }
    let n = labels.len();
    let mut shown: Vec<usize> = vec![0, n / 2, n.saturating_sub(1)];
    shown.dedup();
    for i in shown.into_iter().filter(|i| *i < n) {
        let anchor = if i == 0 && n > 1 {
            "start"
        } else if i + 1 == n && n > 1 {
            "end"
        } else {
            "middle"
        };
        let x = match anchor {
            "start" => LEFT,
            "end" => WIDTH - RIGHT,
            _ => centre(i, n),
        };
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{}" font-size="{FONT}" text-anchor="{anchor}" fill="#555">{}</text>"##,
            HEIGHT - 6.0,
            escape(&labels[i])
        );
    }
}

fn slot(n: usize) -> f64 {
    (WIDTH - LEFT - RIGHT) / n.max(1) as f64
}

fn centre(i: usize, n: usize) -> f64 {
    LEFT + slot(n) * (i as f64 + 0.5)
}

/// A line per series over the buckets.
pub fn lines(
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
    format: &dyn Fn(f64) -> String,
) -> String {
    let scale = Scale::of(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied()),
    );
    let mut svg = String::new();
    let legend: Vec<_> = series.iter().map(|s| (s.name, s.colour)).collect();
    frame(&mut svg, title, labels, &legend, &scale, format);
    let n = labels.len();
    for s in series {
        // A line through each run of known values; a bucket without data breaks it.
        let mut runs: Vec<Vec<String>> = vec![Vec::new()];
        for (i, v) in s.values.iter().enumerate() {
            match (v, runs.last_mut()) {
                (Some(v), Some(run)) => {
                    run.push(format!("{:.1},{:.1}", centre(i, n), scale.y(*v)));
                }
                _ => runs.push(Vec::new()),
            }
        }
        for run in runs.iter().filter(|run| run.len() > 1) {
            let _ = write!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                run.join(" "),
                s.colour
            );
        }
        for (i, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                    centre(i, n),
                    scale.y(*v),
                    s.colour
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Bars per bucket: the `up` series stacked above zero, the `down` series (positive amounts)
/// stacked below it.
pub fn stacked_bars(
    title: &str,
    labels: &[String],
    up: &[Series<'_>],
    down: &[Series<'_>],
    format: &dyn Fn(f64) -> String,
) -> String {
    let n = labels.len();
    let total = |series: &[Series<'_>], i: usize| -> f64 {
        series
            .iter()
            .map(|s| s.values.get(i).copied().flatten().unwrap_or(0.0))
            .sum()
    };
    let scale = Scale::of((0..n).flat_map(|i| [total(up, i), -total(down, i)]));
    let mut svg = String::new();
    let legend: Vec<_> = up.iter().chain(down).map(|s| (s.name, s.colour)).collect();
    frame(&mut svg, title, labels, &legend, &scale, format);
    let width = (slot(n) * 0.7).max(1.0);
    for i in 0..n {
        let x = centre(i, n) - width / 2.0;
        for (series, sign) in [(up, 1.0), (down, -1.0)] {
            let mut base = 0.0;
            for s in series {
                let v = s.values.get(i).copied().flatten().unwrap_or(0.0);
                if v <= 0.0 {
                    continue;
                }
                let (a, b) = (scale.y(base), scale.y(base + sign * v));
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{width:.1}" height="{:.1}" fill="{}"/>"#,
                    a.min(b),
                    (a - b).abs(),
                    s.colour
                );
                base += sign * v;
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_to_their_values_and_escape_their_text() {
        let labels = vec!["Jan".to_owned(), "Feb".to_owned(), "Mar <".to_owned()];
        let svg = lines(
            "MRR & more",
            &labels,
            &[Series {
                name: "MRR",
                colour: "#0b5cad",
                values: vec![Some(0.0), None, Some(100.0)],
            }],
            &|v| format!("{v:.0}"),
        );
        assert!(svg.contains("<title>MRR &amp; more</title>"));
        assert!(svg.contains("Mar &lt;"));
        // 0 at the bottom of the plot, 100 at its top; the missing month breaks the line.
        assert!(!svg.contains("<polyline"), "{svg}");
        assert!(svg.contains(&format!("cx=\"{:.1}\" cy=\"{:.1}\"", centre(2, 3), TOP)));
        assert!(svg.contains(&format!("cy=\"{:.1}\"", HEIGHT - BOTTOM)));
        assert_eq!(svg.matches("<circle").count(), 2);
        let bars = stacked_bars(
            "Movements",
            &labels[..1],
            &[Series {
                name: "New",
                colour: "#1a7f37",
                values: vec![Some(300.0)],
            }],
            &[Series {
                name: "Churn",
                colour: "#cf222e",
                values: vec![Some(100.0)],
            }],
            &|v| format!("{v:.0}"),
        );
        assert_eq!(
            bars.matches("<rect").count(),
            2 + 2,
            "two legend keys and two bars"
        );
        assert!(!bars.contains("style="));
    }
}

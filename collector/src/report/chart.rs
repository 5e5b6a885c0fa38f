//! Inline SVG charts. Each is drawn from published numbers only and always
//! followed by a table with the same numbers (screen readers, printing,
//! copying); the SVG is a picture of that table, hidden from assistive
//! technology. No script, no external resource; sizes scale with the page.

use super::escape::html as esc;
use super::policy::{Row, Week};
use super::weeks::Partial;
use chrono::Datelike;

const WIDTH: f64 = 720.0;

/// Horizontal bars, one per row; "other" drawn in grey.
pub fn bars(rows: &[Row], label: impl Fn(&Row) -> String) -> String {
    let row_h = 24.0;
    let (left, right) = (230.0, 70.0);
    let height = rows.len().max(1) as f64 * row_h + 8.0;
    let max = rows.iter().map(|r| r.count).max().unwrap_or(1).max(1) as f64;
    let mut svg = format!(
        "<svg class=\"chart bars\" aria-hidden=\"true\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\">\n"
    );
    for (i, row) in rows.iter().enumerate() {
        let y = 4.0 + i as f64 * row_h;
        let w = (row.count as f64 / max * (WIDTH - left - right)).max(1.0);
        let class = if row.folded > 0 { "bar other" } else { "bar" };
        svg.push_str(&format!(
            "<text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\" class=\"label\">{name}</text>\
             <rect x=\"{left}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"17\" class=\"{class}\"/>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\" class=\"value\">{count}</text>\n",
            lx = left - 8.0,
            ty = y + 13.0,
            name = esc(&label(row)),
            vx = left + w + 6.0,
            count = row.count,
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A step of 1, 2 or 5 × 10^n giving about four gridlines up to `max`.
fn nice_step(max: u64) -> u64 {
    let raw = (max as f64 / 4.0).max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    step.max(1.0) as u64
}

/// Weekly columns with a y-axis, dates with the year, partial weeks hatched
/// and suppressed weeks drawn as dashed outlines.
pub fn weeks(weeks: &[Week], id: &str) -> String {
    let (height, left, right, top, bottom) = (250.0, 56.0, 16.0, 20.0, 52.0);
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let max_count = weeks.iter().filter_map(|w| w.count).max().unwrap_or(0);
    let step = nice_step(max_count.max(1));
    let top_value = (max_count.max(1)).div_ceil(step) * step;
    let y = |v: u64| top + plot_h - v as f64 / top_value as f64 * plot_h;
    let mut svg = format!(
        "<svg class=\"chart weeks\" aria-hidden=\"true\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\">\n\
         <defs><pattern id=\"{id}-hatch\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" class=\"hatch-bg\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" class=\"hatch-line\"/></pattern></defs>\n"
    );
    let mut tick = 0;
    while tick <= top_value {
        svg.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{gy:.1}\" x2=\"{x2}\" y2=\"{gy:.1}\" class=\"grid\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" class=\"tick\">{tick}</text>\n",
            gy = y(tick),
            x2 = WIDTH - right,
            tx = left - 6.0,
            ty = y(tick) + 4.0,
        ));
        tick += step;
    }
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" class=\"axis\"/>\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" class=\"axis\"/>\n",
        b = top + plot_h,
        r = WIDTH - right,
    ));
    let n = weeks.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.7).min(44.0);
    let mut last_year = None;
    for (i, week) in weeks.iter().enumerate() {
        let cx = left + slot * (i as f64 + 0.5);
        let x = cx - bar_w / 2.0;
        let base = top + plot_h;
        match week.count {
            Some(count) => {
                let (class, fill) = if week.span.partial == Partial::No {
                    ("col", String::new())
                } else {
                    ("col partial", format!(" style=\"fill: url(#{id}-hatch)\""))
                };
                if count > 0 {
                    svg.push_str(&format!(
                        "<rect x=\"{x:.1}\" y=\"{yy:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" class=\"{class}\"{fill}/>",
                        yy = y(count),
                        h = base - y(count),
                    ));
                }
                svg.push_str(&format!(
                    "<text x=\"{cx:.1}\" y=\"{vy:.1}\" text-anchor=\"middle\" class=\"value\">{count}</text>",
                    vy = y(count) - 5.0,
                ));
            }
            None => {
                let h = plot_h * 0.25;
                svg.push_str(&format!(
                    "<rect x=\"{x:.1}\" y=\"{yy:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" class=\"col hidden\"/>\
                     <text x=\"{cx:.1}\" y=\"{vy:.1}\" text-anchor=\"middle\" class=\"value\">&lt;K</text>",
                    yy = base - h,
                    vy = base - h - 5.0,
                ));
            }
        }
        let first = week.span.first;
        svg.push_str(&format!(
            "<text x=\"{cx:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\" class=\"tick\">{day} {month}</text>",
            ly = base + 16.0,
            day = first.day(),
            month = first.format("%b"),
        ));
        if last_year != Some(first.year()) {
            svg.push_str(&format!(
                "<text x=\"{cx:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\" class=\"tick year\">{year}</text>",
                ly = base + 30.0,
                year = first.year(),
            ));
            last_year = Some(first.year());
        }
        svg.push('\n');
    }
    svg.push_str(&format!(
        "<text x=\"{mx:.1}\" y=\"{ay}\" text-anchor=\"middle\" class=\"axis-title\">week starting (Monday, UTC; hatched: partial week)</text>\n</svg>",
        mx = left + plot_w / 2.0,
        ay = height - 4.0,
    ));
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(40), 10);
        assert_eq!(nice_step(1234), 500);
    }
}

//! Training curves as PNG (plotters' bitmap backend). Text needs a TrueType font: the first of a
//! few usual system paths that exists (DejaVu Sans or Liberation Sans on Debian-like systems),
//! or the file named by `SEGUE_FONT`. Without one, the plot is skipped with a warning: a curve
//! is a convenience, the numbers are in `metrics.jsonl`.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// Registers a system font with plotters once; false when none could be read.
fn font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var("SEGUE_FONT").ok();
        let bytes = env
            .iter()
            .map(String::as_str)
            .chain(FONT_PATHS)
            .find_map(|p| std::fs::read(p).ok());
        let Some(bytes) = bytes else {
            return false;
        };
        // plotters keeps registered fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws line series on one chart, written atomically to `path`.
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), String> {
    if !font() {
        return Err("no TrueType font found (set SEGUE_FONT to a .ttf file)".into());
    }
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in pts.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return Err("nothing to plot".into());
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (900, 540)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|x| e(&x))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// A horizontal bar per item (name, mean, 95% half-width), top to bottom in the given order,
/// with the interval as an error bar and the name on the left, written atomically to `path`.
/// Horizontal bars keep long policy names readable whatever their number.
pub fn bars(
    path: &Path,
    title: &str,
    x_label: &str,
    items: &[(String, f64, f64)],
) -> Result<(), String> {
    if !font() {
        return Err("no TrueType font found (set SEGUE_FONT to a .ttf file)".into());
    }
    if items.is_empty() {
        return Err("nothing to plot".into());
    }
    let top = items
        .iter()
        .map(|(_, m, c)| m + if c.is_finite() { *c } else { 0.0 })
        .fold(0.0f64, f64::max)
        * 1.08;
    let n = items.len();
    // Room for the longest name at the label size (about 8 px a character).
    let longest = items.iter().map(|i| i.0.chars().count()).max().unwrap_or(0);
    let label_width = (longest as u32 * 8 + 20).clamp(80, 420);
    let height = (n as u32 * 34 + 110).max(240);
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (960, height)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        // Row i (top first) spans y in [n - 1 - i, n - i].
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0.0..top.max(1e-9), 0.0..n as f64)
            .map_err(|x| e(&x))?;
        let names: Vec<String> = items.iter().map(|i| i.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y| {
                let row = y.floor();
                let i = n as f64 - 1.0 - row;
                if (y - row - 0.5).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                    names[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .x_desc(x_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
        for (i, (_, m, c)) in items.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let y = (n - 1 - i) as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.18), (*m, y + 0.82)],
                    color.filled(),
                )))
                .map_err(|x| e(&x))?;
            if c.is_finite() {
                let (lo, hi) = ((m - c).max(0.0), m + c);
                let whisker = |pts: Vec<(f64, f64)>| PathElement::new(pts, BLACK.stroke_width(2));
                chart
                    .draw_series([
                        whisker(vec![(lo, y + 0.5), (hi, y + 0.5)]),
                        whisker(vec![(lo, y + 0.35), (lo, y + 0.65)]),
                        whisker(vec![(hi, y + 0.35), (hi, y + 0.65)]),
                    ])
                    .map_err(|x| e(&x))?;
            }
        }
        root.present().map_err(|x| e(&x))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// One panel of learning curves: every run's (x, y) points (drawn faint) and, per x, the mean
/// over runs with its 95% half-width (drawn as a line in a band).
pub struct Panel {
    pub title: String,
    pub runs: Vec<Vec<(f64, f64)>>,
    pub mean: Vec<(f64, f64, f64)>,
}

/// Panels side by side on one shared y range, written atomically to `path`.
pub fn panels(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    panels: &[Panel],
) -> Result<(), String> {
    if !font() {
        return Err("no TrueType font found (set SEGUE_FONT to a .ttf file)".into());
    }
    let ys = panels.iter().flat_map(|p| {
        let runs = p.runs.iter().flatten().map(|&(_, y)| (y, y));
        runs.chain(p.mean.iter().map(|&(_, m, c)| (m - c, m + c)))
    });
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for (lo, hi) in ys.filter(|(lo, hi)| lo.is_finite() && hi.is_finite()) {
        y0 = y0.min(lo);
        y1 = y1.max(hi);
    }
    let x1 = panels
        .iter()
        .flat_map(|p| p.runs.iter().flatten().map(|&(x, _)| x))
        .fold(f64::NEG_INFINITY, f64::max);
    if y0 > y1 || !x1.is_finite() {
        return Err("nothing to plot".into());
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let (y0, y1, x1) = (y0 - pad, y1 + pad, x1.max(1.0));
    let tmp = path.with_extension("tmp.png");
    {
        let width = 520 * panels.len().max(1) as u32;
        let root = BitMapBackend::new(&tmp, (width, 520)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(|x| e(&x))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (k, (panel, area)) in panels.iter().zip(&areas).enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, ("sans-serif", 16))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(0.0..x1, y0..y1)
                .map_err(|x| e(&x))?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(|x| e(&x))?;
            let band: Vec<(f64, f64)> = panel
                .mean
                .iter()
                .map(|&(x, m, c)| (x, m + c))
                .chain(panel.mean.iter().rev().map(|&(x, m, c)| (x, m - c)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))
                .map_err(|x| e(&x))?;
            for run in &panel.runs {
                chart
                    .draw_series(LineSeries::new(run.iter().copied(), color.mix(0.3)))
                    .map_err(|x| e(&x))?;
            }
            chart
                .draw_series(LineSeries::new(
                    panel.mean.iter().map(|&(x, m, _)| (x, m)),
                    color.stroke_width(3),
                ))
                .map_err(|x| e(&x))?
                .label(format!("mean of {} runs, 95% band", panel.runs.len()))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

//! Training curves as PNG (plotters' bitmap backend). Text needs a TrueType font: the first of a
//! few usual system paths that exists (DejaVu Sans or Liberation Sans on Debian-like systems),
//! or the file named by `SEGUE_FONT`. Without one, the plot is skipped with a warning: a curve
//! is a convenience, the numbers are in `metrics.jsonl`.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::encoder::train::{EpochRecord, Phase};

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

/// The encoder's training and validation losses per epoch, one series per phase.
pub fn loss_curves(path: &Path, history: &[EpochRecord]) -> Result<(), String> {
    let mut series = Vec::new();
    for (phase, name) in [
        (Phase::SongLayers, "song layers"),
        (Phase::History, "history"),
    ] {
        let recs: Vec<&EpochRecord> = history.iter().filter(|r| r.phase == phase).collect();
        if recs.is_empty() {
            continue;
        }
        series.push(Series {
            name: format!("{name}: training"),
            points: recs
                .iter()
                .map(|r| (r.epoch as f64 + 1.0, r.train_loss))
                .collect(),
        });
        series.push(Series {
            name: format!("{name}: validation"),
            points: recs
                .iter()
                .map(|r| (r.epoch as f64 + 1.0, r.valid_loss))
                .collect(),
        });
    }
    lines(path, "encoder loss", "epoch", "loss", &series)
}

/// A bar per item with its 95% interval as an error bar, written atomically to `path`.
pub fn bars(
    path: &Path,
    title: &str,
    y_label: &str,
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
        * 1.1;
    let n = items.len();
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (900, 540)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(60)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..n as f64, 0.0..top.max(1e-9))
            .map_err(|x| e(&x))?;
        let names: Vec<String> = items.iter().map(|i| i.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 1e-6 && i < names.len() {
                    names[i].clone()
                } else {
                    String::new()
                }
            })
            .y_desc(y_label)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|x| e(&x))?;
        for (i, (_, m, c)) in items.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let x = i as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.15, 0.0), (x + 0.85, *m)],
                    color.filled(),
                )))
                .map_err(|x| e(&x))?;
            if c.is_finite() {
                let (lo, hi) = (m - c, m + c);
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x + 0.5, lo), (x + 0.5, hi)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(|x| e(&x))?;
                for y in [lo, hi] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(x + 0.4, y), (x + 0.6, y)],
                            BLACK.stroke_width(2),
                        )))
                        .map_err(|x| e(&x))?;
                }
            }
        }
        root.present().map_err(|x| e(&x))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

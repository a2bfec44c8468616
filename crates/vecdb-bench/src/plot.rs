//! SVG line charts (plotters' SVG backend: text is SVG `<text>`, so no font library is needed).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::BenchError;

/// The most series in one chart (one color each).
pub const SERIES_MAX: usize = 6;
const COLORS: [RGBColor; SERIES_MAX] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// One line of a chart: its legend and its points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend.
    pub name: String,
    /// `(x, y)` points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// A chart's title, axes and scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// The caption.
    pub title: String,
    /// The x axis label.
    pub x_label: String,
    /// The y axis label.
    pub y_label: String,
    /// Whether x is drawn on a base-2 logarithmic scale (thread counts: 1, 2, 4, 8, 16 equally spaced).
    pub log_x: bool,
    /// Where the legend goes: upper left (for rising lines) or upper right.
    pub legend_upper_left: bool,
}

fn plot_error(path: &Path) -> impl Fn(String) -> BenchError + '_ {
    move |reason| BenchError::Plot { path: path.to_path_buf(), reason }
}

fn bounds(series: &[Series]) -> Option<((f64, f64), (f64, f64))> {
    let points = series.iter().flat_map(|series| series.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let mut bounds: Option<((f64, f64), (f64, f64))> = None;
    for &(x, y) in points {
        bounds = Some(match bounds {
            None => ((x, x), (y, y)),
            Some(((x0, x1), (y0, y1))) => ((x0.min(x), x1.max(x)), (y0.min(y), y1.max(y))),
        });
    }
    bounds
}

/// Draws `series` into an SVG file at `path`.
///
/// # Errors
/// [`BenchError::Plot`] with no finite point, more than [`SERIES_MAX`] series, or a drawing failure.
pub fn line_chart(path: &Path, chart: &Chart, series: &[Series]) -> Result<(), BenchError> {
    let error = plot_error(path);
    if series.len() > SERIES_MAX {
        return Err(error(format!("{} series (SERIES_MAX is {SERIES_MAX})", series.len())));
    }
    // A log-2 x axis is drawn as a linear axis of log2(x), labelled with 2^x.
    let transform = |x: f64| if chart.log_x { x.max(f64::MIN_POSITIVE).log2() } else { x };
    let series: Vec<Series> = series
        .iter()
        .map(|line| Series {
            name: line.name.clone(),
            points: line.points.iter().map(|&(x, y)| (transform(x), y)).collect(),
        })
        .collect();
    let ((x_min, x_max), (_, y_max)) = bounds(&series).ok_or_else(|| error("no finite point".to_owned()))?;
    let x_pad = ((x_max - x_min) * 0.05).max(1e-3);
    // Rates and times are compared from zero, so the plot does not exaggerate a difference.
    let y_top = y_max * 1.1 + 1e-9;
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|failure| error(failure.to_string()))?;
    let mut context = builder(&root, chart)
        .build_cartesian_2d(x_min - x_pad..x_max + x_pad, 0.0..y_top)
        .map_err(|failure| error(failure.to_string()))?;
    let log_label = |x: &f64| format!("{:.0}", x.exp2());
    let linear_label = |x: &f64| short_number(*x);
    let x_formatter: &dyn Fn(&f64) -> String = if chart.log_x { &log_label } else { &linear_label };
    let x_labels = if chart.log_x { (x_max - x_min).round() as usize + 1 } else { 10 };
    context
        .configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_labels(x_labels)
        .x_label_formatter(x_formatter)
        .y_label_formatter(&|y| short_number(*y))
        .draw()
        .map_err(|failure| error(failure.to_string()))?;
    draw_lines(&mut context, &series, chart.legend_upper_left).map_err(&error)?;
    root.present().map_err(|failure| error(failure.to_string()))
}

fn builder<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    chart: &Chart,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder.caption(chart.title.as_str(), ("sans-serif", 22)).margin(18).x_label_area_size(48).y_label_area_size(80);
    builder
}

fn draw_lines<'a, X, Y>(
    context: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    series: &[Series],
    legend_upper_left: bool,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (line, color) in series.iter().zip(COLORS) {
        let points: Vec<(f64, f64)> =
            line.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        context
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|failure| failure.to_string())?
            .label(line.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
        context
            .draw_series(points.iter().map(|&point| Circle::new(point, 3, color.filled())))
            .map_err(|failure| failure.to_string())?;
    }
    context
        .configure_series_labels()
        .position(if legend_upper_left { SeriesLabelPosition::UpperLeft } else { SeriesLabelPosition::UpperRight })
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|failure| failure.to_string())
}

/// `12345.6` as `12.3k`, `2500000` as `2.5M`.
pub fn short_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if magnitude >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else if magnitude >= 10.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_written_as_svg_with_their_legends() {
        let directory = std::env::temp_dir().join(format!("vecdb-bench-plot-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let series = vec![
            Series { name: "vecdb".into(), points: vec![(1.0, 300.0), (2.0, 560.0), (16.0, 2400.0)] },
            Series { name: "okaywal".into(), points: vec![(1.0, 250.0), (16.0, 1900.0)] },
        ];
        for log_x in [false, true] {
            let path = directory.join(format!("chart-{log_x}.svg"));
            let chart = Chart {
                title: "Scaling".into(),
                x_label: "writers".into(),
                y_label: "appends/s".into(),
                log_x,
                legend_upper_left: log_x,
            };
            line_chart(&path, &chart, &series).unwrap();
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.starts_with("<svg") && svg.contains("okaywal") && svg.contains("Scaling"));
            if log_x {
                // Thread counts are labelled as such on the log-2 axis.
                assert!(svg.contains(">\n16\n<") || svg.contains(">16<"), "{svg}");
            }
        }
        let empty = Chart {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            log_x: false,
            legend_upper_left: false,
        };
        let path = directory.join("empty.svg");
        assert!(matches!(line_chart(&path, &empty, &[]), Err(BenchError::Plot { .. })));
        let too_many = vec![series[0].clone(); SERIES_MAX + 1];
        assert!(matches!(line_chart(&path, &empty, &too_many), Err(BenchError::Plot { .. })));
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn short_numbers_keep_three_significant_figures_or_so() {
        assert_eq!(short_number(2_500_000.0), "2.5M");
        assert_eq!(short_number(12_345.0), "12k");
        assert_eq!(short_number(6_600.0), "6.6k");
        assert_eq!(short_number(250.0), "250");
        assert_eq!(short_number(0.95), "0.95");
    }
}

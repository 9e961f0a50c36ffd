//! Charts as SVG, drawn on the server with plotters: a session's heart rate, power,
//! cadence and W′ balance over time with its cues on the timeline, and a plan's steps.
//! Tenant-scoped like every other read: another tenant's id is 404.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use paceline_coach::wbal::WPrimeBalance;
use plotters::coord::Shift;
use plotters::prelude::*;
use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::sessions::{CueView, load_cues, settled_session};
use super::{ApiError, ApiPath, ApiState, Auth};
use crate::privacy::export::{self, ExportSample};

const WIDTH: u32 = 1000;
const PANEL_HEIGHT: u32 = 190;

/// A session's chart: heart rate (with cues as marks on the timeline), power, cadence and
/// W′ balance against time.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/chart.svg", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, content_type = "image/svg+xml", body = String),
        (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn session_chart(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let session = settled_session(&state, &p, id).await?;
    let (samples, cues, profile) = state
        .read(move |conn| {
            let samples = export::load_samples(conn, p.tenant_row, id)?;
            let cues = load_cues(conn, p.tenant_row, id)?;
            let profile: Option<String> = conn
                .query_row(
                    "SELECT profile_json FROM athletes WHERE tenant_id = ?1 AND id = ?2",
                    params![p.tenant_row, session.athlete_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok((samples, cues, profile))
        })
        .await?;
    let profile: Value = profile
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let svg = tokio::task::spawn_blocking(move || draw_session(&samples, &cues, &profile))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "session chart");
            ApiError::internal()
        })?;
    Ok(svg_response(svg))
}

/// A plan's steps as a chart: one bar per step of the expanded workout, its height the
/// target's intensity in % of FTP (steps with a heart-rate, watt or open target are drawn
/// at a neutral height in grey).
#[utoipa::path(get, path = "/api/v1/plans/{id}/chart.svg", tag = "plans",
    params(("id" = i64, Path, description = "plan id")),
    responses((status = 200, content_type = "image/svg+xml", body = String),
        (status = 404, description = "no such plan in this tenant")),
    security(("bearer" = [])))]
pub async fn plan_chart(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let plan: String = state
        .read(move |conn| {
            conn.query_row(
                "SELECT plan_json FROM plans WHERE tenant_id = ?1 AND id = ?2",
                params![p.tenant_row, id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| ApiError::not_found("plan"))
        })
        .await?;
    let plan: Value = serde_json::from_str(&plan).map_err(|_| ApiError::internal())?;
    let svg = tokio::task::spawn_blocking(move || draw_plan(&plan))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "plan chart");
            ApiError::internal()
        })?;
    Ok(svg_response(svg))
}

pub(super) fn svg_response(svg: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response()
}

type DrawResult<T> = Result<T, String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// One panel: a line of `(t_s, value)` points.
struct Panel<'a> {
    title: &'a str,
    unit: &'a str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

fn draw_session(samples: &[ExportSample], cues: &[CueView], profile: &Value) -> DrawResult<String> {
    let secs = |t_ms: i64| t_ms as f64 / 1000.0;
    let hr: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| s.heart_rate.map(|v| (secs(s.t_ms), v as f64)))
        .collect();
    let power: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| s.power_w.map(|v| (secs(s.t_ms), v)))
        .collect();
    let cadence: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| s.cadence.map(|v| (secs(s.t_ms), v)))
        .collect();
    let wbal = wbal_series(&power, profile);
    let end_s = samples.iter().map(|s| secs(s.t_ms)).fold(1.0f64, f64::max);
    let panels = [
        Panel {
            title: "Heart rate",
            unit: "bpm",
            color: RGBColor(200, 30, 45),
            points: hr,
        },
        Panel {
            title: "Power",
            unit: "W",
            color: RGBColor(20, 90, 200),
            points: power,
        },
        Panel {
            title: "Cadence",
            unit: "rpm",
            color: RGBColor(30, 130, 60),
            points: cadence,
        },
        Panel {
            title: "W′ balance",
            unit: "%",
            color: RGBColor(140, 60, 170),
            points: wbal,
        },
    ];
    let mut svg = String::new();
    {
        let height = PANEL_HEIGHT * u32::try_from(panels.len()).unwrap_or(4);
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((panels.len(), 1));
        for (index, (panel, area)) in panels.iter().zip(areas.iter()).enumerate() {
            let marks = if index == 0 { cues } else { &[] };
            draw_panel(area, panel, end_s, marks)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// W′ balance in % of W′ from the power samples (Skiba's model, as the live coach keeps it).
fn wbal_series(power: &[(f64, f64)], profile: &Value) -> Vec<(f64, f64)> {
    let (Some(cp), Some(w_prime)) = (
        profile.get("cp").and_then(Value::as_f64),
        profile.get("w_prime_j").and_then(Value::as_f64),
    ) else {
        return Vec::new();
    };
    if cp <= 0.0 || w_prime <= 0.0 {
        return Vec::new();
    }
    let mut balance = WPrimeBalance::new(cp, w_prime);
    let mut last_t = None;
    let mut points = Vec::with_capacity(power.len());
    for &(t, w) in power {
        let dt = last_t.map_or(1.0, |last: f64| (t - last).clamp(0.0, 10.0));
        last_t = Some(t);
        balance.step(w, dt);
        points.push((t, balance.fraction() * 100.0));
    }
    points
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    panel: &Panel<'_>,
    end_s: f64,
    cues: &[CueView],
) -> DrawResult<()> {
    let (low, high) = panel
        .points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, v)| {
            (lo.min(v), hi.max(v))
        });
    let (low, high) = if low.is_finite() && high.is_finite() {
        let pad = ((high - low) * 0.1).max(5.0);
        ((low - pad).max(0.0), high + pad)
    } else {
        (0.0, 1.0)
    };
    let caption = if panel.points.is_empty() {
        format!("{} ({}) — no data", panel.title, panel.unit)
    } else {
        format!("{} ({})", panel.title, panel.unit)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..end_s, low..high)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("s")
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for cue in cues {
        let color = match cue.severity.as_str() {
            "safety" => RGBColor(200, 0, 0),
            "warning" => RGBColor(220, 120, 0),
            _ => RGBColor(120, 120, 120),
        };
        chart
            .draw_series(LineSeries::new(
                [(cue.t_s, low), (cue.t_s, high)],
                ShapeStyle::from(&color.mix(0.6)).stroke_width(1),
            ))
            .map_err(err)?;
    }
    chart
        .draw_series(LineSeries::new(
            panel.points.iter().copied(),
            panel.color.stroke_width(2),
        ))
        .map_err(err)?;
    Ok(())
}

/// A step of the expanded plan: its length and intensity in % of FTP, if it has one.
struct PlanBar {
    duration_s: f64,
    low_pct: Option<f64>,
    high_pct: Option<f64>,
}

fn expand(steps: &[Value], out: &mut Vec<PlanBar>) {
    for step in steps {
        if step["kind"] == "repeat" {
            let count = step["count"].as_u64().unwrap_or(1).min(100);
            let inner = step["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            for _ in 0..count {
                expand(inner, out);
            }
            continue;
        }
        let target = &step["target"];
        let pct = |key: &str| target[key].as_f64();
        let (low_pct, high_pct) = match target["kind"].as_str() {
            Some("power_ftp") => (pct("low_pct"), pct("high_pct")),
            Some("power_ftp_ramp") => (pct("start_pct"), pct("end_pct")),
            Some("power_zone") => {
                // Coggan zones' middles, % FTP.
                let middle = [50.0, 65.0, 83.0, 98.0, 113.0, 135.0, 160.0];
                let zone = target["zone"].as_u64().unwrap_or(1).clamp(1, 7);
                let value = middle[usize::try_from(zone - 1).unwrap_or(0)];
                (Some(value), Some(value))
            }
            _ => (None, None),
        };
        out.push(PlanBar {
            duration_s: step["duration_s"].as_f64().unwrap_or(0.0),
            low_pct,
            high_pct,
        });
    }
}

fn draw_plan(plan: &Value) -> DrawResult<String> {
    let mut bars = Vec::new();
    expand(
        plan["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]),
        &mut bars,
    );
    let total_s = bars.iter().map(|b| b.duration_s).sum::<f64>().max(1.0);
    let top = bars
        .iter()
        .filter_map(|b| b.high_pct.or(b.low_pct))
        .fold(120.0f64, f64::max)
        + 10.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let title = plan["name"].as_str().unwrap_or("Plan");
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..total_s / 60.0, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("min")
            .y_desc("% FTP")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        let mut start = 0.0;
        let mut shapes = Vec::with_capacity(bars.len());
        for bar in &bars {
            let end = start + bar.duration_s;
            let (height, color) = match (bar.low_pct, bar.high_pct) {
                (Some(low), Some(high)) => ((low + high) / 2.0, zone_color((low + high) / 2.0)),
                _ => (45.0, RGBColor(170, 170, 170)),
            };
            shapes.push(Rectangle::new(
                [(start / 60.0, 0.0), (end / 60.0, height)],
                ShapeStyle::from(&color).filled(),
            ));
            start = end;
        }
        chart.draw_series(shapes).map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The colour of a power intensity, % FTP (Coggan zones).
fn zone_color(pct: f64) -> RGBColor {
    match pct {
        p if p < 56.0 => RGBColor(120, 144, 156),
        p if p < 76.0 => RGBColor(30, 136, 229),
        p if p < 91.0 => RGBColor(67, 160, 71),
        p if p < 106.0 => RGBColor(251, 192, 45),
        p if p < 121.0 => RGBColor(245, 124, 0),
        _ => RGBColor(211, 47, 47),
    }
}

/// One line of the fitness chart: its label, colour and value of a day.
type FitnessLine = (
    &'static str,
    RGBColor,
    fn(&paceline_planning::FitnessDay) -> f64,
);

/// An athlete's fitness over a window of days, drawn: CTL (fitness), ATL (fatigue) and TSB
/// (form) as lines on top, each day's load as bars below, dates on the x axis.
pub(super) fn draw_fitness(days: &[paceline_planning::FitnessDay]) -> DrawResult<String> {
    let count = days.len().max(1);
    let end = count as f64;
    let date_of = |x: f64| -> String {
        let index = x.floor();
        if index < 0.0 {
            return String::new();
        }
        // Whole days only: the axis labels sit on a day's left edge.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let index = index as usize;
        days.get(index)
            .map(|d| crate::jobs::planning::format_date(d.date))
            .unwrap_or_default()
    };
    let (low, high) = days.iter().fold((0.0f64, 10.0f64), |(lo, hi), d| {
        (lo.min(d.tsb), hi.max(d.ctl).max(d.atl).max(d.tsb))
    });
    let (low, high) = (low - (high - low) * 0.05, high + (high - low) * 0.05);
    let tss_top = days.iter().map(|d| d.tss).fold(50.0f64, f64::max) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, bottom) = root.split_vertically(300);
        let caption = if days.iter().all(|d| d.tss == 0.0 && d.ctl == 0.0) {
            "Fitness (CTL), fatigue (ATL) and form (TSB) — no load yet"
        } else {
            "Fitness (CTL), fatigue (ATL) and form (TSB)"
        };
        let mut chart = ChartBuilder::on(&top)
            .caption(caption, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..end, low..high)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| date_of(*x))
            .y_desc("TSS/day")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (end, 0.0)],
                ShapeStyle::from(&RGBColor(150, 150, 150)).stroke_width(1),
            ))
            .map_err(err)?;
        let lines: [FitnessLine; 3] = [
            ("CTL (fitness)", RGBColor(20, 90, 200), |d| d.ctl),
            ("ATL (fatigue)", RGBColor(200, 30, 120), |d| d.atl),
            ("TSB (form)", RGBColor(220, 150, 0), |d| d.tsb),
        ];
        for (label, color, value) in lines {
            chart
                .draw_series(LineSeries::new(
                    days.iter()
                        .enumerate()
                        .map(|(i, d)| (i as f64 + 0.5, value(d))),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(err)?;
        let mut loads = ChartBuilder::on(&bottom)
            .caption("Daily load", ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..end, 0.0..tss_top)
            .map_err(err)?;
        loads
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| date_of(*x))
            .y_desc("TSS")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        loads
            .draw_series(
                days.iter()
                    .enumerate()
                    .filter(|(_, d)| d.tss > 0.0)
                    .map(|(i, d)| {
                        Rectangle::new(
                            [(i as f64 + 0.1, 0.0), (i as f64 + 0.9, d.tss)],
                            ShapeStyle::from(&RGBColor(96, 125, 139)).filled(),
                        )
                    }),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

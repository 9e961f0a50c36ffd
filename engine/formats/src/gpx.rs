//! GPX 1.1 (and 1.0) tracks read into a [`Recording`], and written from one.
//!
//! Reads the first `trk`: its `name` (or the metadata's), `type` (the sport, as
//! [`Sport::from_name`] reads it), the `gpx` element's `creator` (the device), and every
//! `trkseg/trkpt`: `lat`/`lon`, `ele`, `time`, `speed` (GPX 1.0), and in `extensions` Garmin's
//! TrackPointExtension (`hr`, `cad`, `speed`, under any prefix) and power as `power`
//! (Strava), `PowerInWatts` (Garmin's PowerExtension) or `watts`. A point without a time is
//! skipped, and so is a position of exactly 0, 0 (what writers put where they have
//! none); a track with no timed point is a route, not an activity, and is refused. The
//! start is the first timed point (or the metadata's `time`, when up to an hour before
//! it); the first point's written offset, when not `Z`, is the local offset.
//! GPX states no totals. On foot, `cad` (one leg, as Garmin writes it) is doubled to steps
//! per minute.
//!
//! Bounds: input at most [`Limits::max_bytes`], [`Limits::max_xml_nodes`] XML nodes,
//! [`Limits::max_points`] points; the XML may not declare a DTD, so no entity is expanded.

use std::fmt::Write as _;

use roxmltree::Node;

use crate::tcx::{f32_of, whole};
use crate::xml::{self, child, child_text, children, number};
use crate::{FormatError, Limits, Point, Recording, Sport, SportFamily, Totals, time};

const FORMAT: &str = "GPX";

fn content(reason: String) -> FormatError {
    FormatError::Content {
        format: FORMAT,
        reason,
    }
}

/// Reads a GPX track.
pub fn read_recording(bytes: &[u8], limits: &Limits) -> Result<Recording, FormatError> {
    let document = xml::parse(FORMAT, bytes, limits)?;
    let root = document.root_element();
    if root.tag_name().name() != "gpx" {
        return Err(content(format!(
            "the root element is <{}>, not <gpx>",
            xml::cut(root.tag_name().name())
        )));
    }
    let track = child(root, "trk").ok_or_else(|| content("no trk element".to_owned()))?;
    let sport = child_text(track, "type").map_or(Sport::Other, Sport::from_name);
    let foot = sport.family() == SportFamily::Foot;
    let name = child_text(track, "name")
        .or_else(|| child(root, "metadata").and_then(|m| child_text(m, "name")))
        .and_then(|name| limits.text(name));
    let device = root.attribute("creator").and_then(|c| limits.text(c));
    let mut timed: Vec<(i64, Point)> = Vec::new();
    let mut offset_s = None;
    let mut seen = 0usize;
    for segment in children(track, "trkseg") {
        for trackpoint in children(segment, "trkpt") {
            seen += 1;
            let at = || format!("track point {seen}");
            if let Some((t, point)) = read_trackpoint(trackpoint, foot, &at)? {
                limits.check_points(timed.len())?;
                if timed.is_empty() {
                    offset_s = t.offset_s;
                }
                timed.push((t.unix_ms, point));
            }
        }
    }
    let Some(first) = timed.iter().map(|(t, _)| *t).min() else {
        return Err(content(format!(
            "no track point has a time ({seen} without): a route, not an activity"
        )));
    };
    // The metadata's time is the start when it is a little before the first point (Garmin
    // and this crate's writer put the start there; others the time of the export).
    let metadata_time = child(root, "metadata")
        .and_then(|m| child_text(m, "time"))
        .and_then(time::parse)
        .map(|t| t.unix_ms)
        .filter(|&t| t <= first && first - t <= 3_600_000);
    let start = metadata_time.unwrap_or(first);
    timed.sort_by_key(|(t, _)| *t);
    let points = timed
        .into_iter()
        .map(|(t, point)| Point {
            t_ms: u64::try_from(t - start).unwrap_or(0),
            ..point
        })
        .collect();
    Ok(Recording {
        sport,
        start_ms: start,
        local_offset_s: offset_s,
        name,
        device,
        totals: Totals::default(),
        points,
    })
}

/// The text of the first element named `name` among `node`'s descendants.
fn extension<'a>(node: Node<'a, '_>, names: &[&str]) -> Option<&'a str> {
    node.descendants()
        .find(|n| n.is_element() && names.contains(&n.tag_name().name()))
        .and_then(|n| n.text())
        .map(str::trim)
}

fn read_trackpoint(
    node: Node<'_, '_>,
    foot: bool,
    at: &dyn Fn() -> String,
) -> Result<Option<(time::Timestamp, Point)>, FormatError> {
    let Some(time_text) = child_text(node, "time") else {
        return Ok(None);
    };
    let t = time::parse(time_text).ok_or_else(|| {
        content(format!(
            "{}: time {:?} is not a time",
            at(),
            xml::cut(time_text)
        ))
    })?;
    let parse = |what: &str, text: &str| number(FORMAT, &|| format!("{}: {what}", at()), text);
    let mut point = Point::default();
    if let (Some(lat), Some(lon)) = (node.attribute("lat"), node.attribute("lon")) {
        let (lat, lon) = (parse("lat", lat)?, parse("lon", lon)?);
        // 0, 0 is where a writer puts a point it has no position for (GPX demands one).
        if lat.abs() <= 90.0 && lon.abs() <= 180.0 && (lat, lon) != (0.0, 0.0) {
            point.lat_deg = Some(lat);
            point.lon_deg = Some(lon);
        }
    }
    point.altitude_m = child_text(node, "ele")
        .map(|text| parse("ele", text))
        .transpose()?
        .map(f32_of);
    if let Some(extensions) = child(node, "extensions") {
        let value = |names: &[&str]| -> Result<Option<f64>, FormatError> {
            extension(extensions, names)
                .map(|text| parse(names[0], text))
                .transpose()
        };
        point.heart_rate_bpm = value(&["hr", "heartrate"])?
            .and_then(|v| whole(v, 255))
            .filter(|&b| b > 0);
        point.cadence_rpm = value(&["cad", "cadence"])?
            .filter(|c| *c >= 0.0)
            .map(|c| f32_of(if foot { c * 2.0 } else { c }));
        point.speed_mps = value(&["speed"])?.filter(|s| *s >= 0.0).map(f32_of);
        point.power_w =
            value(&["power", "PowerInWatts", "watts"])?.and_then(|w| whole(w, u16::MAX));
    }
    // GPX 1.0 has speed as a child of the point.
    if point.speed_mps.is_none() {
        point.speed_mps = child_text(node, "speed")
            .map(|text| parse("speed", text))
            .transpose()?
            .filter(|s| *s >= 0.0)
            .map(f32_of);
    }
    Ok(Some((t, point)))
}

/// Writes a recording as a GPX 1.1 track, heart rate, cadence and speed in Garmin's
/// TrackPointExtension v2 and power as `power` (as Strava writes it). Cadence is whole:
/// the extension holds no fractions of it. GPX has no place for distances or totals.
pub fn write_recording(recording: &Recording) -> Vec<u8> {
    let foot = recording.sport.family() == SportFamily::Foot;
    let mut out = String::with_capacity(300 + recording.points.len() * 300);
    let creator = recording.device.as_deref().unwrap_or("Paceline");
    let _ = write!(
        out,
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<gpx version=\"1.1\" creator=\"{}\" xmlns=\"http://www.topografix.com/GPX/1/1\"",
            " xmlns:gpxtpx=\"http://www.garmin.com/xmlschemas/TrackPointExtension/v2\">\n",
            " <metadata><time>{}</time></metadata>\n",
            " <trk>\n"
        ),
        xml::escape(creator),
        time::format_utc(recording.start_ms)
    );
    if let Some(name) = &recording.name {
        let _ = writeln!(out, "  <name>{}</name>", xml::escape(name));
    }
    let _ = writeln!(out, "  <type>{}</type>\n  <trkseg>", recording.sport.name());
    for point in &recording.points {
        let t = recording
            .start_ms
            .saturating_add(i64::try_from(point.t_ms).unwrap_or(i64::MAX));
        match (point.lat_deg, point.lon_deg) {
            (Some(lat), Some(lon)) => {
                let _ = writeln!(out, "   <trkpt lat=\"{lat}\" lon=\"{lon}\">");
            }
            // GPX requires a position; a point without one (a trainer ride) has 0, 0,
            // which the reader takes for none.
            _ => out.push_str("   <trkpt lat=\"0\" lon=\"0\">\n"),
        }
        if let Some(altitude) = point.altitude_m {
            let _ = writeln!(out, "    <ele>{altitude}</ele>");
        }
        let _ = writeln!(out, "    <time>{}</time>", time::format_utc(t));
        let cadence = point
            .cadence_rpm
            .map(|c| {
                if foot {
                    f64::from(c) / 2.0
                } else {
                    f64::from(c)
                }
            })
            .and_then(|c| whole(c, 254));
        let tpx = point.heart_rate_bpm.is_some() || cadence.is_some() || point.speed_mps.is_some();
        if tpx || point.power_w.is_some() {
            out.push_str("    <extensions>");
            if let Some(watts) = point.power_w {
                let _ = write!(out, "<power>{watts}</power>");
            }
            if tpx {
                out.push_str("<gpxtpx:TrackPointExtension>");
                if let Some(bpm) = point.heart_rate_bpm {
                    let _ = write!(out, "<gpxtpx:hr>{bpm}</gpxtpx:hr>");
                }
                if let Some(cadence) = cadence {
                    let _ = write!(out, "<gpxtpx:cad>{cadence}</gpxtpx:cad>");
                }
                if let Some(speed) = point.speed_mps {
                    let _ = write!(out, "<gpxtpx:speed>{speed}</gpxtpx:speed>");
                }
                out.push_str("</gpxtpx:TrackPointExtension>");
            }
            out.push_str("</extensions>\n");
        }
        out.push_str("   </trkpt>\n");
    }
    out.push_str("  </trkseg>\n </trk>\n</gpx>\n");
    out.into_bytes()
}

//! Garmin's Training Center XML (TCX v2) read into a [`Recording`], and written from one.
//!
//! Reads the first `Activity` of `Activities`: its `Sport` attribute (`Biking`, `Running`,
//! `Other`), `Id` (the start; its written offset, when not `Z`, is the local offset),
//! `Creator/Name` (the device), and each `Lap`'s totals (`TotalTimeSeconds`,
//! `DistanceMeters`, `Calories`, summed) and `Track/Trackpoint`s: `Time`, `Position`,
//! `AltitudeMeters`, `DistanceMeters`, `HeartRateBpm/Value`, `Cadence`, and Garmin's
//! `TPX` extension (`Speed`, `Watts`, `RunCadence`) under any namespace prefix. A
//! trackpoint without a time is skipped; the start is the earlier of `Id` and the first
//! trackpoint. On foot, `RunCadence` (one leg, as FIT counts) is doubled to steps per
//! minute.
//!
//! Bounds: input at most [`Limits::max_bytes`], [`Limits::max_xml_nodes`] XML nodes,
//! [`Limits::max_points`] points; the XML may not declare a DTD, so no entity is expanded.

use std::fmt::Write as _;

use roxmltree::Node;

use crate::xml::{self, child, child_text, children, number};
use crate::{FormatError, Limits, Point, Recording, Sport, SportFamily, Totals, time};

const FORMAT: &str = "TCX";

fn content(reason: String) -> FormatError {
    FormatError::Content {
        format: FORMAT,
        reason,
    }
}

/// Reads a TCX activity.
pub fn read_recording(bytes: &[u8], limits: &Limits) -> Result<Recording, FormatError> {
    let document = xml::parse(FORMAT, bytes, limits)?;
    let root = document.root_element();
    if root.tag_name().name() != "TrainingCenterDatabase" {
        return Err(content(format!(
            "the root element is <{}>, not <TrainingCenterDatabase>",
            xml::cut(root.tag_name().name())
        )));
    }
    let activity = child(root, "Activities")
        .and_then(|a| child(a, "Activity"))
        .ok_or_else(|| content("no Activities/Activity element".to_owned()))?;
    let sport = activity
        .attribute("Sport")
        .map_or(Sport::Other, Sport::from_name);
    let id =
        match child_text(activity, "Id") {
            Some(text) => Some(time::parse(text).ok_or_else(|| {
                content(format!("Activity/Id {:?} is not a time", xml::cut(text)))
            })?),
            None => None,
        };
    let device = child(activity, "Creator")
        .and_then(|c| child_text(c, "Name"))
        .and_then(|name| limits.text(name));
    let foot = sport.family() == SportFamily::Foot;
    let mut totals = Totals::default();
    let mut timed: Vec<(i64, Point)> = Vec::new();
    for (lap_index, lap) in children(activity, "Lap").enumerate() {
        let lap_number = lap_index + 1;
        let lap_value = |name: &str| -> Result<Option<f64>, FormatError> {
            child_text(lap, name)
                .map(|text| number(FORMAT, &|| format!("Lap {lap_number} {name}"), text))
                .transpose()
        };
        add(&mut totals.elapsed_s, lap_value("TotalTimeSeconds")?);
        add(&mut totals.distance_m, lap_value("DistanceMeters")?);
        add(&mut totals.energy_kcal, lap_value("Calories")?);
        for track in children(lap, "Track") {
            for trackpoint in children(track, "Trackpoint") {
                let at = || format!("Lap {lap_number}, trackpoint {}", timed.len() + 1);
                if let Some(point) = read_trackpoint(trackpoint, foot, &at)? {
                    limits.check_points(timed.len())?;
                    timed.push(point);
                }
            }
        }
    }
    let first = timed.iter().map(|(t, _)| *t).min();
    let start = match (id.map(|t| t.unix_ms), first) {
        (Some(id), Some(first)) => id.min(first),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            return Err(content(
                "neither an Activity/Id nor a timed trackpoint".to_owned(),
            ));
        }
    };
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
        local_offset_s: id.and_then(|t| t.offset_s),
        name: None,
        device,
        totals,
        points,
    })
}

fn add(total: &mut Option<f64>, value: Option<f64>) {
    if let Some(v) = value {
        *total = Some(total.unwrap_or(0.0) + v);
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "sensor values (speed, cadence, altitude) fit f32's precision"
)]
pub(crate) fn f32_of(v: f64) -> f32 {
    v as f32
}

/// A whole number in `0..=max` from a float, rounded; `None` outside.
pub(crate) fn whole(v: f64, max: u16) -> Option<u16> {
    let r = v.round();
    (0.0..=f64::from(max)).contains(&r).then(|| {
        #[allow(clippy::cast_possible_truncation, reason = "checked to be within u16")]
        let n = r as u16;
        n
    })
}

/// One trackpoint as (Unix ms, point without its offset), or `None` without a time.
fn read_trackpoint(
    node: Node<'_, '_>,
    foot: bool,
    at: &dyn Fn() -> String,
) -> Result<Option<(i64, Point)>, FormatError> {
    let Some(time_text) = child_text(node, "Time") else {
        return Ok(None);
    };
    let t = time::parse(time_text).ok_or_else(|| {
        content(format!(
            "{}: Time {:?} is not a time",
            at(),
            xml::cut(time_text)
        ))
    })?;
    let value = |node: Node<'_, '_>, name: &str| -> Result<Option<f64>, FormatError> {
        child_text(node, name)
            .map(|text| number(FORMAT, &|| format!("{}: {name}", at()), text))
            .transpose()
    };
    let mut point = Point::default();
    if let Some(position) = child(node, "Position") {
        let lat = value(position, "LatitudeDegrees")?;
        let lon = value(position, "LongitudeDegrees")?;
        if let (Some(lat), Some(lon)) = (lat, lon)
            && lat.abs() <= 90.0
            && lon.abs() <= 180.0
        {
            point.lat_deg = Some(lat);
            point.lon_deg = Some(lon);
        }
    }
    point.altitude_m = value(node, "AltitudeMeters")?.map(f32_of);
    point.distance_m = value(node, "DistanceMeters")?.filter(|d| *d >= 0.0);
    if let Some(hr) = child(node, "HeartRateBpm") {
        point.heart_rate_bpm = child_text(hr, "Value")
            .map(|text| number(FORMAT, &|| format!("{}: HeartRateBpm/Value", at()), text))
            .transpose()?
            .and_then(|v| whole(v, 255))
            .filter(|&b| b > 0);
    }
    point.cadence_rpm = value(node, "Cadence")?.filter(|c| *c >= 0.0).map(f32_of);
    if let Some(extensions) = child(node, "Extensions") {
        for tpx in children(extensions, "TPX") {
            if let Some(speed) = value(tpx, "Speed")?.filter(|s| *s >= 0.0) {
                point.speed_mps = Some(f32_of(speed));
            }
            if let Some(watts) = value(tpx, "Watts")? {
                point.power_w = whole(watts, u16::MAX);
            }
            if let Some(cadence) = value(tpx, "RunCadence")?.filter(|c| *c >= 0.0) {
                point.cadence_rpm = Some(f32_of(cadence));
            }
        }
    }
    if foot {
        point.cadence_rpm = point.cadence_rpm.map(|c| c * 2.0);
    }
    Ok(Some((t.unix_ms, point)))
}

/// The TCX sport attribute of a [`Sport`]: TCX knows only these three.
fn tcx_sport(sport: Sport) -> &'static str {
    match sport.family() {
        SportFamily::Cycling => "Biking",
        SportFamily::Foot => "Running",
        _ => "Other",
    }
}

/// Writes a recording as a TCX activity with one lap: the totals as the lap's, each point
/// a trackpoint (speed and power in the `TPX` extension). Cadence is whole: TCX holds no
/// fractions of it.
pub fn write_recording(recording: &Recording) -> Vec<u8> {
    let foot = recording.sport.family() == SportFamily::Foot;
    let start = time::format_utc(recording.start_ms);
    let mut out = String::with_capacity(200 + recording.points.len() * 400);
    out.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<TrainingCenterDatabase xmlns=\"http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2\"",
        " xmlns:ns3=\"http://www.garmin.com/xmlschemas/ActivityExtension/v2\">\n",
        " <Activities>\n"
    ));
    let _ = writeln!(out, "  <Activity Sport=\"{}\">", tcx_sport(recording.sport));
    let _ = writeln!(out, "   <Id>{start}</Id>");
    let _ = writeln!(out, "   <Lap StartTime=\"{start}\">");
    let totals = &recording.totals;
    let elapsed = totals
        .elapsed_s
        .unwrap_or_else(|| recording.points.last().map_or(0.0, |p| tcx_seconds(p.t_ms)));
    let _ = writeln!(out, "    <TotalTimeSeconds>{elapsed}</TotalTimeSeconds>");
    if let Some(distance) = totals.distance_m {
        let _ = writeln!(out, "    <DistanceMeters>{distance}</DistanceMeters>");
    }
    let calories = totals
        .energy_kcal
        .and_then(|k| whole(k, u16::MAX))
        .unwrap_or(0);
    let _ = writeln!(out, "    <Calories>{calories}</Calories>");
    out.push_str("    <Intensity>Active</Intensity>\n    <TriggerMethod>Manual</TriggerMethod>\n    <Track>\n");
    for point in &recording.points {
        write_trackpoint(&mut out, recording.start_ms, point, foot);
    }
    out.push_str("    </Track>\n   </Lap>\n");
    if let Some(device) = &recording.device {
        let _ = writeln!(
            out,
            "   <Creator xsi:type=\"Device_t\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n    <Name>{}</Name>\n    <UnitId>0</UnitId>\n    <ProductID>0</ProductID>\n    <Version><VersionMajor>0</VersionMajor><VersionMinor>0</VersionMinor></Version>\n   </Creator>",
            xml::escape(device)
        );
    }
    out.push_str("  </Activity>\n </Activities>\n</TrainingCenterDatabase>\n");
    out.into_bytes()
}

#[allow(
    clippy::cast_precision_loss,
    reason = "ms of an activity are far below 2^53"
)]
fn tcx_seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn write_trackpoint(out: &mut String, start_ms: i64, point: &Point, foot: bool) {
    let t = start_ms.saturating_add(i64::try_from(point.t_ms).unwrap_or(i64::MAX));
    let _ = write!(
        out,
        "     <Trackpoint>\n      <Time>{}</Time>\n",
        time::format_utc(t)
    );
    if let (Some(lat), Some(lon)) = (point.lat_deg, point.lon_deg) {
        let _ = writeln!(
            out,
            "      <Position><LatitudeDegrees>{lat}</LatitudeDegrees><LongitudeDegrees>{lon}</LongitudeDegrees></Position>"
        );
    }
    if let Some(altitude) = point.altitude_m {
        let _ = writeln!(out, "      <AltitudeMeters>{altitude}</AltitudeMeters>");
    }
    if let Some(distance) = point.distance_m {
        let _ = writeln!(out, "      <DistanceMeters>{distance}</DistanceMeters>");
    }
    if let Some(bpm) = point.heart_rate_bpm.filter(|&b| b > 0 && b < 256) {
        let _ = writeln!(
            out,
            "      <HeartRateBpm><Value>{bpm}</Value></HeartRateBpm>"
        );
    }
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
    if let (Some(cadence), false) = (cadence, foot) {
        let _ = writeln!(out, "      <Cadence>{cadence}</Cadence>");
    }
    let foot_cadence = cadence.filter(|_| foot);
    if point.speed_mps.is_some() || point.power_w.is_some() || foot_cadence.is_some() {
        out.push_str("      <Extensions><ns3:TPX>");
        if let Some(speed) = point.speed_mps {
            let _ = write!(out, "<ns3:Speed>{speed}</ns3:Speed>");
        }
        if let Some(cadence) = foot_cadence {
            let _ = write!(out, "<ns3:RunCadence>{cadence}</ns3:RunCadence>");
        }
        if let Some(watts) = point.power_w {
            let _ = write!(out, "<ns3:Watts>{watts}</ns3:Watts>");
        }
        out.push_str("</ns3:TPX></Extensions>\n");
    }
    out.push_str("     </Trackpoint>\n");
}

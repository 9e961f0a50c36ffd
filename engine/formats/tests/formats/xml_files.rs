//! TCX and GPX as other tools write them: hand-written documents with each extension and
//! quirk the readers accept, read to a table of their points.

use expect_test::{Expect, expect};
use paceline_formats::{Limits, Recording, gpx, tcx};

fn table(recording: &Recording) -> String {
    let mut out = format!(
        "{:?} start {} offset {:?} name {:?} device {:?} totals {:?}\n",
        recording.sport,
        paceline_formats::time::format_utc(recording.start_ms),
        recording.local_offset_s,
        recording.name,
        recording.device,
        recording.totals
    );
    for p in &recording.points {
        out.push_str(&format!(
            "{} ms: hr {:?} power {:?} cadence {:?} speed {:?} distance {:?} position {:?} altitude {:?}\n",
            p.t_ms,
            p.heart_rate_bpm,
            p.power_w,
            p.cadence_rpm,
            p.speed_mps,
            p.distance_m,
            p.lat_deg.zip(p.lon_deg),
            p.altitude_m
        ));
    }
    out
}

fn check_tcx(document: &str, expected: Expect) {
    let read = tcx::read_recording(document.as_bytes(), &Limits::default());
    expected.assert_eq(&read.map_or_else(|e| format!("error: {e}\n"), |r| table(&r)));
}

fn check_gpx(document: &str, expected: Expect) {
    let read = gpx::read_recording(document.as_bytes(), &Limits::default());
    expected.assert_eq(&read.map_or_else(|e| format!("error: {e}\n"), |r| table(&r)));
}

#[test]
fn tcx_with_tpx_and_laps() {
    check_tcx(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2" xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">
 <Activities>
  <Activity Sport="Biking">
   <Id>2024-03-01T07:12:30+01:00</Id>
   <Lap StartTime="2024-03-01T06:12:30Z">
    <TotalTimeSeconds>60</TotalTimeSeconds><DistanceMeters>500.5</DistanceMeters><Calories>12</Calories>
    <Track>
     <Trackpoint>
      <Time>2024-03-01T06:12:31Z</Time>
      <Position><LatitudeDegrees>47.5</LatitudeDegrees><LongitudeDegrees>8.25</LongitudeDegrees></Position>
      <AltitudeMeters>410.2</AltitudeMeters><DistanceMeters>4.5</DistanceMeters>
      <HeartRateBpm><Value>120</Value></HeartRateBpm><Cadence>88</Cadence>
      <Extensions><ns3:TPX><ns3:Speed>4.5</ns3:Speed><ns3:Watts>201</ns3:Watts></ns3:TPX></Extensions>
     </Trackpoint>
     <Trackpoint><HeartRateBpm><Value>121</Value></HeartRateBpm></Trackpoint>
    </Track>
   </Lap>
   <Lap StartTime="2024-03-01T06:13:30Z">
    <TotalTimeSeconds>30.5</TotalTimeSeconds><Calories>5</Calories>
    <Track>
     <Trackpoint>
      <Time>2024-03-01T06:13:31.250Z</Time>
      <Extensions><TPX xmlns="http://www.garmin.com/xmlschemas/ActivityExtension/v2"><Watts>0</Watts></TPX></Extensions>
     </Trackpoint>
    </Track>
   </Lap>
   <Creator><Name>Edge 530</Name></Creator>
  </Activity>
 </Activities>
</TrainingCenterDatabase>"#,
        expect![[r#"
            Cycling start 2024-03-01T06:12:30Z offset Some(3600) name None device Some("Edge 530") totals Totals { elapsed_s: Some(90.5), moving_s: None, distance_m: Some(500.5), energy_kcal: Some(17.0), ascent_m: None }
            1000 ms: hr Some(120) power Some(201) cadence Some(88.0) speed Some(4.5) distance Some(4.5) position Some((47.5, 8.25)) altitude Some(410.2)
            61250 ms: hr None power Some(0) cadence None speed None distance None position None altitude None
        "#]],
    );
}

#[test]
fn tcx_mistakes_are_named() {
    check_tcx(
        "<TrainingCenterDatabase><Activities><Activity Sport=\"Running\"><Id>yesterday</Id></Activity></Activities></TrainingCenterDatabase>",
        expect![[r#"
            error: TCX: Activity/Id "yesterday" is not a time
        "#]],
    );
    check_tcx(
        "<TrainingCenterDatabase><Activities><Activity Sport=\"Running\"><Id>2024-03-01T06:12:30Z</Id><Lap><Track><Trackpoint><Time>2024-03-01T06:12:31Z</Time><HeartRateBpm><Value>fast</Value></HeartRateBpm></Trackpoint></Track></Lap></Activity></Activities></TrainingCenterDatabase>",
        expect![[r#"
            error: TCX: Lap 1, trackpoint 1: HeartRateBpm/Value: "fast" is not a number
        "#]],
    );
    check_tcx(
        "<gpx/>",
        expect![[r#"
        error: TCX: the root element is <gpx>, not <TrainingCenterDatabase>
    "#]],
    );
}

#[test]
fn gpx_with_garmin_and_strava_extensions() {
    check_gpx(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="StravaGPX" xmlns="http://www.topografix.com/GPX/1/1" xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1" xmlns:pwr="http://www.garmin.com/xmlschemas/PowerExtension/v1">
 <metadata><time>2024-03-01T07:12:30Z</time></metadata>
 <trk>
  <name>Evening Run</name>
  <type>running</type>
  <trkseg>
   <trkpt lat="47.3769" lon="8.5417"><ele>408.2</ele><time>2024-03-01T07:12:31Z</time>
    <extensions><power>210</power><gpxtpx:TrackPointExtension><gpxtpx:hr>131</gpxtpx:hr><gpxtpx:cad>88</gpxtpx:cad></gpxtpx:TrackPointExtension></extensions>
   </trkpt>
   <trkpt lat="47.3770" lon="8.5419"><time>2024-03-01T08:12:32+01:00</time>
    <extensions><pwr:PowerInWatts>215</pwr:PowerInWatts><gpxtpx:TrackPointExtension><gpxtpx:speed>3.1</gpxtpx:speed></gpxtpx:TrackPointExtension></extensions>
   </trkpt>
  </trkseg>
  <trkseg><trkpt lat="0" lon="0"><time>2024-03-01T07:12:40Z</time></trkpt><trkpt lat="1" lon="1"/></trkseg>
 </trk>
</gpx>"#,
        expect![[r#"
            Running start 2024-03-01T07:12:30Z offset None name Some("Evening Run") device Some("StravaGPX") totals Totals { elapsed_s: None, moving_s: None, distance_m: None, energy_kcal: None, ascent_m: None }
            1000 ms: hr Some(131) power Some(210) cadence Some(176.0) speed None distance None position Some((47.3769, 8.5417)) altitude Some(408.2)
            2000 ms: hr None power Some(215) cadence None speed Some(3.1) distance None position Some((47.377, 8.5419)) altitude None
            10000 ms: hr None power None cadence None speed None distance None position None altitude None
        "#]],
    );
}

#[test]
fn gpx_1_0_and_routes() {
    check_gpx(
        r#"<gpx version="1.0" creator="old"><trk><trkseg><trkpt lat="1.5" lon="2.5"><time>2010-05-01T10:00:00+02:00</time><speed>5.5</speed></trkpt></trkseg></trk></gpx>"#,
        expect![[r#"
            Other start 2010-05-01T08:00:00Z offset Some(7200) name None device Some("old") totals Totals { elapsed_s: None, moving_s: None, distance_m: None, energy_kcal: None, ascent_m: None }
            0 ms: hr None power None cadence None speed Some(5.5) distance None position Some((1.5, 2.5)) altitude None
        "#]],
    );
    check_gpx(
        r#"<gpx><trk><trkseg><trkpt lat="1" lon="2"/><trkpt lat="1" lon="3"/></trkseg></trk></gpx>"#,
        expect![[r#"
            error: GPX: no track point has a time (2 without): a route, not an activity
        "#]],
    );
    check_gpx(
        r#"<gpx><trk><trkseg><trkpt lat="north" lon="2"><time>2010-05-01T10:00:00Z</time></trkpt></trkseg></trk></gpx>"#,
        expect![[r#"
            error: GPX: track point 1: lat: "north" is not a number
        "#]],
    );
}

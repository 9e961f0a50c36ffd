//! `read_file` on uploads: detection, gzip, zip exports with their activities.csv, and
//! hostile inputs (entity expansion, zip and gzip bombs, climbing entry names, too many
//! entries), each refused with an error that says what, while good entries still read.

use std::io::Write as _;

use paceline_formats::{FileEntry, Format, FormatError, Limits, fit, gpx, read_file, tcx};

use crate::shared;

fn edge_ride() -> Vec<u8> {
    std::fs::read(shared("fit/garmin-fenix-5-bike.fit")).expect("readable")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A zip of (name, content) entries, deflated.
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        writer.start_file(*name, options).expect("entry");
        writer.write_all(content).expect("write");
    }
    writer.finish().expect("zip").into_inner()
}

/// One line per entry: name, format, external id, and sport/points or the error.
fn summary(entries: &[FileEntry]) -> String {
    entries
        .iter()
        .map(|e| {
            let outcome = match &e.result {
                Ok(r) => format!(
                    "{:?} {:?}, {} points",
                    r.sport,
                    r.name.as_deref().unwrap_or("-"),
                    r.points.len()
                ),
                Err(error) => format!("error: {error}"),
            };
            format!(
                "{} [{:?}] id {:?}: {outcome}\n",
                e.name,
                e.format,
                e.external_id.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn a_gzipped_file_reads_and_hashes_as_its_content() {
    let ride = edge_ride();
    let plain = read_file("ride.fit", &ride, &Limits::default()).expect("opens");
    let gzipped = read_file("ride.fit.gz", &gzip(&ride), &Limits::default()).expect("opens");
    assert_eq!(plain.len(), 1);
    assert_eq!(gzipped.len(), 1);
    assert_eq!(gzipped[0].format, Some(Format::Fit));
    assert_eq!(
        gzipped[0].sha256, plain[0].sha256,
        "the same content, the same hash"
    );
    assert_eq!(gzipped[0].result, plain[0].result);
    assert_eq!(gzipped[0].result.as_ref().map(|r| r.points.len()), Ok(19));
    // Named wrongly: the magic bytes decide.
    let misnamed = read_file("ride.gpx", &ride, &Limits::default()).expect("opens");
    assert_eq!(misnamed[0].format, Some(Format::Fit));
    assert!(misnamed[0].result.is_ok());
}

#[test]
fn a_strava_export_reads_each_activity_with_its_index_row() {
    let ride = fit::read_recording(&edge_ride()).expect("reads");
    let tcx = tcx::write_recording(&ride);
    let gpx = gpx::write_recording(&ride);
    let index = "Activity ID,Activity Date,Activity Name,Activity Type,Activity Description,Elapsed Time,Distance,Filename\n\
        111,\"Jun 12, 2017, 4:09:22 PM\",Lunch ride,Ride,,60,0.46,activities/111.fit.gz\n\
        222,\"Jun 12, 2017, 4:09:22 PM\",Trainer,VirtualRide,,60,0.46,activities/222.tcx\n\
        333,\"Jun 12, 2017, 4:09:22 PM\",Gone,Run,,60,0.46,activities/333.gpx\n";
    let archive = zip(&[
        ("activities.csv", index.as_bytes()),
        ("activities/111.fit.gz", &gzip(&edge_ride())),
        ("activities/222.tcx", &tcx),
        ("activities/444.gpx", &gpx),
        (
            "activities/555.tcx",
            b"<TrainingCenterDatabase><Activities>",
        ),
        ("media/photo.jpg", b"\xFF\xD8\xFF"),
        ("profile.csv", b"Email,Name\nme@example.com,Me\n"),
        ("bikes.csv", b"Bike Name\nRoad\n"),
    ]);
    let entries = read_file("export_1.zip", &archive, &Limits::default()).expect("opens");
    expect_test::expect![[r#"
        export_1.zip/activities/111.fit.gz [Some(Fit)] id "111": Cycling "Lunch ride", 19 points
        export_1.zip/activities/222.tcx [Some(Tcx)] id "222": IndoorCycling "Trainer", 19 points
        export_1.zip/activities/444.gpx [Some(Gpx)] id "-": Cycling "-", 19 points
        export_1.zip/activities/555.tcx [Some(Tcx)] id "-": error: TCX: XML unreadable: the root node was opened but never closed
    "#]].assert_eq(&summary(&entries));
}

#[test]
fn a_billion_laughs_is_refused_before_any_entity_is_expanded() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<TrainingCenterDatabase><Activities><Activity Sport="Biking"><Id>&lol9;</Id></Activity></Activities></TrainingCenterDatabase>"#;
    let limits = Limits::default();
    for (name, bytes) in [
        ("laughs.tcx", laughs.to_owned()),
        (
            "laughs.gpx",
            laughs.replace("TrainingCenterDatabase", "gpx"),
        ),
    ] {
        let entries = read_file(name, bytes.as_bytes(), &limits).expect("opens");
        match &entries[0].result {
            Err(FormatError::Xml { reason, .. }) => {
                assert!(reason.contains("DTD"), "{name}: {reason}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // An external entity: refused the same way (no DTD at all), nothing is fetched.
    let external = r#"<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY x SYSTEM "file:///etc/passwd">]><gpx><trk><name>&x;</name></trk></gpx>"#;
    let entries = read_file("x.gpx", external.as_bytes(), &limits).expect("opens");
    assert!(
        matches!(&entries[0].result, Err(FormatError::Xml { reason, .. }) if reason.contains("DTD")),
        "{:?}",
        entries[0].result
    );
}

#[test]
fn a_gzip_bomb_stops_at_the_ratio_cap() {
    let zeros = vec![b' '; 4 * 1024 * 1024];
    let bomb = gzip(&zeros);
    assert!(
        bomb.len() * 200 < zeros.len(),
        "it is a bomb: {} bytes",
        bomb.len()
    );
    let entries = read_file("bomb.tcx.gz", &bomb, &Limits::default()).expect("opens");
    assert_eq!(
        entries[0].result,
        Err(FormatError::Ratio {
            what: "the gzip data".to_owned(),
            limit: 200
        })
    );
    // And the size cap, whatever the ratio.
    let limits = Limits {
        max_bytes: 64 * 1024,
        max_ratio: 1_000_000,
        ..Limits::default()
    };
    let entries = read_file("bomb.tcx.gz", &bomb, &limits).expect("opens");
    assert!(
        matches!(
            entries[0].result,
            Err(FormatError::TooLarge { limit: 65_536, .. })
        ),
        "{:?}",
        entries[0].result
    );
}

#[test]
fn a_zip_bomb_entry_fails_alone() {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let ride = edge_ride();
    let archive = zip(&[("a/bomb.fit", &zeros), ("a/ride.fit", &ride)]);
    let entries = read_file("bomb.zip", &archive, &Limits::default()).expect("opens");
    assert_eq!(entries.len(), 2, "{}", summary(&entries));
    assert_eq!(
        entries[0].result,
        Err(FormatError::Ratio {
            what: "the zip entry".to_owned(),
            limit: 200
        })
    );
    assert_eq!(entries[1].result.as_ref().map(|r| r.points.len()), Ok(19));
    // The archive's total allowance is shared by its entries.
    let limits = Limits {
        max_archive_bytes: 6000,
        ..Limits::default()
    };
    let archive = zip(&[("1.fit", &ride), ("2.fit", &ride)]);
    let entries = read_file("two.zip", &archive, &limits).expect("opens");
    assert!(entries[0].result.is_ok(), "{:?}", entries[0].result);
    assert!(
        matches!(
            entries[1].result,
            Err(FormatError::TooLarge { limit: 6000, .. })
        ),
        "{:?}",
        entries[1].result
    );
}

#[test]
fn zip_entry_names_never_climb_out() {
    let ride = edge_ride();
    let archive = zip(&[
        ("../../etc/ride.fit", &ride),
        ("/abs/ride.fit", &ride),
        ("C:/win/ride.fit", &ride),
        ("ok/ride.fit", &ride),
    ]);
    let entries = read_file("climb.zip", &archive, &Limits::default()).expect("opens");
    let outcomes: Vec<(String, bool)> = entries
        .iter()
        .map(|e| (e.name.clone(), e.result.is_ok()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("climb.zip/../../etc/ride.fit".to_owned(), false),
            ("climb.zip//abs/ride.fit".to_owned(), false),
            ("climb.zip/C:/win/ride.fit".to_owned(), false),
            ("climb.zip/ok/ride.fit".to_owned(), true),
        ]
    );
    assert!(
        matches!(&entries[0].result, Err(FormatError::Zip { reason }) if reason.contains("climbs out"))
    );
}

#[test]
fn too_many_entries_refuse_the_archive() {
    let names: Vec<String> = (0..30).map(|i| format!("{i}.fit")).collect();
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), b"x".as_slice()))
        .collect();
    let archive = zip(&entries);
    let limits = Limits {
        max_entries: 20,
        ..Limits::default()
    };
    assert_eq!(
        read_file("many.zip", &archive, &limits),
        Err(FormatError::TooLarge {
            what: "the number of archive entries",
            limit: 20
        })
    );
    let read = read_file("many.zip", &archive, &Limits::default()).expect("opens");
    assert_eq!(read.len(), 30, "each entry fails alone");
    assert!(read.iter().all(|e| e.result.is_err()));
}

#[test]
fn an_archive_claiming_more_entries_than_allowed_is_refused_before_its_directory_is_read() {
    let ride = edge_ride();
    let mut archive = zip(&[("1.fit", &ride), ("2.fit", &ride)]);
    // The end of central directory record closes the file (no comment): its entry counts
    // sit at 8 and 10.
    let eocd = archive.len() - 22;
    assert_eq!(&archive[eocd..eocd + 4], b"PK\x05\x06");
    for at in [eocd + 8, eocd + 10] {
        archive[at..at + 2].copy_from_slice(&60_000u16.to_le_bytes());
    }
    assert_eq!(
        read_file("claims.zip", &archive, &Limits::default()),
        Err(FormatError::TooLarge {
            what: "the number of archive entries",
            limit: 20_000
        })
    );
}

#[test]
fn a_zip_inside_a_zip_is_read_one_level_down_only() {
    let ride = edge_ride();
    let inner = zip(&[("ride.fit", &ride)]);
    let innermost = zip(&[("deep.zip", &inner)]);
    let outer = zip(&[("part1.zip", &inner), ("part2.zip", &innermost)]);
    let entries = read_file("garmin.zip", &outer, &Limits::default()).expect("opens");
    expect_test::expect![[r#"
        garmin.zip/part1.zip/ride.fit [Some(Fit)] id "-": Cycling "-", 19 points
        garmin.zip/part2.zip/deep.zip [None] id "-": error: an archive inside an archive is not read
    "#]]
    .assert_eq(&summary(&entries));
}

#[test]
fn garbage_and_unknown_files_are_errors_never_panics() {
    let limits = Limits::default();
    for (name, bytes) in [
        ("empty.fit", &b""[..]),
        ("x.zip", b"PK\x03\x04garbage"),
        ("x.gz", b"\x1f\x8b\x08garbage"),
        ("notes.txt", b"hello"),
        ("x.tcx", b"<TrainingCenterDatabase>"),
        (
            "x.gpx",
            b"<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"2\"/></trkseg></trk></gpx>",
        ),
        ("x.csv", b"time_s,heart_rate\n1,abc\n"),
    ] {
        match read_file(name, bytes, &limits) {
            Ok(entries) => {
                assert_eq!(entries.len(), 1, "{name}");
                assert!(
                    entries[0].result.is_err(),
                    "{name}: {:?}",
                    entries[0].result
                );
            }
            Err(e) => assert!(name.ends_with(".zip"), "{name}: {e}"),
        }
    }
    assert_eq!(
        read_file("notes.txt", b"hello", &limits).expect("opens")[0].result,
        Err(FormatError::UnknownFormat)
    );
}

#[test]
fn xml_past_the_node_limit_is_refused() {
    let ride = fit::read_recording(&edge_ride()).expect("reads");
    let read = |format: Format, bytes: &[u8], limits: &Limits| match format {
        Format::Tcx => tcx::read_recording(bytes, limits),
        _ => gpx::read_recording(bytes, limits),
    };
    let few_nodes = Limits {
        max_xml_nodes: 200,
        ..Limits::default()
    };
    for (format, bytes) in [
        (Format::Tcx, tcx::write_recording(&ride)),
        (Format::Gpx, gpx::write_recording(&ride)),
    ] {
        match read(format, &bytes, &few_nodes) {
            Err(FormatError::Xml { reason, .. }) => {
                assert!(reason.contains("nodes limit"), "{format:?}: {reason}");
            }
            other => panic!("{format:?}: {other:?}"),
        }
        let whole = read(format, &bytes, &Limits::default()).expect("reads within the defaults");
        assert_eq!(whole.points.len(), 19, "{format:?}");
        let few_points = Limits {
            max_points: 5,
            ..Limits::default()
        };
        assert_eq!(
            read(format, &bytes, &few_points),
            Err(FormatError::TooLarge {
                what: "the number of points",
                limit: 5
            }),
            "{format:?}"
        );
    }
    let small = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        read_file("ride.gpx", &gpx::write_recording(&ride), &small),
        Err(FormatError::TooLarge { limit: 100, .. })
    ));
}

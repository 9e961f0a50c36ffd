//! Import throughput (read + summarise, no database) against Python's fitdecode decoding
//! the same files.
//!
//! Paceline's side is what an import does before it touches the database:
//! `paceline_formats::read_file` (format detection, the decode, the SHA-256 of the content,
//! a zip's walk) and `SourceCopy::from_recording` (summary and load) for every activity in
//! it, from bytes in memory. Beside it, the same plus the samples FIT an import stores with
//! each copy (`paceline_gateway::jobs::library::samples_fit`). fitdecode's side decodes the same
//! bytes (`FitReader` over every frame), timed inside Python; for the zip, Python's
//! `zipfile` opens the archive and fitdecode decodes every entry. Both sides run in the same
//! run, several times each; the medians give the ratio.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use paceline_activities::{FileFormat, LoadThresholds, SourceCopy, SourceKind};
use paceline_formats::{Format, Limits, read_file};
use paceline_schemas::profile::Sex;

use crate::stats::Spread;

/// Entries in the bench's archive.
pub const ZIP_ENTRIES: usize = 1000;

/// One input's figures (a file, or the archive).
#[derive(Debug, Clone)]
pub struct ImportFigures {
    /// File name (the archive's: `1000-files.zip`).
    pub name: String,
    /// Bytes as given (the archive compressed).
    pub bytes: usize,
    /// Bytes of activity files in it (the archive's entries decompressed).
    pub content_bytes: usize,
    /// Activity files in it.
    pub files: usize,
    /// Points read from it.
    pub points: usize,
    /// Paceline: read + summarise, seconds per pass over the input.
    pub paceline_s: Spread,
    /// Paceline: read + summarise + the samples FIT written, seconds per pass.
    pub with_fit_s: Spread,
    /// fitdecode: decode (and for the archive, unzip), seconds per pass.
    pub fitdecode_s: Spread,
    /// fitdecode frames decoded per pass.
    pub fitdecode_frames: u64,
}

impl ImportFigures {
    /// Content MB (10^6 bytes) per second, Paceline read + summarise (median).
    pub fn mb_per_s(&self) -> f64 {
        self.content_bytes as f64 / self.paceline_s.median / 1e6
    }

    /// Files per second, Paceline read + summarise (median).
    pub fn files_per_s(&self) -> f64 {
        self.files as f64 / self.paceline_s.median
    }

    /// Content MB per second, fitdecode (median).
    pub fn fitdecode_mb_per_s(&self) -> f64 {
        self.content_bytes as f64 / self.fitdecode_s.median / 1e6
    }

    /// Files per second, fitdecode (median).
    pub fn fitdecode_files_per_s(&self) -> f64 {
        self.files as f64 / self.fitdecode_s.median
    }

    /// How many times faster Paceline's read + summarise is than fitdecode (medians).
    pub fn ratio(&self) -> f64 {
        self.fitdecode_s.median / self.paceline_s.median
    }

    /// The same with the samples FIT written too.
    pub fn ratio_with_fit(&self) -> f64 {
        self.fitdecode_s.median / self.with_fit_s.median
    }
}

/// The activity FIT files of `shared/data/fit` (its README): not the workout and settings
/// files, not the damaged ones.
pub const ACTIVITY_FILES: [&str; 9] = [
    "garmin-edge-500-activity.fit",
    "Edge810-Vector-2013-08-16-15-35-10.fit",
    "developer-types-sample.fit",
    "activity-small-fenix2-run.fit",
    "sample-activity-indoor-trainer.fit",
    "compressed-speed-distance.fit",
    "garmin-fenix-5-run.fit",
    "garmin-fenix-5-bike.fit",
    "Activity.fit",
];

/// The thresholds a bench athlete's load is worked out with.
fn thresholds() -> LoadThresholds {
    LoadThresholds {
        ftp_w: Some(250),
        threshold_hr_bpm: Some(168),
        resting_hr_bpm: Some(50),
        max_hr_bpm: Some(190),
        sex: Some(Sex::Male),
    }
}

/// What an import does with `bytes` before the database: every activity read and
/// summarised (and with `write_fit`, its samples FIT written). Returns (files, points).
fn import_pass(
    name: &str,
    bytes: &[u8],
    thresholds: &LoadThresholds,
    write_fit: bool,
) -> anyhow::Result<(usize, usize)> {
    let entries =
        read_file(name, bytes, &Limits::default()).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let mut files = 0;
    let mut points = 0;
    for entry in &entries {
        let recording = entry
            .result
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{}: {e}", entry.name))?;
        let format = entry.format.map(|f| match f {
            Format::Fit => FileFormat::Fit,
            Format::Tcx => FileFormat::Tcx,
            Format::Gpx => FileFormat::Gpx,
            Format::Csv => FileFormat::Csv,
        });
        let copy = SourceCopy::from_recording(
            SourceKind::File,
            format,
            entry.external_id.clone(),
            Some(entry.sha256),
            recording,
            thresholds,
        );
        std::hint::black_box(&copy);
        if write_fit {
            std::hint::black_box(paceline_gateway::jobs::library::samples_fit(recording));
        }
        files += 1;
        points += recording.points.len();
    }
    Ok((files, points))
}

/// Seconds per pass of `pass`, `runs` times after a warm-up, each run repeating the pass
/// `reps` times.
fn time_passes(
    runs: usize,
    reps: usize,
    mut pass: impl FnMut() -> anyhow::Result<(usize, usize)>,
) -> anyhow::Result<Spread> {
    pass()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(pass()?);
        }
        times.push(started.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(Spread::of(times))
}

const FITDECODE_FILE_TIMER: &str = r#"
import io, sys, time, fitdecode
path, runs, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, 'rb').read()
def decode():
    with fitdecode.FitReader(io.BytesIO(data)) as fit:
        return sum(1 for _ in fit)
frames = decode()
times = []
for _ in range(runs):
    t = time.perf_counter()
    for _ in range(reps):
        decode()
    times.append((time.perf_counter() - t) / reps)
print(frames, *times)
"#;

const FITDECODE_ZIP_TIMER: &str = r#"
import io, sys, time, zipfile, fitdecode
path, runs = sys.argv[1], int(sys.argv[2])
data = open(path, 'rb').read()
times = []
frames = 0
for _ in range(runs):
    t = time.perf_counter()
    frames = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            with fitdecode.FitReader(io.BytesIO(archive.read(info))) as fit:
                frames += sum(1 for _ in fit)
    times.append(time.perf_counter() - t)
print(frames, *times)
"#;

/// Runs a Python timer: (frames, seconds per run).
fn python_timer(script: &str, args: &[String]) -> anyhow::Result<(u64, Spread)> {
    let out = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .context("running python3 with fitdecode")?;
    if !out.status.success() {
        bail!(
            "fitdecode failed ({}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let frames = words
        .next()
        .and_then(|w| w.parse().ok())
        .context("fitdecode timer printed no frame count")?;
    let times: Vec<f64> = words.filter_map(|t| t.parse().ok()).collect();
    if times.is_empty() {
        bail!("fitdecode timer printed nothing usable: {text}");
    }
    Ok((frames, Spread::of(times)))
}

/// A deflated zip of `count` entries cycling through `files` (name, bytes), each named
/// uniquely (`activities/0001-<name>`).
pub fn build_zip(files: &[(String, Vec<u8>)], count: usize) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut content = 0;
    for (i, (name, bytes)) in files.iter().cycle().take(count).enumerate() {
        writer
            .start_file(format!("activities/{i:04}-{name}"), options)
            .context("adding a zip entry")?;
        writer.write_all(bytes).context("writing a zip entry")?;
        content += bytes.len();
    }
    let zip = writer.finish().context("finishing the zip")?.into_inner();
    Ok((zip, content))
}

/// Times both sides on each file of `folder` named in [`ACTIVITY_FILES`], then on a
/// [`ZIP_ENTRIES`]-entry zip of them (`zip_runs` runs of Paceline's side,
/// `python_zip_runs` of fitdecode's: a few minutes each).
pub fn run(
    folder: &Path,
    runs: usize,
    zip_runs: usize,
    python_zip_runs: usize,
) -> anyhow::Result<Vec<ImportFigures>> {
    let thresholds = thresholds();
    let mut files = Vec::new();
    for name in ACTIVITY_FILES {
        let path = folder.join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        files.push((name.to_owned(), bytes));
    }
    let mut figures = Vec::new();
    for (name, bytes) in &files {
        // About 0.2 s per run on either side (fitdecode reads about 0.5 MB/s here, Paceline
        // hundreds of times that).
        let reps = (20_000_000 / bytes.len()).clamp(1, 20_000);
        let python_reps = (100_000 / bytes.len()).clamp(1, 200);
        let (count, points) = import_pass(name, bytes, &thresholds, false)?;
        let paceline_s = time_passes(runs, reps, || import_pass(name, bytes, &thresholds, false))?;
        let with_fit_s = time_passes(runs, reps.div_ceil(2), || {
            import_pass(name, bytes, &thresholds, true)
        })?;
        let path = folder.join(name);
        let (frames, fitdecode_s) = python_timer(
            FITDECODE_FILE_TIMER,
            &[
                path.display().to_string(),
                runs.to_string(),
                python_reps.to_string(),
            ],
        )?;
        figures.push(ImportFigures {
            name: name.clone(),
            bytes: bytes.len(),
            content_bytes: bytes.len(),
            files: count,
            points,
            paceline_s,
            with_fit_s,
            fitdecode_s,
            fitdecode_frames: frames,
        });
    }
    let (zip, content_bytes) = build_zip(&files, ZIP_ENTRIES)?;
    let zip_name = format!("{ZIP_ENTRIES}-files.zip");
    let (count, points) = import_pass(&zip_name, &zip, &thresholds, false)?;
    if count != ZIP_ENTRIES {
        bail!("the zip read as {count} activities, not {ZIP_ENTRIES}");
    }
    let paceline_s = time_passes(zip_runs, 1, || {
        import_pass(&zip_name, &zip, &thresholds, false)
    })?;
    let with_fit_s = time_passes(zip_runs, 1, || {
        import_pass(&zip_name, &zip, &thresholds, true)
    })?;
    let zip_path =
        std::env::temp_dir().join(format!("paceline-bench-import-{}.zip", std::process::id()));
    std::fs::write(&zip_path, &zip).with_context(|| format!("writing {}", zip_path.display()))?;
    let python = python_timer(
        FITDECODE_ZIP_TIMER,
        &[zip_path.display().to_string(), python_zip_runs.to_string()],
    );
    let _ = std::fs::remove_file(&zip_path);
    let (frames, fitdecode_s) = python?;
    figures.push(ImportFigures {
        name: zip_name,
        bytes: zip.len(),
        content_bytes,
        files: count,
        points,
        paceline_s,
        with_fit_s,
        fitdecode_s,
        fitdecode_frames: frames,
    });
    Ok(figures)
}

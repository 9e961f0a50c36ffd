//! What a reader may allocate: every size, count and ratio it checks before it grows.

/// The bounds every reader keeps to. [`Limits::default`] suits bulk exports of a person's
/// whole history; the fuzz targets use far smaller ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input (and largest decompressed file), bytes.
    pub max_bytes: u64,
    /// Largest total decompressed size of one archive's entries, bytes.
    pub max_archive_bytes: u64,
    /// Most entries read from one zip archive.
    pub max_entries: usize,
    /// Largest ratio of decompressed to compressed size (gzip and zip entries).
    pub max_ratio: u64,
    /// Most points in one recording.
    pub max_points: usize,
    /// Longest text kept from a file (a name, a device), bytes; longer is cut.
    pub max_text_bytes: usize,
    /// Most XML nodes (elements, texts) in one TCX or GPX document: what the parsed tree
    /// costs in memory (about 60 bytes each) is bounded by this, not by the input's size.
    pub max_xml_nodes: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 256 * 1024 * 1024,
            max_archive_bytes: 4 * 1024 * 1024 * 1024,
            max_entries: 20_000,
            max_ratio: 200,
            max_points: 2_000_000,
            max_text_bytes: 1024,
            max_xml_nodes: 16_000_000,
        }
    }
}

impl Limits {
    /// Cuts `text` (trimmed) to at most [`max_text_bytes`](Limits::max_text_bytes), at a
    /// character boundary; `None` if empty.
    pub fn text(&self, text: &str) -> Option<String> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let mut end = text.len().min(self.max_text_bytes);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Some(text[..end].to_owned())
    }

    /// Checks that one more point fits.
    pub(crate) fn check_points(&self, count: usize) -> Result<(), crate::FormatError> {
        if count >= self.max_points {
            return Err(crate::FormatError::TooLarge {
                what: "the number of points",
                limit: u64::try_from(self.max_points).unwrap_or(u64::MAX),
            });
        }
        Ok(())
    }
}

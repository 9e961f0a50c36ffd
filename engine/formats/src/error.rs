//! Why a file could not be read: one enum for every reader, each variant naming what
//! failed and where (byte offset, line, element), so a caller adds only the file's name.

/// Why a file, or one entry of an archive, could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The FIT data is corrupt or truncated.
    #[error("FIT data unreadable at byte {offset}: {reason}")]
    Fit {
        /// Byte offset where decoding failed.
        offset: usize,
        /// What the decoder said.
        reason: String,
    },
    /// A valid FIT file without activity records (settings, a workout, …).
    #[error("a FIT file without activity records (holds: {holds})")]
    NotAnActivity {
        /// The message kinds it does hold.
        holds: String,
    },
    /// XML that does not parse (or declares a DTD, which is refused).
    #[error("{format}: XML unreadable: {reason}")]
    Xml {
        /// `TCX` or `GPX`.
        format: &'static str,
        /// What the parser said, with the line and column.
        reason: String,
    },
    /// Well-formed data whose content is wrong: a missing element, a bad value.
    #[error("{format}: {reason}")]
    Content {
        /// `TCX`, `GPX`, `CSV`, `activities.csv`.
        format: &'static str,
        /// What is wrong and where.
        reason: String,
    },
    /// A CSV row or header that does not parse.
    #[error("CSV line {line}: {reason}")]
    Csv {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// More of something than the limits allow.
    #[error("{what} is more than the {limit} allowed")]
    TooLarge {
        /// What was counted ("the input, bytes", "points", …).
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// Compressed data that expands more than the ratio limit allows (a zip bomb).
    #[error("{what} expands more than {limit}:1")]
    Ratio {
        /// Which data.
        what: String,
        /// The largest ratio allowed.
        limit: u64,
    },
    /// A gzip stream that does not decompress.
    #[error("gzip data unreadable: {reason}")]
    Gzip {
        /// What the decompressor said.
        reason: String,
    },
    /// A zip archive, or one of its entries, that cannot be read.
    #[error("zip archive unreadable: {reason}")]
    Zip {
        /// What is wrong.
        reason: String,
    },
    /// An archive inside an archive (not read: one level only).
    #[error("an archive inside an archive is not read")]
    NestedArchive,
    /// Not a format this crate reads.
    #[error("not a FIT, TCX, GPX or CSV file (nor a .gz or .zip of them)")]
    UnknownFormat,
}

//! Insights, I/O-free (being built; see issue 26).

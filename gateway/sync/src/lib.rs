//! Strava and Garmin sync, I/O-free (being built; see issue 22).

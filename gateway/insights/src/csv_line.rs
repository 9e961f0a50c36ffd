//! One line of CSV split into fields, shared by the track library and the daily import.
//!
//! Double-quoted fields may hold commas and `""` for a quote; a field never spans lines
//! (each caller reads line by line so that errors name their line). Hand-written rather
//! than a CSV crate: this one shape, with per-line errors, is twenty lines.

/// The fields of one CSV line.
pub(crate) fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".to_owned());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_commas_and_empty_fields() {
        assert_eq!(
            csv_fields("a,\"b, \"\"c\"\"\",,d").unwrap(),
            ["a", "b, \"c\"", "", "d"]
        );
        assert_eq!(csv_fields("").unwrap(), [""]);
        assert!(csv_fields("\"open").is_err());
    }
}

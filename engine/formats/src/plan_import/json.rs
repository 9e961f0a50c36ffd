//! Paceline's own plan JSON.

use paceline_schemas::codec::{self, MAX_JSON_BYTES};
use paceline_schemas::{JsonError, WorkoutPlan};

use super::bounds;
use super::{ImportReason, PlanImportError, check_file_size};

/// Imports a plan in Paceline's JSON form ([`WorkoutPlan`]), at most 1 MiB, and holds it to
/// the bounds every importer promises (see the [module docs](super)). A syntax or schema
/// error names its line and column; a bound names the entry, e.g. `steps[2].steps[0]`.
pub fn import_json(file_name: &str, bytes: &[u8]) -> Result<WorkoutPlan, PlanImportError> {
    check_file_size(file_name, bytes)?;
    let plan: WorkoutPlan = codec::from_json(bytes).map_err(|err| {
        let (element, reason) = match err {
            JsonError::TooLarge { len } => (
                String::new(),
                ImportReason::TooLarge {
                    len,
                    max: MAX_JSON_BYTES,
                },
            ),
            JsonError::Invalid {
                line,
                column,
                reason,
            } => {
                let element = if line == 0 {
                    String::new()
                } else {
                    format!("line {line}, column {column}")
                };
                let detail = format!("not a valid plan: {reason}");
                (element, ImportReason::Malformed { detail })
            }
        };
        PlanImportError::new(file_name, element, reason)
    })?;
    bounds::check_plan(&plan)
        .map_err(|(element, reason)| PlanImportError::new(file_name, element, reason))?;
    Ok(plan)
}

//! Accounts: who may use the API, and as what.
//!
//! A user belongs to one tenant (a gym or a team) with one [`Role`]; an athlete user is
//! linked to the athlete record their sessions are stored under, and a coach sees the
//! athletes linked to them. Passwords are kept as Argon2id hashes ([`password`]); a login
//! opens a token *family*: a short-lived signed access token and a refresh token that
//! rotates on every use, with reuse detection ([`tokens`]). Failed logins are limited per
//! account and per address ([`limiter`]).

pub mod address;
pub mod limiter;
pub mod password;
pub mod tokens;

use serde::{Deserialize, Serialize};

/// What a user may do in their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Sees and rides their own sessions.
    Athlete,
    /// Creates athletes, plans and pairings; watches and commands the athletes linked to
    /// them.
    Coach,
    /// Everything in the tenant: users, invitations, coach links, the audit log.
    GymAdmin,
}

impl Role {
    /// The stored and serialized form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Athlete => "athlete",
            Role::Coach => "coach",
            Role::GymAdmin => "gym-admin",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "athlete" => Some(Role::Athlete),
            "coach" => Some(Role::Coach),
            "gym-admin" => Some(Role::GymAdmin),
            _ => None,
        }
    }

    /// Whether this role may create athletes, plans and pairings for others.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Coach | Role::GymAdmin)
    }
}

/// The authenticated caller of an API request, as read from the database (not from the
/// token: a role change or a revoked login applies at the next request).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's row.
    pub user_row: i64,
    /// Their tenant's row.
    pub tenant_row: i64,
    /// Their role.
    pub role: Role,
    /// For an athlete user, their athlete row.
    pub athlete_row: Option<i64>,
    /// The login (token family) the request's token belongs to.
    pub family_row: i64,
    /// When a gym-admin views the service as this user ("view as"): read-only, refused
    /// on every write by the auth extractor.
    pub impersonation: Option<Impersonation>,
}

/// A read-only "view as" of a gym-admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Impersonation {
    /// The impersonation's row.
    pub row: i64,
    /// The gym-admin viewing.
    pub by_user_row: i64,
    /// When it ends, ms since the epoch.
    pub expires_ms: u64,
}

/// The administrator account made on a database's first start.
#[derive(Debug)]
pub struct FirstAdmin {
    /// Its login email.
    pub email: String,
    /// The file (mode 0600, in the data folder) holding its one-time password: never
    /// printed and never logged.
    pub password_file: std::path::PathBuf,
    /// Its tenant's slug.
    pub tenant: String,
}

/// Login email of the first administrator.
pub const FIRST_ADMIN_EMAIL: &str = "admin@paceline.local";

/// The file in the data folder the first administrator's password is written to.
pub const FIRST_ADMIN_PASSWORD_FILE: &str = "admin-password.txt";

/// Creates the first administrator (gym-admin of `tenant`, created if new) if the database
/// has no user yet, writing its one-time password to [`FIRST_ADMIN_PASSWORD_FILE`] in
/// `data_dir` (mode 0600) before the account is committed.
pub fn bootstrap_admin(
    store: &crate::store::Store,
    tenant: &paceline_schemas::TenantId,
    data_dir: &std::path::Path,
    now_ms: u64,
) -> Result<Option<FirstAdmin>, crate::store::StoreError> {
    let any: bool = store.read(|conn| {
        Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
    })?;
    if any {
        return Ok(None);
    }
    let corrupt = |what: &'static str, reason: String| crate::store::StoreError::Corrupt {
        what,
        row: 0,
        reason,
    };
    let password = zeroize::Zeroizing::new(password::generate_password());
    let hash =
        password::hash_password(&password).map_err(|e| corrupt("password hash", e.to_string()))?;
    let password_file = data_dir.join(FIRST_ADMIN_PASSWORD_FILE);
    write_owner_only(&password_file, &format!("{}\n", password.as_str())).map_err(|e| {
        corrupt(
            "admin password file",
            format!("{}: {e}", password_file.display()),
        )
    })?;
    let made = store.write(|tx| {
        let exists: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?;
        if exists {
            return Ok(None);
        }
        let tenant_row = crate::store::ensure_tenant(tx, tenant, now_ms)?;
        crate::store::add_user(
            tx,
            tenant_row,
            FIRST_ADMIN_EMAIL,
            "Administrator",
            &hash,
            Role::GymAdmin.as_str(),
            None,
            now_ms,
        )?;
        Ok(Some(FirstAdmin {
            email: FIRST_ADMIN_EMAIL.to_owned(),
            password_file: password_file.clone(),
            tenant: tenant.as_str().to_owned(),
        }))
    });
    if !matches!(made, Ok(Some(_))) {
        let _ = std::fs::remove_file(&password_file);
    }
    made
}

/// Writes `text` to `path`, readable and writable by the owner only (mode 0600, also
/// when the file existed with another mode).
fn write_owner_only(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

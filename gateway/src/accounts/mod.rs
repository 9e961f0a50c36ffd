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
}

/// The administrator account made on a database's first start.
#[derive(Debug)]
pub struct FirstAdmin {
    /// Its login email.
    pub email: String,
    /// Its password, shown once.
    pub password: String,
    /// Its tenant's slug.
    pub tenant: String,
}

/// Login email of the first administrator.
pub const FIRST_ADMIN_EMAIL: &str = "admin@paceline.local";

/// Creates the first administrator (gym-admin of `tenant`, created if new) if the database
/// has no user yet, and returns its one-time password.
pub fn bootstrap_admin(
    store: &crate::store::Store,
    tenant: &paceline_schemas::TenantId,
    now_ms: u64,
) -> Result<Option<FirstAdmin>, crate::store::StoreError> {
    let any: bool = store.read(|conn| {
        Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
    })?;
    if any {
        return Ok(None);
    }
    let password = password::generate_password();
    let hash =
        password::hash_password(&password).map_err(|e| crate::store::StoreError::Corrupt {
            what: "password hash",
            row: 0,
            reason: e.to_string(),
        })?;
    store.write(|tx| {
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
            password: password.clone(),
            tenant: tenant.as_str().to_owned(),
        }))
    })
}

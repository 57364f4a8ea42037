//! The staff-administration pages: roles (a module × action matrix), teams,
//! the audit log and one's own API tokens. Plain data in, HTML out, like the
//! rest of [`crate::pages`]; the role matrix's form is parsed here too, so its
//! field names are written and read in one place.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crm_domain::access::{Action, Actions, DataScope, Grant, Grants, Module as Area};
use crm_domain::audit::AuditAction;
use crm_domain::auth::TokenScope;

use super::{FieldErrors, Layout, PageStatus, respond};
use crate::i18n::{Lang, Msg};

// ---------- catalog keys of the domain's closed sets ----------

/// The catalog key of a module's name (`module-work-orders`).
pub fn area_key(m: Area) -> &'static str {
    match m {
        Area::Pipeline => "module-pipeline",
        Area::Customers => "module-customers",
        Area::Inbox => "module-inbox",
        Area::Broadcasts => "module-broadcasts",
        Area::Agenda => "module-agenda",
        Area::Reports => "module-reports",
        Area::WorkOrders => "module-work-orders",
        Area::Inventory => "module-inventory",
        Area::Drive => "module-drive",
        Area::Users => "module-users",
        Area::Settings => "module-settings",
    }
}

/// The catalog key of an action's name (`action-view`).
pub fn action_key(a: Action) -> &'static str {
    match a {
        Action::View => "action-view",
        Action::Create => "action-create",
        Action::Edit => "action-edit",
        Action::Delete => "action-delete",
        Action::Export => "action-export",
        Action::Bulk => "action-bulk",
        Action::Manage => "action-manage",
    }
}

/// The catalog key of a data scope's name (`scope-team`).
pub fn scope_key(s: DataScope) -> &'static str {
    match s {
        DataScope::Own => "scope-own",
        DataScope::Team => "scope-team",
        DataScope::All => "scope-all",
    }
}

/// The catalog key of an audit action's label (`audit-sign-in-failed`).
pub fn audit_key(a: AuditAction) -> &'static str {
    use AuditAction::*;
    match a {
        SetupCompleted => "audit-setup-completed",
        SignIn => "audit-sign-in",
        SignInFailed => "audit-sign-in-failed",
        SignInThrottled => "audit-sign-in-throttled",
        SignOut => "audit-sign-out",
        SignOutEverywhere => "audit-sign-out-everywhere",
        PasswordChanged => "audit-password-changed",
        PasswordReset => "audit-password-reset",
        PasswordResetIssued => "audit-password-reset-issued",
        TemporaryPasswordSet => "audit-password-temporary-set",
        UserCreated => "audit-user-created",
        UserUpdated => "audit-user-updated",
        UserDisabled => "audit-user-disabled",
        UserEnabled => "audit-user-enabled",
        UserOffboarded => "audit-user-offboarded",
        RoleCreated => "audit-role-created",
        RoleUpdated => "audit-role-updated",
        TeamCreated => "audit-team-created",
        TeamUpdated => "audit-team-updated",
        TokenCreated => "audit-token-created",
        TokenRevoked => "audit-token-revoked",
        CustomersExported => "audit-customers-exported",
    }
}

/// The token scopes a user may pick, widest first.
pub const TOKEN_SCOPES: [TokenScope; 3] =
    [TokenScope::Full, TokenScope::Intake, TokenScope::Metrics];

/// The catalog keys of a token scope's name and its one-line explanation.
pub fn token_scope_keys(s: TokenScope) -> (&'static str, &'static str) {
    match s {
        TokenScope::Full => ("token-scope-full", "token-scope-full-hint"),
        TokenScope::Intake => ("token-scope-intake", "token-scope-intake-hint"),
        TokenScope::Metrics => ("token-scope-metrics", "token-scope-metrics-hint"),
    }
}

/// Every key this module chooses in Rust, for the catalog test.
pub fn rust_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Area::ALL.iter().map(|m| area_key(*m)).collect();
    keys.extend(Action::ALL.iter().map(|a| action_key(*a)));
    keys.extend(DataScope::ALL.iter().map(|s| scope_key(*s)));
    keys.extend(AuditAction::ALL.iter().map(|a| audit_key(*a)));
    keys.extend(TOKEN_SCOPES.iter().flat_map(|s| {
        let (a, b) = token_scope_keys(*s);
        [a, b]
    }));
    keys.extend(RoleFormError::KEYS);
    keys.extend(ADMIN_FIELD_KEYS);
    keys.extend(SUBJECT_KEYS);
    keys.extend(["audit-zone", "tokens-created-title", "tokens-revoke-named"]);
    keys
}

/// Field problems these pages raise (as [`super::FieldError::Invalid`]).
pub const ADMIN_FIELD_KEYS: [&str; 8] = [
    "err-role-name",
    "err-role-exists",
    "err-team-name",
    "err-team-exists",
    "err-team-members",
    "err-token-name",
    "err-token-scope",
    "err-audit-action",
];

/// How the audit log names what it cannot name from a user's name.
pub const SUBJECT_KEYS: [&str; 5] = [
    "audit-subject-role",
    "audit-subject-team",
    "audit-subject-token",
    "audit-subject-anonymous",
    "audit-subject-system",
];

// ---------- time ----------

/// A moment as a page shows it: `datetime` in UTC for machines, the text in
/// the viewer's time zone for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// `2026-12-03T11:05:09Z`.
    pub iso: String,
    /// `03.12.2026 14:05` (tr) / `3 Dec 2026, 14:05` style (en: `2026-12-03 14:05`).
    pub text: String,
    /// The zone's offset, `+03:00`, for a tooltip.
    pub offset: String,
}

impl Stamp {
    /// `ms` since the epoch shown in the IANA zone `tz`; an unknown zone
    /// shows UTC rather than failing the page.
    pub fn new(ms: i64, tz: &str, lang: Lang) -> Stamp {
        let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
            return Stamp {
                iso: String::new(),
                text: ms.to_string(),
                offset: String::new(),
            };
        };
        let zoned = ts.in_tz(tz).or_else(|_| ts.in_tz("UTC"));
        let iso = ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let pattern = match lang {
            Lang::Tr => "%d.%m.%Y %H:%M",
            Lang::En => "%Y-%m-%d %H:%M",
        };
        match zoned {
            Ok(z) => Stamp {
                iso,
                text: z.strftime(pattern).to_string(),
                offset: z.strftime("UTC%:z").to_string(),
            },
            Err(_) => Stamp {
                text: ts.strftime(pattern).to_string(),
                iso,
                offset: "UTC".to_string(),
            },
        }
    }
}

// ---------- roles ----------

/// The form field of one checkbox of the matrix: `g.customers.view`.
pub fn grant_field(m: Area, a: Action) -> String {
    format!("g.{m}.{a}")
}

/// The form field of a module's scope select: `scope.customers`.
pub fn scope_field(m: Area) -> String {
    format!("scope.{m}")
}

/// The unassigned-pool checkbox.
pub const POOL_FIELD: &str = "pool";

/// Why a posted role matrix was refused. Each names the offending field;
/// the page shows it in an alert (a browser only sends these when the page
/// and the server disagree, or someone crafted the post).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleFormError {
    /// A field this form never has (`g.cars.view`, `g.customers.fly`).
    UnknownField(String),
    /// A known field with a value it cannot take (`scope.customers=galaxy`).
    BadValue(String),
    /// The same field twice.
    Repeated(String),
    /// A module with actions but no scope.
    MissingScope(String),
}

impl RoleFormError {
    pub const KEYS: [&'static str; 4] = [
        "err-role-form-unknown",
        "err-role-form-value",
        "err-role-form-repeated",
        "err-role-form-scope",
    ];

    pub fn msg(&self) -> Msg {
        match self {
            RoleFormError::UnknownField(f) => Msg::with("err-role-form-unknown", "field", f),
            RoleFormError::BadValue(f) => Msg::with("err-role-form-value", "field", f),
            RoleFormError::Repeated(f) => Msg::with("err-role-form-repeated", "field", f),
            RoleFormError::MissingScope(f) => Msg::with("err-role-form-scope", "field", f),
        }
    }
}

/// A posted role matrix: its name and the grants it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleForm {
    pub name: String,
    pub grants: Grants,
}

/// Fields other forms carry that the matrix ignores.
const PASS_FIELDS: [&str; 1] = ["csrf"];

/// Parses the matrix strictly: `name`, `pool=on`, `g.<module>.<action>=on`
/// and `scope.<module>=own|team|all` (only for modules holding customer
/// data; the others are always `all`). Anything else is refused, so a
/// renamed module or a typo never silently drops a permission.
pub fn parse_role_form(pairs: &[(String, String)]) -> Result<RoleForm, RoleFormError> {
    let mut name: Option<String> = None;
    let mut pool = false;
    let mut seen: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let mut actions: std::collections::BTreeMap<Area, Actions> = std::collections::BTreeMap::new();
    let mut scopes: std::collections::BTreeMap<Area, DataScope> = std::collections::BTreeMap::new();
    for (key, value) in pairs {
        if PASS_FIELDS.contains(&key.as_str()) {
            continue;
        }
        if !seen.insert(key.as_str()) {
            return Err(RoleFormError::Repeated(key.clone()));
        }
        let on = || {
            if value == "on" {
                Ok(())
            } else {
                Err(RoleFormError::BadValue(key.clone()))
            }
        };
        if key == "name" {
            name = Some(value.trim().to_string());
        } else if key == POOL_FIELD {
            on()?;
            pool = true;
        } else if let Some(rest) = key.strip_prefix("g.") {
            let (m, a) = rest
                .split_once('.')
                .and_then(|(m, a)| Some((Area::parse(m)?, Action::parse(a)?)))
                .ok_or_else(|| RoleFormError::UnknownField(key.clone()))?;
            on()?;
            let set = actions.entry(m).or_default();
            *set = set.with(a);
        } else if let Some(m) = key.strip_prefix("scope.") {
            let m = Area::parse(m)
                .filter(|m| m.is_customer_data())
                .ok_or_else(|| RoleFormError::UnknownField(key.clone()))?;
            let s = DataScope::parse(value).ok_or_else(|| RoleFormError::BadValue(key.clone()))?;
            scopes.insert(m, s);
        } else {
            return Err(RoleFormError::UnknownField(key.clone()));
        }
    }
    let mut grants = Grants {
        unassigned_pool: pool,
        ..Grants::default()
    };
    for (m, set) in actions {
        let scope = if m.is_customer_data() {
            *scopes
                .get(&m)
                .ok_or_else(|| RoleFormError::MissingScope(scope_field(m)))?
        } else {
            DataScope::All
        };
        grants.modules.insert(
            m,
            Grant {
                actions: set,
                scope,
            },
        );
    }
    Ok(RoleForm {
        name: name.unwrap_or_default(),
        grants,
    })
}

/// One role as the page lists and edits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCard {
    pub id: String,
    pub name: String,
    pub builtin: bool,
    /// Active users holding the role.
    pub users: i64,
    /// The admin role: shown with everything checked, nothing editable.
    pub locked: bool,
    pub grants: Grants,
    /// Shown unfolded (just saved, sent back with a problem, or asked for).
    pub open: bool,
    /// Problems of this role's form (`name`), when it was sent back.
    pub errors: FieldErrors,
}

impl RoleCard {
    pub fn has(&self, m: &Area, a: &Action) -> bool {
        self.locked || self.grants.allows(*m, *a)
    }

    /// The scope shown for `m`: its grant's, `own` for a closed module.
    pub fn scope(&self, m: &Area) -> DataScope {
        if self.locked {
            return DataScope::All;
        }
        self.grants
            .modules
            .get(m)
            .map_or(DataScope::Own, |g| g.scope)
    }

    pub fn pool(&self) -> bool {
        self.locked || self.grants.unassigned_pool
    }

    /// How many modules the role opens, for the summary line.
    pub fn open_modules(&self) -> usize {
        if self.locked {
            return Area::ALL.len();
        }
        Area::ALL
            .iter()
            .filter(|m| self.grants.allows(**m, Action::View))
            .count()
    }
}

/// `/admin/roles`: every role with its matrix, and a form for a new one.
#[derive(Debug, Clone, Template)]
#[template(path = "roles.html")]
pub struct RolesPage {
    pub layout: Layout,
    pub roles: Vec<RoleCard>,
    /// A posted matrix that could not be read at all (already translated).
    pub alert: Option<String>,
    /// The new-role form: `name`, and the role whose grants it copies.
    pub new_name: String,
    pub new_copy_from: String,
    pub new_errors: FieldErrors,
}

impl RolesPage {
    pub fn new(layout: Layout, roles: Vec<RoleCard>) -> RolesPage {
        RolesPage {
            layout,
            roles,
            alert: None,
            new_name: String::new(),
            new_copy_from: String::new(),
            new_errors: FieldErrors::new(),
        }
    }

    fn areas(&self) -> &'static [Area] {
        Area::ALL
    }

    fn actions(&self) -> &'static [Action] {
        Action::ALL
    }

    fn scopes(&self) -> &'static [DataScope] {
        DataScope::ALL
    }

    fn area_name(&self, m: &Area) -> String {
        self.layout.tr.t(area_key(*m))
    }

    fn action_name(&self, a: &Action) -> String {
        self.layout.tr.t(action_key(*a))
    }

    fn scope_name(&self, s: &DataScope) -> String {
        self.layout.tr.t(scope_key(*s))
    }

    fn grant_field(&self, m: &Area, a: &Action) -> String {
        grant_field(*m, *a)
    }

    fn scope_field(&self, m: &Area) -> String {
        scope_field(*m)
    }
}

impl PageStatus for RolesPage {
    fn status(&self) -> StatusCode {
        if self.alert.is_some()
            || !self.new_errors.is_empty()
            || self.roles.iter().any(|r| !r.errors.is_empty())
        {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

// ---------- teams ----------

/// A person in a picker or a member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub initials: String,
    /// Disabled users stay listed where they still are members.
    pub active: bool,
}

impl Person {
    pub fn new(id: impl Into<String>, name: impl Into<String>, active: bool) -> Person {
        let name = name.into();
        Person {
            id: id.into(),
            initials: super::initials(&name),
            name,
            active,
        }
    }
}

/// One team; `form_*` hold what its edit form shows (the stored values, or
/// the ones sent back with a problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamCard {
    pub id: String,
    pub name: String,
    pub lead: Option<Person>,
    pub members: Vec<Person>,
    pub form_name: String,
    pub form_lead: String,
    pub form_members: Vec<String>,
    pub errors: FieldErrors,
}

impl TeamCard {
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        lead: Option<Person>,
        members: Vec<Person>,
    ) -> TeamCard {
        let name = name.into();
        TeamCard {
            id: id.into(),
            form_name: name.clone(),
            form_lead: lead.as_ref().map(|l| l.id.clone()).unwrap_or_default(),
            form_members: members.iter().map(|m| m.id.clone()).collect(),
            name,
            lead,
            members,
            errors: FieldErrors::new(),
        }
    }

    fn is_member(&self, id: &str) -> bool {
        self.form_members.iter().any(|m| m == id)
    }
}

/// `/admin/teams`: teams with their lead and members; forms to create and
/// edit them for those who may edit users.
#[derive(Debug, Clone, Template)]
#[template(path = "teams.html")]
pub struct TeamsPage {
    pub layout: Layout,
    pub teams: Vec<TeamCard>,
    /// Active users: the lead and member pickers.
    pub people: Vec<Person>,
    pub can_edit: bool,
    pub new_name: String,
    pub new_lead: String,
    pub new_members: Vec<String>,
    pub new_errors: FieldErrors,
}

impl TeamsPage {
    pub fn new(layout: Layout, teams: Vec<TeamCard>, people: Vec<Person>) -> TeamsPage {
        TeamsPage {
            layout,
            teams,
            people,
            can_edit: false,
            new_name: String::new(),
            new_lead: String::new(),
            new_members: Vec::new(),
            new_errors: FieldErrors::new(),
        }
    }

    fn new_is_member(&self, id: &str) -> bool {
        self.new_members.iter().any(|m| m == id)
    }

    /// The people a team's pickers offer: the active ones, and disabled
    /// members still in it (so saving does not silently drop them).
    fn choices_for(&self, team: &TeamCard) -> Vec<Person> {
        let mut out = self.people.clone();
        for m in team.members.iter().chain(team.lead.iter()) {
            if !out.iter().any(|p| p.id == m.id) {
                out.push(m.clone());
            }
        }
        out
    }
}

impl PageStatus for TeamsPage {
    fn status(&self) -> StatusCode {
        if !self.new_errors.is_empty() || self.teams.iter().any(|t| !t.errors.is_empty()) {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

// ---------- audit ----------

/// Who did something, or to what: the stored reference and a readable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `user:01J…`, `role:sales`, `anonymous`: what the "who" filter takes.
    pub reference: String,
    /// "Ayşe Yılmaz", "Rol: Satış", or the reference when nothing better is known.
    pub label: String,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub at: Stamp,
    pub action: AuditAction,
    pub actor: Subject,
    pub target: Option<Subject>,
    pub ip: String,
}

/// `/admin/audit`: the log, newest first, filtered in the URL.
#[derive(Debug, Clone, Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub rows: Vec<AuditRow>,
    /// The filters as the URL has them.
    pub action: String,
    pub who: String,
    /// The "older" link, with the filters and the cursor.
    pub older_href: Option<String>,
    /// Whether this is a later page (a link back to the newest).
    pub paged: bool,
    /// The zone times are shown in.
    pub time_zone: String,
    pub errors: FieldErrors,
}

impl AuditPage {
    pub fn new(layout: Layout, time_zone: impl Into<String>) -> AuditPage {
        AuditPage {
            layout,
            rows: Vec::new(),
            action: String::new(),
            who: String::new(),
            older_href: None,
            paged: false,
            time_zone: time_zone.into(),
            errors: FieldErrors::new(),
        }
    }

    /// "Times are in Europe/Istanbul."
    fn zone_note(&self) -> String {
        self.layout
            .tr
            .t_args("audit-zone", &[("zone", self.time_zone.as_str())])
    }

    fn filtered(&self) -> bool {
        !self.action.is_empty() || !self.who.is_empty()
    }

    fn all_actions(&self) -> &'static [AuditAction] {
        AuditAction::ALL
    }

    fn action_name(&self, a: &AuditAction) -> String {
        self.layout.tr.t(audit_key(*a))
    }

    /// The URL filtering by `who` (a link on an actor or a target).
    fn who_href(&self, who: &str) -> String {
        audit_href(&self.action, who, None)
    }

    fn tone(&self, a: &AuditAction) -> &'static str {
        use AuditAction::*;
        match a {
            SignInFailed | SignInThrottled | UserDisabled | UserOffboarded | TokenRevoked => {
                "warning"
            }
            SignIn | SignOut | SignOutEverywhere => "neutral",
            _ => "accent",
        }
    }
}

/// `/admin/audit?action=…&who=…&cursor=…`, leaving out what is empty.
pub fn audit_href(action: &str, who: &str, cursor: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if !action.is_empty() {
        pairs.push(("action", action));
    }
    if !who.is_empty() {
        pairs.push(("who", who));
    }
    if let Some(c) = cursor {
        pairs.push(("cursor", c));
    }
    match serde_urlencoded::to_string(&pairs) {
        Ok(q) if !q.is_empty() => format!("/admin/audit?{q}"),
        _ => "/admin/audit".to_string(),
    }
}

impl PageStatus for AuditPage {
    fn status(&self) -> StatusCode {
        super::form_status(&self.errors)
    }
}

// ---------- tokens ----------

/// One of the viewer's tokens (never the secret: only its creator saw it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub created: Stamp,
    pub revoked: Option<Stamp>,
}

/// A token just made: shown once, on the page answering the POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub secret: String,
    pub scope: TokenScope,
}

/// `/me/tokens`: the viewer's API tokens, a form to make one, revoke buttons.
#[derive(Debug, Clone, Template)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub tokens: Vec<TokenRow>,
    pub created: Option<NewToken>,
    pub new_name: String,
    pub new_scope: TokenScope,
    pub errors: FieldErrors,
}

impl TokensPage {
    pub fn new(layout: Layout, tokens: Vec<TokenRow>) -> TokensPage {
        TokensPage {
            layout,
            tokens,
            created: None,
            new_name: String::new(),
            new_scope: TokenScope::Full,
            errors: FieldErrors::new(),
        }
    }

    fn scopes(&self) -> &'static [TokenScope] {
        &TOKEN_SCOPES
    }

    fn scope_name(&self, s: &TokenScope) -> String {
        self.layout.tr.t(token_scope_keys(*s).0)
    }

    fn scope_hint(&self, s: &TokenScope) -> String {
        self.layout.tr.t(token_scope_keys(*s).1)
    }

    /// "Token “Web form” created" for the box showing the secret.
    fn created_title(&self) -> String {
        let name = self.created.as_ref().map_or("", |c| c.name.as_str());
        self.layout
            .tr
            .t_args("tokens-created-title", &[("name", name)])
    }

    /// The revoke button's accessible name: "Revoke “Web form”".
    fn revoke_label(&self, name: &str) -> String {
        self.layout
            .tr
            .t_args("tokens-revoke-named", &[("name", name)])
    }

    fn live(&self) -> usize {
        self.tokens.iter().filter(|t| t.revoked.is_none()).count()
    }
}

impl PageStatus for TokensPage {
    fn status(&self) -> StatusCode {
        super::form_status(&self.errors)
    }
}

macro_rules! admin_into_response {
    ($($page:ty),*) => {$(
        impl IntoResponse for $page {
            fn into_response(self) -> Response {
                respond(self.status(), &self)
            }
        }
    )*};
}

admin_into_response!(RolesPage, TeamsPage, AuditPage, TokensPage);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::i18n::Theme;
    use crate::pages::{FieldError, Module, ShellUser, render};

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn shell(lang: Lang) -> Layout {
        Layout::new(lang, Theme::Light, "tok").signed_in(
            ShellUser::new("Ayşe Yılmaz", "a@example.com"),
            Module::nav(&Module::ALL, Some(Module::Roles)),
        )
    }

    #[test]
    fn the_matrix_form_becomes_grants() {
        let form = parse_role_form(&pairs(&[
            ("csrf", "x"),
            ("name", "  Saha ekibi "),
            ("g.customers.view", "on"),
            ("g.customers.edit", "on"),
            ("scope.customers", "team"),
            ("scope.pipeline", "own"),
            ("g.users.view", "on"),
            ("pool", "on"),
        ]))
        .unwrap();
        assert_eq!(form.name, "Saha ekibi");
        let g = &form.grants;
        assert!(g.unassigned_pool);
        let c = g.grant(Area::Customers).unwrap();
        assert_eq!(c.scope, DataScope::Team);
        assert_eq!(c.actions, Actions::of(&[Action::View, Action::Edit]));
        assert_eq!(
            g.grant(Area::Users).unwrap().scope,
            DataScope::All,
            "modules without customers always reach all"
        );
        assert!(
            g.grant(Area::Pipeline).is_none(),
            "a scope without actions opens nothing"
        );
        assert_eq!(g.modules.len(), 2);
        let empty = parse_role_form(&pairs(&[("name", "Boş")])).unwrap();
        assert_eq!(empty.grants, Grants::default());
    }

    #[test]
    fn the_matrix_form_refuses_what_it_does_not_know() {
        let refused = |list: &[(&str, &str)]| parse_role_form(&pairs(list)).unwrap_err();
        assert_eq!(
            refused(&[("g.cars.view", "on")]),
            RoleFormError::UnknownField("g.cars.view".into())
        );
        assert_eq!(
            refused(&[("g.customers.fly", "on")]),
            RoleFormError::UnknownField("g.customers.fly".into())
        );
        assert_eq!(
            refused(&[("g.customers", "on")]),
            RoleFormError::UnknownField("g.customers".into())
        );
        assert_eq!(
            refused(&[("admin", "1")]),
            RoleFormError::UnknownField("admin".into())
        );
        assert_eq!(
            refused(&[("scope.users", "all")]),
            RoleFormError::UnknownField("scope.users".into()),
            "users have no customer scope"
        );
        assert_eq!(
            refused(&[("g.customers.view", "on"), ("scope.customers", "galaxy")]),
            RoleFormError::BadValue("scope.customers".into())
        );
        assert_eq!(
            refused(&[("g.customers.view", "yes")]),
            RoleFormError::BadValue("g.customers.view".into())
        );
        assert_eq!(
            refused(&[("g.customers.view", "on"), ("g.customers.view", "on")]),
            RoleFormError::Repeated("g.customers.view".into())
        );
        assert_eq!(
            refused(&[("g.customers.view", "on")]),
            RoleFormError::MissingScope("scope.customers".into())
        );
        assert_eq!(
            refused(&[("pool", "off")]),
            RoleFormError::BadValue("pool".into())
        );
    }

    #[test]
    fn every_seeded_role_round_trips_through_its_form() {
        for (id, name, grants) in crm_domain::access::seeded::roles() {
            let card = RoleCard {
                id: id.to_string(),
                name: name.into(),
                builtin: true,
                users: 0,
                locked: false,
                grants: grants.clone(),
                open: true,
                errors: FieldErrors::new(),
            };
            let html = render(&RolesPage::new(shell(Lang::En), vec![card])).unwrap();
            // What the browser would post: every checked box and every select.
            let mut posted = vec![("name".to_string(), name.to_string())];
            for m in Area::ALL {
                for a in Action::ALL {
                    let f = grant_field(*m, *a);
                    if html.contains(&format!(r#"name="{f}" checked"#)) {
                        posted.push((f, "on".into()));
                    }
                }
                if m.is_customer_data() {
                    let f = scope_field(*m);
                    let at = html.find(&format!(r#"name="{f}""#)).unwrap();
                    let select = &html[at..at + html[at..].find("</select>").unwrap()];
                    let chosen = DataScope::ALL
                        .iter()
                        .find(|s| select.contains(&format!(r#"value="{s}" selected"#)))
                        .unwrap();
                    posted.push((f, chosen.to_string()));
                }
            }
            if html.contains(r#"name="pool" checked"#) {
                posted.push(("pool".into(), "on".into()));
            }
            let back = parse_role_form(&posted).unwrap();
            // Closed modules come back absent, open ones equal.
            let open: Grants = Grants {
                modules: grants
                    .modules
                    .iter()
                    .filter(|(_, g)| !g.actions.is_empty())
                    .map(|(m, g)| (*m, *g))
                    .collect(),
                ..grants
            };
            assert_eq!(back.grants, open, "{id}");
        }
    }

    fn card(id: &str, name: &str, grants: Grants, locked: bool) -> RoleCard {
        RoleCard {
            id: id.into(),
            name: name.into(),
            builtin: true,
            users: 3,
            locked,
            grants,
            open: true,
            errors: FieldErrors::new(),
        }
    }

    #[test]
    fn the_matrix_checks_granted_actions_and_locks_admin() {
        let (_, _, sales) = crm_domain::access::seeded::roles().remove(2);
        let page = RolesPage::new(
            shell(Lang::Tr),
            vec![
                card("admin", "Yönetici", Grants::default(), true),
                card("sales", "Satış <ekip>", sales, false),
            ],
        );
        let html = render(&page).unwrap();
        let admin = &html
            [html.find(r#"id="role-admin""#).unwrap()..html.find(r#"id="role-sales""#).unwrap()];
        let sales = &html[html.find(r#"id="role-sales""#).unwrap()..];
        assert!(
            admin.contains(r#"name="g.settings.manage" checked disabled"#),
            "{admin}"
        );
        assert!(!admin.contains("<form"), "nothing to post for admin");
        assert!(!admin.contains(r#"type="submit""#));
        assert!(admin.contains("kilitlenemez"), "the note says why: {admin}");
        assert!(sales.contains(r#"action="/admin/roles/sales""#));
        assert!(
            sales.contains(r#"name="g.customers.view" checked aria-label="Müşteriler: Görüntüle""#),
            "{sales}"
        );
        assert!(
            sales.contains(r#"name="g.customers.delete" aria-label"#),
            "not granted, not checked"
        );
        assert!(!sales.contains("disabled"), "{sales}");
        assert!(sales.contains(r#"<option value="own" selected>"#));
        assert!(html.contains("Satış &#60;ekip&#62;"), "names are escaped");
        assert!(!html.contains("Satış <ekip>"));
        assert!(
            html.contains(r#"<option value="sales">Satış &#60;ekip&#62;</option>"#),
            "copy-from lists roles"
        );
        assert_eq!(page.status(), StatusCode::OK);
        assert!(!html.contains("Unknown localization key"));
    }

    #[test]
    fn a_refused_matrix_says_why() {
        let mut page = RolesPage::new(shell(Lang::En), vec![]);
        page.alert = Some(
            page.layout
                .tr
                .msg(&RoleFormError::UnknownField("g.cars.view".into()).msg()),
        );
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = render(&page).unwrap();
        assert!(html.contains("g.cars.view"), "{html}");
        assert!(html.contains(r#"role="alert""#));
    }

    #[test]
    fn a_role_name_problem_sits_beside_its_field() {
        let mut c = card("sales", "", Grants::default(), false);
        c.errors.add(
            "name",
            FieldError::Invalid {
                key: "err-role-exists",
            },
        );
        let page = RolesPage::new(shell(Lang::En), vec![c]);
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = render(&page).unwrap();
        let field = html.find(r#"id="f-name-sales""#).unwrap();
        let err = html.find(r#"id="f-name-sales-error""#).unwrap();
        assert!(field < err);
        assert!(html.contains(r#"aria-describedby="f-name-sales-error""#));
        assert!(html.contains("Another role already has this name."));
    }

    #[test]
    fn teams_list_members_and_keep_a_refused_form() {
        let ayse = Person::new("u1", "Ayşe <b>Yılmaz</b>", true);
        let ali = Person::new("u2", "Ali Demir", true);
        let gone = Person::new("u3", "Eski Çalışan", false);
        let mut team = TeamCard::new(
            "t1",
            "Saha & Kurulum",
            Some(ayse.clone()),
            vec![ayse.clone(), gone],
        );
        team.form_name = "Depo".into();
        team.errors.add(
            "name",
            FieldError::Invalid {
                key: "err-team-exists",
            },
        );
        let mut page = TeamsPage::new(shell(Lang::Tr), vec![team], vec![ayse, ali]);
        page.can_edit = true;
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = render(&page).unwrap();
        assert!(html.contains("Saha &#38; Kurulum"), "{html}");
        assert!(html.contains("Ayşe &#60;b&#62;Yılmaz&#60;/b&#62;"));
        assert!(html.contains(r#"value="Depo""#), "the sent name is kept");
        assert!(html.contains("Bu adla başka bir ekip var."));
        assert!(
            html.contains(r#"<option value="u3" selected>"#),
            "a disabled member stays selectable"
        );
        assert!(html.contains(r#"action="/admin/teams/t1""#));
        assert!(html.contains(r#"action="/admin/teams""#));
        let viewer_only = TeamsPage::new(shell(Lang::En), vec![], vec![]);
        let html = render(&viewer_only).unwrap();
        assert!(
            !html.contains(r#"action="/admin/teams"#),
            "no forms without edit"
        );
        assert!(html.contains("No teams yet"), "{html}");
    }

    #[test]
    fn audit_rows_show_local_time_labels_and_filters() {
        let mut page = AuditPage::new(shell(Lang::Tr), "Europe/Istanbul");
        // 2026-12-03 11:05:00 UTC = 14:05 in Istanbul.
        let ms = 1_796_295_900_000;
        page.rows = vec![AuditRow {
            at: Stamp::new(ms, "Europe/Istanbul", Lang::Tr),
            action: AuditAction::RoleUpdated,
            actor: Subject {
                reference: "user:u1".into(),
                label: "Ayşe <Yılmaz>".into(),
            },
            target: Some(Subject {
                reference: "role:sales".into(),
                label: "Satış".into(),
            }),
            ip: "10.0.0.7".into(),
        }];
        page.action = "role.updated".into();
        page.who = "user:u1".into();
        page.older_href = Some(audit_href("role.updated", "user:u1", Some("123.abc")));
        let html = render(&page).unwrap();
        assert!(
            html.contains(r#"<time datetime="2026-12-03T11:05:00Z""#),
            "{html}"
        );
        assert!(html.contains("03.12.2026 14:05"));
        assert!(html.contains("Rol güncellendi"));
        assert!(html.contains("Ayşe &#60;Yılmaz&#62;"));
        assert!(html.contains(r#"<option value="role.updated" selected>"#));
        assert!(html.contains(r#"value="user:u1""#));
        assert!(
            html.contains(
                r#"href="/admin/audit?action=role.updated&#38;who=user%3Au1&#38;cursor=123.abc""#
            ),
            "{html}"
        );
        assert!(html.contains(r#"method="get" action="/admin/audit""#));
        let empty = AuditPage::new(shell(Lang::En), "UTC");
        let html = render(&empty).unwrap();
        assert!(html.contains("Nothing in the log yet"), "{html}");
    }

    #[test]
    fn stamps_follow_the_zone_and_survive_a_bad_one() {
        let ms = 1_796_295_900_000;
        let en = Stamp::new(ms, "Asia/Dubai", Lang::En);
        assert_eq!(en.text, "2026-12-03 15:05");
        assert_eq!(en.offset, "UTC+04:00");
        let bad = Stamp::new(ms, "Mars/Olympus", Lang::En);
        assert_eq!(bad.text, "2026-12-03 11:05");
        assert_eq!(bad.iso, "2026-12-03T11:05:00Z");
    }

    #[test]
    fn a_new_token_is_shown_once_and_listed_without_its_secret() {
        let row = TokenRow {
            id: "k1".into(),
            name: "Web <form>".into(),
            scope: TokenScope::Intake,
            created: Stamp::new(1_796_295_900_000, "UTC", Lang::En),
            revoked: None,
        };
        let revoked = TokenRow {
            id: "k0".into(),
            name: "Old".into(),
            scope: TokenScope::Full,
            created: Stamp::new(1_796_295_900_000, "UTC", Lang::En),
            revoked: Some(Stamp::new(1_796_295_960_000, "UTC", Lang::En)),
        };
        let mut page = TokensPage::new(shell(Lang::En), vec![row, revoked]);
        page.created = Some(NewToken {
            name: "Web <form>".into(),
            secret: "crm_s3cr3t_value".into(),
            scope: TokenScope::Intake,
        });
        let html = render(&page).unwrap();
        assert_eq!(
            html.matches("crm_s3cr3t_value").count(),
            1,
            "the secret appears once"
        );
        assert!(html.contains("it is not shown again"), "{html}");
        assert!(html.contains("Web &#60;form&#62;"));
        assert!(html.contains(r#"action="/me/tokens/k1/revoke""#));
        assert!(
            !html.contains(r#"action="/me/tokens/k0/revoke""#),
            "revoked: no button"
        );
        assert!(html.contains("Revoked"));
        page.created = None;
        let html = render(&page).unwrap();
        assert!(!html.contains("crm_s3cr3t_value"), "gone on the next page");
        assert!(!html.contains(r#"id="new-token""#));
        let empty = render(&TokensPage::new(shell(Lang::Tr), vec![])).unwrap();
        assert!(empty.contains("Henüz token yok"), "{empty}");
    }
}

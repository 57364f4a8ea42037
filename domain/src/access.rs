//! Who may do what to which customer: roles as a matrix of module × action,
//! each module with a data scope (own, team, all), and the one rule every
//! page, API handler, live event and list query asks.
//!
//! Roles are data (an admin edits them); the seeded ones have fixed ids so
//! code and migrations can name them. A list is filtered in SQL: the store
//! turns a [`CustomerScope`] into a `WHERE`, and [`CustomerScope::admits`]
//! is the same rule as [`may`] (a property test holds them together).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::{RoleId, UserId};
use crate::inbound::closed_set;

closed_set!(
    /// A part of the product a role opens. Later issues' modules are here
    /// already so roles can be set up once.
    Module {
        Pipeline = "pipeline",
        Customers = "customers",
        Inbox = "inbox",
        Broadcasts = "broadcasts",
        Agenda = "agenda",
        Reports = "reports",
        WorkOrders = "work_orders",
        Inventory = "inventory",
        Drive = "drive",
        Users = "users",
        Settings = "settings",
    }
);

closed_set!(
    /// What a role may do in a module.
    Action {
        View = "view",
        Create = "create",
        Edit = "edit",
        Delete = "delete",
        Export = "export",
        Bulk = "bulk",
        /// Configure the module (stages, templates, roles …) and assign work.
        Manage = "manage",
    }
);

closed_set!(
    /// Which customers a module's grant reaches.
    DataScope {
        /// Customers the user owns or is an assignee of.
        Own = "own",
        /// Customers owned by, or assigned to, anyone in the user's teams.
        Team = "team",
        All = "all",
    }
);

impl Module {
    /// Whether the module's rows belong to customers (and so have a scope).
    pub fn is_customer_data(self) -> bool {
        !matches!(self, Module::Users | Module::Settings)
    }
}

/// A set of actions (a bit per action).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);

    pub fn all() -> Self {
        Action::ALL.iter().fold(Self::NONE, |s, a| s.with(*a))
    }

    pub fn of(actions: &[Action]) -> Self {
        actions.iter().fold(Self::NONE, |s, a| s.with(*a))
    }

    fn bit(a: Action) -> u8 {
        // `ALL` lists every variant once, so the index fits in 7 bits.
        let i = Action::ALL.iter().position(|x| *x == a).unwrap_or(0);
        1u8 << i
    }

    #[must_use]
    pub fn with(self, a: Action) -> Self {
        Actions(self.0 | Self::bit(a))
    }

    pub fn has(self, a: Action) -> bool {
        self.0 & Self::bit(a) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.iter().copied().filter(move |a| self.has(*a))
    }
}

impl Serialize for Actions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Actions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<Action>::deserialize(d)?;
        Ok(Self::of(&list))
    }
}

/// What a role may do in one module, and over which customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub actions: Actions,
    pub scope: DataScope,
}

/// A role's whole matrix: a grant per module (a missing module is closed),
/// and whether the role sees the pool of unassigned customers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    #[serde(default)]
    pub modules: BTreeMap<Module, Grant>,
    #[serde(default)]
    pub unassigned_pool: bool,
}

impl Grants {
    /// Everything, over all customers: the admin role and service tokens.
    pub fn full() -> Self {
        Grants {
            modules: Module::ALL
                .iter()
                .map(|m| {
                    (
                        *m,
                        Grant {
                            actions: Actions::all(),
                            scope: DataScope::All,
                        },
                    )
                })
                .collect(),
            unassigned_pool: true,
        }
    }

    pub fn grant(&self, m: Module) -> Option<Grant> {
        self.modules
            .get(&m)
            .copied()
            .filter(|g| !g.actions.is_empty())
    }

    pub fn allows(&self, m: Module, a: Action) -> bool {
        self.grant(m).is_some_and(|g| g.actions.has(a))
    }

    /// The modules a user may open (view), in menu order.
    pub fn visible_modules(&self) -> Vec<Module> {
        Module::ALL
            .iter()
            .copied()
            .filter(|m| self.allows(*m, Action::View))
            .collect()
    }

    fn set(mut self, m: Module, actions: &[Action], scope: DataScope) -> Self {
        self.modules.insert(
            m,
            Grant {
                actions: Actions::of(actions),
                scope,
            },
        );
        self
    }
}

/// The roles every installation starts with; an admin edits all but `admin`
/// (which always holds everything, so nobody locks the admins out).
pub mod seeded {
    use super::*;

    pub const ADMIN: &str = "admin";
    pub const MANAGER: &str = "manager";
    pub const SALES: &str = "sales";
    pub const OPERATIONS: &str = "operations";

    /// (id, English name, grants) in the order they are listed.
    pub fn roles() -> Vec<(RoleId, &'static str, Grants)> {
        use Action::*;
        use DataScope::*;
        use Module::*;
        let work = [View, Create, Edit];
        let manager = Module::ALL
            .iter()
            .filter(|m| m.is_customer_data())
            .fold(Grants::default(), |g, m| {
                g.set(*m, Action::ALL, DataScope::All)
            })
            .set(Users, &[View], All)
            .set(Settings, &[View, Edit], All);
        let manager = Grants {
            unassigned_pool: true,
            ..manager
        };
        let sales = Grants::default()
            .set(Pipeline, &work, Own)
            .set(Customers, &work, Own)
            .set(Inbox, &work, Own)
            .set(Agenda, &work, Own);
        let operations = Grants {
            unassigned_pool: true,
            ..Grants::default()
                .set(Pipeline, &work, Team)
                .set(Customers, &work, Team)
                .set(Inbox, &work, Team)
                .set(Agenda, &work, Team)
                .set(WorkOrders, &[View, Create, Edit, Delete], Team)
                .set(Inventory, &work, All)
                .set(Drive, &work, Team)
                .set(Reports, &[View], Team)
        };
        vec![
            (RoleId::new(ADMIN), "Admin", Grants::full()),
            (RoleId::new(MANAGER), "Manager", manager),
            (RoleId::new(SALES), "Sales", sales),
            (RoleId::new(OPERATIONS), "Operations", operations),
        ]
    }

    pub fn is_admin(role: &RoleId) -> bool {
        role == ADMIN
    }
}

/// Who is acting: a signed-in user (or a user's token), or a service token
/// (no user, every grant). `teammates` holds every user who shares a team
/// with this one, the user included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<UserId>,
    pub role: RoleId,
    pub grants: Grants,
    pub teammates: BTreeSet<UserId>,
}

impl Actor {
    pub fn service() -> Self {
        Actor {
            user: None,
            role: RoleId::new(seeded::ADMIN),
            grants: Grants::full(),
            teammates: BTreeSet::new(),
        }
    }

    pub fn is_admin(&self) -> bool {
        seeded::is_admin(&self.role)
    }
}

/// What the rule needs to know about a customer: who owns it and who is
/// assigned to it.
#[derive(Debug, Clone, Copy)]
pub struct Holders<'a> {
    pub owner: Option<&'a UserId>,
    pub assignees: &'a [UserId],
}

impl Holders<'_> {
    fn unassigned(&self) -> bool {
        self.owner.is_none() && self.assignees.is_empty()
    }

    fn held_by_any(&self, users: &BTreeSet<UserId>) -> bool {
        self.owner.is_some_and(|o| users.contains(o))
            || self.assignees.iter().any(|a| users.contains(a))
    }
}

/// May `actor` do `action` in `module`, to `customer` when one is named?
/// Module-level questions (open the page, create a new one) pass `None`.
pub fn may(actor: &Actor, module: Module, action: Action, customer: Option<Holders<'_>>) -> bool {
    let Some(grant) = actor.grants.grant(module) else {
        return false;
    };
    if !grant.actions.has(action) {
        return false;
    }
    match customer {
        None => true,
        Some(c) => customer_scope(actor, module, action).admits(c),
    }
}

/// The customers a list may show, as the store's `WHERE` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerScope {
    Everything,
    Nothing,
    /// Customers owned by or assigned to one of `users`, and unassigned
    /// ones when `unassigned`.
    HeldBy {
        users: BTreeSet<UserId>,
        unassigned: bool,
    },
}

impl CustomerScope {
    pub fn admits(&self, c: Holders<'_>) -> bool {
        match self {
            CustomerScope::Everything => true,
            CustomerScope::Nothing => false,
            CustomerScope::HeldBy { users, unassigned } => {
                (*unassigned && c.unassigned()) || c.held_by_any(users)
            }
        }
    }
}

/// Which customers `actor` may `action` in `module`.
pub fn customer_scope(actor: &Actor, module: Module, action: Action) -> CustomerScope {
    let Some(grant) = actor.grants.grant(module).filter(|g| g.actions.has(action)) else {
        return CustomerScope::Nothing;
    };
    let unassigned = actor.grants.unassigned_pool;
    let users = match (grant.scope, &actor.user) {
        (DataScope::All, _) => return CustomerScope::Everything,
        // A service token has every grant at scope all; a user-less actor
        // at a narrower scope owns nothing.
        (_, None) => BTreeSet::new(),
        (DataScope::Own, Some(me)) => BTreeSet::from([me.clone()]),
        (DataScope::Team, Some(me)) => {
            let mut t = actor.teammates.clone();
            t.insert(me.clone());
            t
        }
    };
    if users.is_empty() && !unassigned {
        return CustomerScope::Nothing;
    }
    CustomerScope::HeldBy { users, unassigned }
}

/// Why a role edit is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleEditError {
    #[error("the admin role always holds every permission and cannot be edited")]
    AdminIsFixed,
    #[error("a role needs a name of 1 to 80 characters")]
    Name,
}

/// Checks an edit of a role's name and grants before the store writes it.
pub fn check_role_edit(role: &RoleId, name: &str) -> Result<(), RoleEditError> {
    if seeded::is_admin(role) {
        return Err(RoleEditError::AdminIsFixed);
    }
    let n = name.trim().chars().count();
    if n == 0 || n > 80 {
        return Err(RoleEditError::Name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn u(s: &str) -> UserId {
        UserId::new(s)
    }

    fn actor(role: &str, me: &str, mates: &[&str]) -> Actor {
        let grants = seeded::roles()
            .into_iter()
            .find(|(id, _, _)| id == role)
            .map(|(_, _, g)| g)
            .unwrap();
        Actor {
            user: Some(u(me)),
            role: RoleId::new(role),
            grants,
            teammates: mates.iter().map(|m| u(m)).collect(),
        }
    }

    #[test]
    fn sales_sees_only_what_it_owns_or_is_assigned() {
        let a = actor(seeded::SALES, "ayse", &["ayse", "mehmet"]);
        let own = u("ayse");
        let other = u("mehmet");
        let mine = Holders {
            owner: Some(&own),
            assignees: &[],
        };
        let assigned = Holders {
            owner: Some(&other),
            assignees: std::slice::from_ref(&own),
        };
        let theirs = Holders {
            owner: Some(&other),
            assignees: &[],
        };
        let nobody = Holders {
            owner: None,
            assignees: &[],
        };
        let see = |h| may(&a, Module::Customers, Action::View, Some(h));
        assert!(see(mine));
        assert!(see(assigned));
        assert!(!see(theirs), "a teammate's customer is not sales' own");
        assert!(!see(nobody), "sales has no unassigned pool");
        assert!(!may(&a, Module::Users, Action::View, None));
        assert!(!may(&a, Module::Customers, Action::Export, None));
        assert!(may(&a, Module::Pipeline, Action::Edit, Some(mine)));
    }

    #[test]
    fn operations_sees_its_teams_and_the_pool() {
        let a = actor(seeded::OPERATIONS, "ali", &["veli"]);
        let mate = u("veli");
        let stranger = u("zeynep");
        let held = |o: &UserId| {
            may(
                &a,
                Module::Customers,
                Action::View,
                Some(Holders {
                    owner: Some(o),
                    assignees: &[],
                }),
            )
        };
        assert!(held(&mate));
        assert!(held(&u("ali")));
        assert!(!held(&stranger));
        assert!(may(
            &a,
            Module::Customers,
            Action::View,
            Some(Holders {
                owner: None,
                assignees: &[]
            })
        ));
        // Assigned to a teammate though owned by a stranger: the team sees it.
        let assignees = [mate.clone()];
        assert!(may(
            &a,
            Module::Customers,
            Action::View,
            Some(Holders {
                owner: Some(&stranger),
                assignees: &assignees
            })
        ));
    }

    #[test]
    fn admins_and_service_tokens_hold_everything() {
        let s = Actor::service();
        assert!(s.is_admin());
        for m in Module::ALL {
            for act in Action::ALL {
                assert!(may(&s, *m, *act, None), "{m} {act}");
            }
        }
        assert_eq!(
            customer_scope(&s, Module::Customers, Action::View),
            CustomerScope::Everything
        );
        let mgr = actor(seeded::MANAGER, "m", &[]);
        assert!(mgr.grants.allows(Module::Users, Action::View));
        assert!(!mgr.grants.allows(Module::Users, Action::Manage));
        assert!(!mgr.grants.allows(Module::Settings, Action::Manage));
    }

    #[test]
    fn the_admin_role_cannot_be_edited_and_names_are_bounded() {
        assert_eq!(
            check_role_edit(&RoleId::new("admin"), "x"),
            Err(RoleEditError::AdminIsFixed)
        );
        assert_eq!(
            check_role_edit(&RoleId::new("sales"), "  "),
            Err(RoleEditError::Name)
        );
        assert!(check_role_edit(&RoleId::new("sales"), "Satış").is_ok());
    }

    #[test]
    fn grants_are_stored_as_readable_json() {
        let (_, _, g) = seeded::roles().into_iter().nth(2).unwrap();
        let json = serde_json::to_string(&g).unwrap();
        assert!(
            json.contains(r#""customers":{"actions":["view","create","edit"],"scope":"own"}"#),
            "{json}"
        );
        let back: Grants = serde_json::from_str(&json).unwrap();
        assert_eq!(back, g);
        // An unknown module or action in stored JSON is refused, not ignored.
        assert!(
            serde_json::from_str::<Grants>(r#"{"modules":{"cars":{"actions":[],"scope":"all"}}}"#)
                .is_err()
        );
    }

    fn any_grants() -> impl Strategy<Value = Grants> {
        (
            proptest::collection::vec((0usize..Module::ALL.len(), 0u8..128, 0usize..3), 0..6),
            any::<bool>(),
        )
            .prop_map(|(mods, pool)| Grants {
                modules: mods
                    .into_iter()
                    .map(|(m, bits, s)| {
                        let actions = Action::ALL
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| bits & (1 << i) != 0)
                            .fold(Actions::NONE, |acc, (_, a)| acc.with(*a));
                        (
                            Module::ALL[m],
                            Grant {
                                actions,
                                scope: DataScope::ALL[s],
                            },
                        )
                    })
                    .collect(),
                unassigned_pool: pool,
            })
    }

    proptest! {
        /// The SQL-side filter and the per-customer rule never disagree.
        #[test]
        fn the_list_filter_is_the_same_rule_as_may(
            grants in any_grants(),
            me in 0usize..4,
            mates in proptest::collection::btree_set(0usize..4, 0..3),
            owner in proptest::option::of(0usize..4),
            assignees in proptest::collection::vec(0usize..4, 0..3),
            m in 0usize..Module::ALL.len(),
            act in 0usize..Action::ALL.len(),
        ) {
            let name = |i: usize| UserId::new(format!("u{i}"));
            let a = Actor {
                user: Some(name(me)),
                role: RoleId::new("r"),
                grants,
                teammates: mates.into_iter().map(name).collect(),
            };
            let owner = owner.map(name);
            let assignees: Vec<UserId> = assignees.into_iter().map(name).collect();
            let h = Holders { owner: owner.as_ref(), assignees: &assignees };
            let (m, act) = (Module::ALL[m], Action::ALL[act]);
            prop_assert_eq!(may(&a, m, act, Some(h)), customer_scope(&a, m, act).admits(h));
            if may(&a, m, act, Some(h)) {
                prop_assert!(may(&a, m, act, None));
            }
        }
    }
}

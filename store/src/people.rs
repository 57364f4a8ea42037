//! Roles, teams, who holds each customer, and offboarding: the store writes
//! what `crm_domain::access` and `crm_domain::people` decided.

use sqlx::Row;

use super::{Store, StoreError, StoreResult, id_of};
use crate::auth::stored_grants;
use crate::ingest::write_timeline;
use crm_domain::access::{CustomerScope, Grants, check_role_edit, seeded};
use crm_domain::ids::{CustomerId, RoleId, TeamId, UserId};
use crm_domain::model::DomainEvent;
use crm_domain::people::{Handover, Holding, decide_assignment, decide_handover};
use crm_domain::util::{new_id, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoleView {
    pub id: RoleId,
    pub name: String,
    pub grants: Grants,
    pub builtin: bool,
    pub users: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TeamView {
    pub id: TeamId,
    pub name: String,
    pub lead_user_id: Option<UserId>,
    pub member_ids: Vec<UserId>,
}

/// What an offboarding moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HandoverSummary {
    pub customers: u64,
    pub sessions_ended: u64,
    pub tokens_revoked: u64,
    pub teams_led: u64,
    /// The user was already disabled before this run.
    pub was_disabled: bool,
    /// Customers each moved once: a repeat run reports zero.
    pub customer_ids: Vec<CustomerId>,
}

impl Store {
    pub async fn list_roles(&self) -> StoreResult<Vec<RoleView>> {
        let rows = sqlx::query(
            "SELECT r.id, r.name, r.grants, r.builtin, (SELECT COUNT(*) FROM users u WHERE u.role = r.id AND u.active = 1) AS users \
             FROM roles r ORDER BY r.builtin DESC, CASE r.id WHEN 'admin' THEN 0 WHEN 'manager' THEN 1 WHEN 'sales' THEN 2 WHEN 'operations' THEN 3 ELSE 4 END, r.created_at, r.id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let grants: String = r.try_get("grants")?;
                let builtin: i64 = r.try_get("builtin")?;
                Ok(RoleView {
                    id: id_of(r, "id", RoleId::new)?,
                    name: r.try_get("name")?,
                    grants: stored_grants(&grants)?,
                    builtin: builtin == 1,
                    users: r.try_get("users")?,
                })
            })
            .collect()
    }

    pub async fn role(&self, id: &RoleId) -> StoreResult<RoleView> {
        self.list_roles()
            .await?
            .into_iter()
            .find(|r| r.id == *id)
            .ok_or(StoreError::NotFound)
    }

    /// Creates a role (`id` from its name when not given) or replaces an
    /// existing one's name and grants; the admin role is refused.
    pub async fn put_role(
        &self,
        id: Option<&RoleId>,
        name: &str,
        grants: &Grants,
    ) -> StoreResult<(RoleId, bool)> {
        let id = id
            .cloned()
            .unwrap_or_else(|| RoleId::new(format!("role_{}", new_id().to_lowercase())));
        check_role_edit(&id, name).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let json = serde_json::to_string(grants)
            .map_err(|e| StoreError::Invariant(format!("role grants do not serialise: {e}")))?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let existed = sqlx::query("SELECT id FROM roles WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        sqlx::query(
            "INSERT INTO roles (id, name, grants, builtin, created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, grants = excluded.grants, updated_at = excluded.updated_at",
        )
        .bind(id.as_str())
        .bind(name.trim())
        .bind(json)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((id, !existed))
    }

    pub async fn list_teams(&self) -> StoreResult<Vec<TeamView>> {
        let rows = sqlx::query("SELECT id, name, lead_user_id FROM teams ORDER BY name")
            .fetch_all(self.reader())
            .await?;
        let members = sqlx::query("SELECT team_id, user_id FROM team_members ORDER BY user_id")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let lead: Option<String> = r.try_get("lead_user_id")?;
                let member_ids = members
                    .iter()
                    .filter(|m| m.try_get::<String, _>("team_id").is_ok_and(|t| t == id))
                    .map(|m| id_of(m, "user_id", UserId::new))
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(TeamView {
                    id: TeamId::new(id),
                    name: r.try_get("name")?,
                    lead_user_id: lead.map(UserId::new),
                    member_ids,
                })
            })
            .collect()
    }

    /// Creates a team or replaces an existing one's name, lead and members.
    pub async fn put_team(
        &self,
        id: Option<&TeamId>,
        name: &str,
        lead: Option<&UserId>,
        members: &[UserId],
    ) -> StoreResult<(TeamId, bool)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(StoreError::Invalid(
                "a team needs a name of 1 to 80 characters".into(),
            ));
        }
        let id = id.cloned().unwrap_or_else(TeamId::generate);
        let mut tx = self.begin_write().await?;
        let mut everyone: Vec<&UserId> = members.iter().collect();
        everyone.extend(lead);
        for u in &everyone {
            if sqlx::query("SELECT id FROM users WHERE id = $1")
                .bind(u.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_none()
            {
                return Err(StoreError::Invalid(format!("no user {u}")));
            }
        }
        let existed = sqlx::query("SELECT id FROM teams WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        let done = sqlx::query(
            "INSERT INTO teams (id, name, lead_user_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, lead_user_id = excluded.lead_user_id",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(lead.map(UserId::as_str))
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        if let Err(e) = done {
            let e = StoreError::from(e);
            return Err(if e.is_unique_violation() {
                StoreError::Conflict(format!("a team named {name} exists"))
            } else {
                e
            });
        }
        sqlx::query("DELETE FROM team_members WHERE team_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        for u in everyone {
            sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id.as_str())
                .bind(u.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((id, !existed))
    }

    /// Who holds `customer`.
    pub async fn holding(&self, customer: &CustomerId) -> StoreResult<Holding> {
        let mut tx = self.read_snapshot().await?;
        let h = holding_in(&mut tx, customer).await?;
        tx.commit().await?;
        Ok(h)
    }

    /// Sets `customer`'s holders as the domain decides; returns the holding
    /// after and the event to publish when it changed.
    pub async fn assign_customer(
        &self,
        customer: &CustomerId,
        after: Holding,
        by: &str,
        request_key: &str,
    ) -> StoreResult<(Holding, Option<DomainEvent>)> {
        let mut tx = self.begin_write().await?;
        for u in after.owner.iter().chain(after.assignees.iter()) {
            let row = sqlx::query("SELECT active FROM users WHERE id = $1")
                .bind(u.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let active = match row {
                Some(r) => r.try_get::<i64, _>("active")? == 1,
                None => false,
            };
            if !active {
                return Err(StoreError::Invalid(format!("no active user {u}")));
            }
        }
        let before = holding_in(&mut tx, customer).await?;
        let now = now_ms();
        let Some(change) = decide_assignment(
            customer,
            &before,
            after,
            by,
            format!("assign:{request_key}"),
            now,
        ) else {
            tx.commit().await?;
            return Ok((before, None));
        };
        write_holding(&mut tx, customer, &change.after, now).await?;
        write_timeline(
            &mut tx,
            self.engine,
            std::slice::from_ref(&change.timeline),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((change.after, Some(change.event)))
    }

    /// Offboards `from`: disables them, ends their sessions and tokens, and
    /// hands every customer they own or are assigned to (and the teams they
    /// lead) to `to`, all in one transaction, with a timeline entry on each
    /// customer. A second run changes nothing a second time.
    pub async fn offboard(
        &self,
        from: &UserId,
        to: &UserId,
        by: &str,
        by_name: &str,
    ) -> StoreResult<(HandoverSummary, Vec<DomainEvent>)> {
        if from == to {
            return Err(StoreError::Invalid("hand the work to someone else".into()));
        }
        let from_user = self.user(from).await?;
        let to_user = self.user(to).await?;
        if !to_user.active {
            return Err(StoreError::Invalid(
                "the colleague taking over is disabled".into(),
            ));
        }
        let run = new_id();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let mut summary = HandoverSummary {
            was_disabled: !from_user.active,
            ..HandoverSummary::default()
        };
        sqlx::query("UPDATE users SET active = 0, updated_at = $2 WHERE id = $1")
            .bind(from.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        summary.sessions_ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        summary.tokens_revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(from.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        summary.teams_led =
            sqlx::query("UPDATE teams SET lead_user_id = $2 WHERE lead_user_id = $1")
                .bind(from.as_str())
                .bind(to.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let held = sqlx::query(
            "SELECT id FROM customers WHERE owner_id = $1 UNION SELECT customer_id FROM customer_assignees WHERE user_id = $1",
        )
        .bind(from.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let handover = Handover {
            from,
            from_name: from_user.display_name(),
            to,
            to_name: to_user.display_name(),
            by,
            by_name,
            run: &run,
        };
        let mut events = Vec::new();
        let mut timeline = Vec::new();
        for r in &held {
            let customer = CustomerId::new(r.try_get::<String, _>(0)?);
            let before = holding_in(&mut tx, &customer).await?;
            let Some(change) = decide_handover(&customer, &before, handover, now) else {
                continue;
            };
            write_holding(&mut tx, &customer, &change.after, now).await?;
            timeline.push(change.timeline);
            events.push(change.event);
            summary.customers += 1;
            summary.customer_ids.push(customer);
        }
        write_timeline(&mut tx, self.engine, &timeline, now).await?;
        tx.commit().await?;
        Ok((summary, events))
    }

    /// Users who may be handed work (active), for pickers.
    pub async fn active_user_ids(&self) -> StoreResult<Vec<UserId>> {
        let rows = sqlx::query("SELECT id FROM users WHERE active = 1 ORDER BY email")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| id_of(r, "id", UserId::new)).collect()
    }
}

/// `scope` as a SQL condition on customers aliased `c`, with the values it
/// binds, numbered from `$first`.
pub(crate) fn scope_condition(scope: &CustomerScope, first: usize) -> (String, Vec<String>) {
    match scope {
        CustomerScope::Everything => ("1 = 1".to_string(), Vec::new()),
        CustomerScope::Nothing => ("1 = 0".to_string(), Vec::new()),
        CustomerScope::HeldBy { users, unassigned } => {
            let mut parts = Vec::new();
            let values: Vec<String> = users.iter().map(|u| u.as_str().to_string()).collect();
            if !values.is_empty() {
                let list = (first..first + values.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                parts.push(format!("c.owner_id IN ({list})"));
                parts.push(format!(
                    "c.id IN (SELECT customer_id FROM customer_assignees WHERE user_id IN ({list}))"
                ));
            }
            if *unassigned {
                parts.push(
                    "(c.owner_id IS NULL AND NOT EXISTS (SELECT 1 FROM customer_assignees a WHERE a.customer_id = c.id))"
                        .to_string(),
                );
            }
            if parts.is_empty() {
                ("1 = 0".to_string(), Vec::new())
            } else {
                (format!("({})", parts.join(" OR ")), values)
            }
        }
    }
}

async fn holding_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    customer: &CustomerId,
) -> StoreResult<Holding> {
    let row = sqlx::query("SELECT owner_id FROM customers WHERE id = $1")
        .bind(customer.as_str())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let owner: Option<String> = row.try_get("owner_id")?;
    let rows = sqlx::query("SELECT user_id FROM customer_assignees WHERE customer_id = $1")
        .bind(customer.as_str())
        .fetch_all(&mut **tx)
        .await?;
    let assignees = rows
        .iter()
        .map(|r| id_of(r, "user_id", UserId::new))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Holding::new(owner.map(UserId::new), assignees))
}

async fn write_holding(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    customer: &CustomerId,
    h: &Holding,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE customers SET owner_id = $2, updated_at = $3 WHERE id = $1")
        .bind(customer.as_str())
        .bind(h.owner.as_ref().map(UserId::as_str))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM customer_assignees WHERE customer_id = $1")
        .bind(customer.as_str())
        .execute(&mut **tx)
        .await?;
    for a in &h.assignees {
        sqlx::query(
            "INSERT INTO customer_assignees (customer_id, user_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(customer.as_str())
        .bind(a.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The seeded admin role's id, for callers that create the first admin.
pub fn admin_role() -> RoleId {
    RoleId::new(seeded::ADMIN)
}

//! Who holds a customer: its owner and assignees, how an edit of them is
//! recorded, and what handing a leaving colleague's customers over writes.

use std::collections::BTreeSet;

use serde_json::json;

use crate::ids::{CustomerId, UserId};
use crate::model::{DomainEvent, EventKind};
use crate::plan::TimelineRow;

/// A customer's holders, kept normalised: assignees sorted, unique, and
/// without the owner (who holds it anyway).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holding {
    pub owner: Option<UserId>,
    pub assignees: Vec<UserId>,
}

impl Holding {
    pub fn new(owner: Option<UserId>, assignees: impl IntoIterator<Item = UserId>) -> Self {
        let set: BTreeSet<UserId> = assignees
            .into_iter()
            .filter(|a| owner.as_ref() != Some(a))
            .collect();
        Holding {
            owner,
            assignees: set.into_iter().collect(),
        }
    }

    pub fn holders(&self) -> crate::access::Holders<'_> {
        crate::access::Holders {
            owner: self.owner.as_ref(),
            assignees: &self.assignees,
        }
    }

    pub fn held_by(&self, user: &UserId) -> bool {
        self.owner.as_ref() == Some(user) || self.assignees.contains(user)
    }

    /// The same holding with `from` replaced by `to` wherever `from` held it.
    pub fn handed_over(&self, from: &UserId, to: &UserId) -> Holding {
        let swap = |u: &UserId| if u == from { to.clone() } else { u.clone() };
        Holding::new(
            self.owner.as_ref().map(swap),
            self.assignees.iter().map(swap),
        )
    }
}

/// What an assignment change writes: a timeline entry and the event that
/// tells other screens (and drops the customer from those that lose it).
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentChange {
    pub after: Holding,
    pub timeline: TimelineRow,
    pub event: DomainEvent,
}

/// Decides an edit of `customer`'s holders; `None` when nothing changes.
/// `natural_key` makes the timeline entry once-only for a retried request.
pub fn decide_assignment(
    customer: &CustomerId,
    before: &Holding,
    after: Holding,
    by: &str,
    natural_key: String,
    now: i64,
) -> Option<AssignmentChange> {
    if *before == after {
        return None;
    }
    let data = json!({
        "owner_id": after.owner,
        "assignee_ids": after.assignees,
        "before": {"owner_id": before.owner, "assignee_ids": before.assignees},
        "by": by,
    });
    Some(AssignmentChange {
        timeline: TimelineRow {
            customer_id: customer.as_str().to_string(),
            kind: "customer.assigned",
            natural_key,
            summary: Some("Owner or assignees changed".to_string()),
            data: data.to_string(),
            occurred_at: now,
        },
        event: DomainEvent::new(EventKind::CustomerAssigned, Some(customer.as_str()), data),
        after,
    })
}

/// Names as the handover entry shows them.
#[derive(Debug, Clone, Copy)]
pub struct Handover<'a> {
    pub from: &'a UserId,
    pub from_name: &'a str,
    pub to: &'a UserId,
    pub to_name: &'a str,
    pub by: &'a str,
    pub by_name: &'a str,
    /// One id per offboarding run: its entries are written once however
    /// often the run is retried.
    pub run: &'a str,
}

/// What handing `customer` over writes, or `None` when `from` does not hold it.
pub fn decide_handover(
    customer: &CustomerId,
    before: &Holding,
    h: Handover<'_>,
    now: i64,
) -> Option<AssignmentChange> {
    if !before.held_by(h.from) {
        return None;
    }
    let after = before.handed_over(h.from, h.to);
    let data = json!({
        "owner_id": after.owner,
        "assignee_ids": after.assignees,
        "before": {"owner_id": before.owner, "assignee_ids": before.assignees},
        "from_user_id": h.from,
        "to_user_id": h.to,
        "by": h.by,
        "handover": true,
    });
    Some(AssignmentChange {
        timeline: TimelineRow {
            customer_id: customer.as_str().to_string(),
            kind: "customer.handed_over",
            natural_key: format!("{}:{customer}", h.run),
            summary: Some(format!(
                "Handed over from {} to {} by {}",
                h.from_name, h.to_name, h.by_name
            )),
            data: data.to_string(),
            occurred_at: now,
        },
        event: DomainEvent::new(EventKind::CustomerAssigned, Some(customer.as_str()), data),
        after,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn u(s: &str) -> UserId {
        UserId::new(s)
    }

    #[test]
    fn holdings_are_normalised_and_unchanged_edits_write_nothing() {
        let h = Holding::new(Some(u("a")), [u("c"), u("a"), u("b"), u("c")]);
        assert_eq!(h.assignees, vec![u("b"), u("c")]);
        let c = CustomerId::new("c1");
        assert!(decide_assignment(&c, &h, h.clone(), "user:x", "k".into(), 1).is_none());
        let change = decide_assignment(
            &c,
            &h,
            Holding::new(Some(u("b")), []),
            "user:x",
            "k".into(),
            1,
        )
        .unwrap();
        assert_eq!(change.event.kind, EventKind::CustomerAssigned);
        assert_eq!(change.timeline.kind, "customer.assigned");
    }

    #[test]
    fn a_handover_swaps_the_leaver_for_the_colleague_everywhere() {
        let c = CustomerId::new("c1");
        let (a, b, x) = (u("a"), u("b"), u("x"));
        let before = Holding::new(Some(a.clone()), [x.clone(), b.clone()]);
        let h = Handover {
            from: &a,
            from_name: "Ayşe",
            to: &b,
            to_name: "Burak",
            by: "user:x",
            by_name: "Admin",
            run: "run1",
        };
        let change = decide_handover(&c, &before, h, 5).unwrap();
        // Burak was an assignee and becomes the owner; he is not listed twice.
        assert_eq!(change.after, Holding::new(Some(b.clone()), [x.clone()]));
        assert_eq!(
            change.timeline.summary.as_deref(),
            Some("Handed over from Ayşe to Burak by Admin")
        );
        assert_eq!(change.timeline.natural_key, "run1:c1");
        // A second run finds nothing of Ayşe's left.
        assert!(decide_handover(&c, &change.after, h, 6).is_none());
        let assigned_only = Holding::new(Some(x.clone()), [a.clone()]);
        assert_eq!(
            decide_handover(&c, &assigned_only, h, 5).unwrap().after,
            Holding::new(Some(x), [b])
        );
    }
}

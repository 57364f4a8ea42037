//! Cards on a pipeline: whether a card moves, and what a move records.

use serde_json::json;

use crate::ids::{CardId, CustomerId, PipelineId, StageId};
use crate::model::{DomainEvent, EventKind};
use crate::plan::TimelineRow;

/// A card as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardAt {
    pub card_id: CardId,
    pub stage_id: StageId,
}

/// The stage a card is asked to go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStage {
    pub id: StageId,
    pub name: String,
    pub pipeline_id: PipelineId,
}

/// What a move writes: the card's new stage (only if it is still in `from`),
/// a timeline entry and the event for other screens.
#[derive(Debug, Clone, PartialEq)]
pub struct CardMove {
    pub card_id: CardId,
    pub from: StageId,
    pub to: StageId,
    pub timeline: TimelineRow,
    pub event: DomainEvent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MoveDecision {
    /// Already there: nothing to write, nobody to tell.
    Stay,
    Move(Box<CardMove>),
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveRefused {
    /// The mover saw the card in another stage than it is now: someone
    /// moved it meanwhile.
    #[error("card is in stage {current}, not {expected}")]
    Stale { current: StageId, expected: StageId },
}

/// Decides a move of `customer`'s `card` to `target`. With `expected`, the
/// move happens only from that stage (optimistic concurrency: the stage the
/// mover saw).
pub fn decide_move(
    customer: &CustomerId,
    card: &CardAt,
    target: &TargetStage,
    expected: Option<&StageId>,
    actor: &str,
    natural_key: String,
    now: i64,
) -> Result<MoveDecision, MoveRefused> {
    if let Some(expected) = expected
        && *expected != card.stage_id
    {
        return Err(MoveRefused::Stale {
            current: card.stage_id.clone(),
            expected: expected.clone(),
        });
    }
    if card.stage_id == target.id {
        return Ok(MoveDecision::Stay);
    }
    let data = json!({
        "card_id": card.card_id,
        "from_stage_id": card.stage_id,
        "to_stage_id": target.id,
        "to_stage_name": target.name,
        "by": actor,
    });
    let timeline = TimelineRow {
        customer_id: customer.as_str().to_string(),
        kind: "card.moved",
        natural_key,
        summary: Some(format!("Moved to {}", target.name)),
        data: data.to_string(),
        occurred_at: now,
    };
    let mut event = DomainEvent::new(EventKind::CardMoved, Some(customer.as_str()), data);
    event.pipeline_id = Some(target.pipeline_id.clone());
    Ok(MoveDecision::Move(Box::new(CardMove {
        card_id: card.card_id.clone(),
        from: card.stage_id.clone(),
        to: target.id.clone(),
        timeline,
        event,
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn card(stage: &str) -> CardAt {
        CardAt {
            card_id: CardId::new("k1"),
            stage_id: StageId::new(stage),
        }
    }

    fn target(stage: &str) -> TargetStage {
        TargetStage {
            id: StageId::new(stage),
            name: "Randevu".into(),
            pipeline_id: PipelineId::new("pl_default"),
        }
    }

    #[test]
    fn a_move_records_where_from_where_to_and_who() {
        let c = CustomerId::new("c1");
        let d = decide_move(
            &c,
            &card("s1"),
            &target("s3"),
            None,
            "user:u1",
            "n1".into(),
            7,
        )
        .unwrap();
        let MoveDecision::Move(m) = d else {
            panic!("expected a move")
        };
        assert_eq!((m.from.as_str(), m.to.as_str()), ("s1", "s3"));
        assert_eq!(m.timeline.kind, "card.moved");
        assert_eq!(m.timeline.summary.as_deref(), Some("Moved to Randevu"));
        assert_eq!(m.timeline.occurred_at, 7);
        assert_eq!(m.event.kind, EventKind::CardMoved);
        assert_eq!(m.event.customer_id, Some(c.clone()));
        assert_eq!(m.event.pipeline_id, Some(PipelineId::new("pl_default")));
        assert_eq!(m.event.data["from_stage_id"], "s1");
        assert_eq!(m.event.data["by"], "user:u1");
    }

    #[test]
    fn same_stage_stays_and_a_stale_view_is_refused() {
        let c = CustomerId::new("c1");
        assert_eq!(
            decide_move(&c, &card("s3"), &target("s3"), None, "a", "n".into(), 1),
            Ok(MoveDecision::Stay)
        );
        assert_eq!(
            decide_move(
                &c,
                &card("s2"),
                &target("s3"),
                Some(&StageId::new("s1")),
                "a",
                "n".into(),
                1
            ),
            Err(MoveRefused::Stale {
                current: StageId::new("s2"),
                expected: StageId::new("s1")
            })
        );
        // The stage the mover saw is checked even when the target is where
        // the card already is.
        assert!(
            decide_move(
                &c,
                &card("s3"),
                &target("s3"),
                Some(&StageId::new("s1")),
                "a",
                "n".into(),
                1
            )
            .is_err()
        );
        assert!(matches!(
            decide_move(
                &c,
                &card("s1"),
                &target("s3"),
                Some(&StageId::new("s1")),
                "a",
                "n".into(),
                1
            ),
            Ok(MoveDecision::Move(_))
        ));
    }
}

//! The plan catalog (DESIGN §4): what each plan costs per month and what a billing period of it
//! includes before overage is charged.
//!
//! The catalog is code, not data, because every other rule (overage, spend cap, proration, MRR)
//! is defined against exactly these numbers; the server seeds its plans table from `PlanId::ALL`.

use crate::money::Cents;
use crate::names::named_enum;

/// One gigabyte as the plans count it: 10^9 bytes, not 2^30.
pub const GB: u64 = 1_000_000_000;

/// The data overage unit: 100 MB = 10^8 bytes. Overage is charged per *started* block.
pub const DATA_OVERAGE_BLOCK_BYTES: u64 = 100_000_000;

named_enum! {
    /// Which plan a subscription is on. Ordered from cheapest to dearest.
    pub enum PlanId as "plan" {
        Basic => "basic",
        Plus => "plus",
        Premium => "premium",
    }
}

/// Whether moving between two plans is an upgrade, a downgrade or no change; upgrades apply at
/// once with a prorated charge, downgrades at the next period (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanChange {
    Upgrade,
    Downgrade,
    Same,
}

/// A plan's price and what one billing period of it includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub id: PlanId,
    /// Price per monthly period, charged in advance.
    pub price: Cents,
    /// Notifications included per period; `None` = unlimited.
    pub notification_limit: Option<u64>,
    /// Device-API bytes included per period.
    pub data_limit_bytes: u64,
    /// Price of each notification past the limit; `None` when the plan has no notification
    /// overage (premium, which is unlimited).
    pub notification_overage: Option<Cents>,
    /// Price of each started 100 MB block past the data limit.
    pub data_overage_per_100mb: Cents,
    /// Days a mail event's photos are kept before the retention job deletes them.
    pub photo_retention_days: u32,
}

const BASIC: Plan = Plan {
    id: PlanId::Basic,
    price: Cents::new(500),
    notification_limit: Some(100),
    data_limit_bytes: GB,
    notification_overage: Some(Cents::new(5)),
    data_overage_per_100mb: Cents::new(20),
    photo_retention_days: 90,
};

const PLUS: Plan = Plan {
    id: PlanId::Plus,
    price: Cents::new(1000),
    notification_limit: Some(500),
    data_limit_bytes: 5 * GB,
    notification_overage: Some(Cents::new(5)),
    data_overage_per_100mb: Cents::new(20),
    photo_retention_days: 365,
};

const PREMIUM: Plan = Plan {
    id: PlanId::Premium,
    price: Cents::new(2000),
    notification_limit: None,
    data_limit_bytes: 20 * GB,
    notification_overage: None,
    data_overage_per_100mb: Cents::new(20),
    photo_retention_days: 730,
};

impl PlanId {
    /// The catalog entry for this plan.
    pub const fn plan(self) -> &'static Plan {
        match self {
            PlanId::Basic => &BASIC,
            PlanId::Plus => &PLUS,
            PlanId::Premium => &PREMIUM,
        }
    }

    /// Position in the upgrade order: a higher rank is an upgrade.
    pub const fn rank(self) -> u8 {
        match self {
            PlanId::Basic => 0,
            PlanId::Plus => 1,
            PlanId::Premium => 2,
        }
    }

    /// Classifies moving from `self` to `to`.
    pub fn change_to(self, to: PlanId) -> PlanChange {
        match to.rank().cmp(&self.rank()) {
            std::cmp::Ordering::Greater => PlanChange::Upgrade,
            std::cmp::Ordering::Less => PlanChange::Downgrade,
            std::cmp::Ordering::Equal => PlanChange::Same,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_matches_the_design() {
        let basic = PlanId::Basic.plan();
        assert_eq!(basic.price, Cents::new(500));
        assert_eq!(basic.notification_limit, Some(100));
        assert_eq!(basic.data_limit_bytes, 1_000_000_000);
        assert_eq!(basic.notification_overage, Some(Cents::new(5)));
        assert_eq!(basic.data_overage_per_100mb, Cents::new(20));

        let plus = PlanId::Plus.plan();
        assert_eq!(plus.price, Cents::new(1000));
        assert_eq!(plus.notification_limit, Some(500));
        assert_eq!(plus.data_limit_bytes, 5_000_000_000);
        assert_eq!(plus.notification_overage, Some(Cents::new(5)));

        let premium = PlanId::Premium.plan();
        assert_eq!(premium.price, Cents::new(2000));
        assert_eq!(premium.notification_limit, None);
        assert_eq!(premium.data_limit_bytes, 20_000_000_000);
        assert_eq!(premium.notification_overage, None);
        assert_eq!(premium.data_overage_per_100mb, Cents::new(20));
    }

    #[test]
    fn every_plan_knows_its_own_id() {
        for &id in PlanId::ALL {
            assert_eq!(id.plan().id, id);
        }
    }

    #[test]
    fn plan_names_round_trip() {
        for &id in PlanId::ALL {
            assert_eq!(id.as_str().parse::<PlanId>(), Ok(id));
        }
        assert_eq!(PlanId::Premium.as_str(), "premium");
    }

    #[test]
    fn an_unknown_plan_name_is_named_in_the_error() {
        let err = "gold".parse::<PlanId>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown plan \"gold\"; expected one of: basic, plus, premium")
        );
    }

    #[test]
    fn rank_orders_plans_by_price() {
        assert_eq!(
            PlanId::Basic.change_to(PlanId::Premium),
            PlanChange::Upgrade
        );
        assert_eq!(
            PlanId::Premium.change_to(PlanId::Plus),
            PlanChange::Downgrade
        );
        assert_eq!(PlanId::Plus.change_to(PlanId::Plus), PlanChange::Same);
        for pair in PlanId::ALL.windows(2) {
            assert!(pair[0].rank() < pair[1].rank());
            assert!(pair[0].plan().price < pair[1].plan().price);
        }
    }

    #[test]
    fn plans_serialize_as_their_names() {
        assert_eq!(
            serde_json::to_string(&PlanId::Plus).ok(),
            Some("\"plus\"".into())
        );
        let parsed: Result<PlanId, _> = serde_json::from_str("\"basic\"");
        assert_eq!(parsed.ok(), Some(PlanId::Basic));
        assert!(serde_json::from_str::<PlanId>("\"gold\"").is_err());
    }
}

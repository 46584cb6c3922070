//! Who takes an action: the customer who must own what they touch, a staff member (whose role
//! decides what they may do), a job, or the command line. The audit log names them.

use smartbox_domain::UserId;

use super::ServiceError;

/// The role of a staff member (DESIGN §6): support reads everything and acts on devices; only
/// an admin refunds, credits or changes prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    Support,
    Admin,
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A customer acting on their own things.
    Customer(UserId),
    /// A staff member acting on a customer's things.
    Staff { id: UserId, role: StaffRole },
    /// A background job, by kind.
    Job(&'static str),
    /// The `smartbox` command line, run by an operator.
    Cli,
}

impl Actor {
    /// A customer acting through the portal or the API.
    pub fn customer(id: impl Into<UserId>) -> Actor {
        Actor::Customer(id.into())
    }

    /// How the audit log names the actor: `customer:<id>`, `staff:<id>`, `job:<kind>`, `cli`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Customer(id) => format!("customer:{id}"),
            Actor::Staff { id, .. } => format!("staff:{id}"),
            Actor::Job(kind) => format!("job:{kind}"),
            Actor::Cli => "cli".to_owned(),
        }
    }

    /// Whether the actor may act on something owned by `owner` (`None`: nobody's yet). A
    /// customer only on their own; staff, jobs and the CLI on anyone's.
    pub fn may_act_for(&self, owner: Option<&str>) -> bool {
        match self {
            Actor::Customer(id) => owner == Some(id.as_str()),
            Actor::Staff { .. } | Actor::Job(_) | Actor::Cli => true,
        }
    }

    /// `Ok` when the actor may act on `customer`'s account; another customer's is not found.
    pub fn check_account(&self, customer: &UserId) -> Result<(), ServiceError> {
        if self.may_act_for(Some(customer.as_str())) {
            Ok(())
        } else {
            Err(ServiceError::not_found("account", customer.as_str()))
        }
    }

    /// Why the change was made, for the audit entry, when the actor gave no reason.
    pub fn default_reason(&self) -> &'static str {
        match self {
            Actor::Customer(_) => "requested by the customer",
            Actor::Staff { .. } => "by staff",
            Actor::Job(_) => "scheduled",
            Actor::Cli => "by an operator",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_acts_only_on_their_own_things_and_staff_on_anyones() {
        let ada = Actor::customer("ada");
        assert!(ada.may_act_for(Some("ada")));
        assert!(!ada.may_act_for(Some("bob")));
        assert!(!ada.may_act_for(None));
        let support = Actor::Staff {
            id: UserId::new("sam"),
            role: StaffRole::Support,
        };
        assert!(support.may_act_for(Some("bob")));
        assert_eq!(support.audit_name(), "staff:sam");
        assert_eq!(ada.audit_name(), "customer:ada");
    }
}

//! The closed sets of projects and flows: what an operator sets with `bvctl`
//! and the worker checks before it accepts a validation.

crate::closed_set! {
    /// Whether a project takes new validations.
    pub enum ProjectStatus {
        Active = "active",
        Inactive = "inactive",
    }
}

crate::closed_set! {
    /// The kind of a project's flow.
    pub enum FlowType {
        Login = "login",
        Onboarding = "onboarding",
    }
}

crate::closed_set! {
    /// Where a flow is in its life; only `active` flows take validations.
    pub enum FlowStatus {
        Draft = "draft",
        Active = "active",
        Paused = "paused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_agree_with_serde_and_parse_back() {
        for s in FlowStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.as_str().parse::<FlowStatus>(), Ok(*s));
        }
        let err = "archived".parse::<FlowStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`archived` is not one of `draft`, `active` or `paused`"
        );
        assert_eq!(FlowType::expected(), "`login` or `onboarding`");
        assert_eq!(ProjectStatus::parse("active"), Some(ProjectStatus::Active));
    }
}

//! The WCP routing rules engine (spec §4.1, §5.1): typed route inputs, rule
//! sets in the PyHall rules JSON format, and first-match matching. Pure: no
//! I/O. The router (candidate selection, controls, blast radius, policy gate)
//! builds on this.
//!
//! - [`RouteInput::parse`] turns a request body into a typed input, naming
//!   the field it refuses.
//! - [`RuleSet::parse`] turns a rules document into a compiled rule set,
//!   refusing bad ids, unknown keys, duplicate rule ids, empty rule sets and
//!   rules that an earlier rule (or earlier rules together) make unreachable.
//! - [`RuleSet::first_match`] picks the first rule that matches an input;
//!   `None` means the request is denied (fail closed, §5.1).
//! - [`route::decide`] turns the matched rule and the worker the service
//!   selected into a [`RouteDecision`] (§4.2): controls, blast radius,
//!   policy gate, REQUIRE_HUMAN and the telemetry envelopes.
//! - [`RulesVersion`] numbers a tenant's stored rule sets; [`snapshot`]
//!   checks golden cases (§5.2) against a rule set.

pub mod input;
pub mod route;
pub mod rules;
mod shadow;
pub mod snapshot;
pub mod telemetry;
pub mod version;

pub use input::{CorrelationId, RouteInput, RouteInputError, MAX_REQUEST_BYTES};
pub use route::{RouteDecision, RouteOutcome};
pub use rules::{
    Candidate, Condition, Decision, Escalation, MatchSpec, Preconditions, Rule, RuleId, RuleSet,
    RuleSetError, RuleSetProblem, MAX_RULES,
};
pub use shadow::{shadow_pairs, ShadowPair};
pub use version::{RulesVersion, RulesVersionError};

/// `CONFIDENTIAL` is accepted wherever a data label is read for routing (in a
/// route input and in a rule's `data_label` match) as an alias of
/// `RESTRICTED`: integrations send it, and reading it as the strictest label
/// never widens access.
pub fn parse_data_label(s: &str) -> Result<wcp::DataLabel, wcp::VocabError> {
    if s.eq_ignore_ascii_case("CONFIDENTIAL") {
        return Ok(wcp::DataLabel::Restricted);
    }
    wcp::DataLabel::parse(s).map_err(|_| wcp::VocabError::NotOneOf {
        field: "data_label".into(),
        value: s.to_string(),
        allowed: DATA_LABEL_ALLOWED,
    })
}

/// What [`parse_data_label`] accepts, as error messages say it.
pub const DATA_LABEL_ALLOWED: &str =
    "PUBLIC, INTERNAL or RESTRICTED (in any case; CONFIDENTIAL is read as RESTRICTED)";

#[cfg(test)]
mod tests {
    use super::*;
    use wcp::DataLabel;

    #[test]
    fn confidential_is_read_as_restricted() {
        assert_eq!(parse_data_label("CONFIDENTIAL"), Ok(DataLabel::Restricted));
        assert_eq!(parse_data_label("confidential"), Ok(DataLabel::Restricted));
        assert_eq!(parse_data_label("internal"), Ok(DataLabel::Internal));
    }

    #[test]
    fn an_unknown_label_names_the_field_and_the_alias() {
        let err = parse_data_label("SECRET").unwrap_err().to_string();
        assert!(err.contains("data_label"), "{err}");
        assert!(err.contains("CONFIDENTIAL"), "{err}");
    }
}

//! The closed vocabularies of the domain (roles, channels, outcomes...), each with its wire spelling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares a string enum with `as_str`, `FromStr`, `Display`, serde and an OpenAPI schema, all from one list so
/// the spelling cannot drift between the database, the API and the docs.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and database spelling.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted spellings, for error messages.
            pub fn expected() -> String {
                [$($text),+].join(", ")
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("`{}` is not one of {}", other, $name::expected())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What an agent may do (DESIGN.md section 12).
    Role { Agent => "agent", Manager => "manager", Admin => "admin" }
}

vocabulary! {
    /// The channel an interaction happened on.
    Channel {
        Phone => "phone", Email => "email", Sms => "sms", Whatsapp => "whatsapp", Social => "social",
        Chat => "chat", Visit => "visit", Letter => "letter",
    }
}

vocabulary! {
    /// Who started an interaction.
    Direction { Inbound => "inbound", Outbound => "outbound" }
}

vocabulary! {
    /// How an interaction ended.
    Outcome {
        Reached => "reached", NoAnswer => "no_answer", Voicemail => "voicemail", LeftMessage => "left_message",
        Resolved => "resolved", Other => "other",
    }
}

vocabulary! {
    /// How a promise is judged (DESIGN.md section 5).
    PromiseKind {
        /// An exact time to contact the customer.
        Callback => "callback",
        /// Something done by a date.
        Deadline => "deadline",
        /// A periodic contact until the matter is closed.
        Update => "update",
    }
}

vocabulary! {
    /// Where a promise is in its life.
    PromiseStatus {
        Open => "open", Missed => "missed", Kept => "kept", Broken => "broken", Cancelled => "cancelled",
    }
}

vocabulary! {
    /// Who asked for a change.
    Initiator { Customer => "customer", Agent => "agent" }
}

vocabulary! {
    /// The entries of the append-only promise ledger.
    EventKind {
        Created => "created", Rescheduled => "rescheduled", Reminded => "reminded", Prompted => "prompted",
        Acknowledged => "acknowledged", HandedOver => "handed_over", Kept => "kept", Missed => "missed",
        Broken => "broken", Cancelled => "cancelled", Escalated => "escalated", Recomputed => "recomputed",
    }
}

impl PromiseStatus {
    /// Open and missed promises can still be kept, rescheduled, cancelled or handed over.
    pub fn is_active(self) -> bool {
        matches!(self, PromiseStatus::Open | PromiseStatus::Missed)
    }
}

impl PromiseKind {
    /// Callbacks and updates mean contacting the customer, so contact windows and do-not-call apply to them.
    pub fn contacts_customer(self) -> bool {
        !matches!(self, PromiseKind::Deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips_through_from_str_and_serde() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), *kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
        }
        for outcome in Outcome::ALL {
            assert_eq!(outcome.as_str().parse::<Outcome>().unwrap(), *outcome);
        }
    }

    #[test]
    fn unknown_spelling_lists_the_accepted_ones() {
        let err = "fax".parse::<Channel>().unwrap_err();
        assert!(err.contains("`fax`") && err.contains("whatsapp"), "{err}");
    }
}

//! Words for the shopkeeper's card that do not need a template: the customer's clock in a sentence and a
//! suggested opening line in the customer's language.

use chrono::{DateTime, Utc};

use super::time::Tz;

/// The first word of a name, used to greet people the way an agent would.
pub fn first_name(full: &str) -> &str {
    full.split_whitespace().next().unwrap_or(full)
}

/// The customer's wall clock now, e.g. "11:05 in Europe/Madrid (UTC+01:00)".
pub fn clock_sentence(now: DateTime<Utc>, zone: Tz) -> String {
    let local = now.with_timezone(&zone);
    format!("{} in {} (UTC{})", local.format("%H:%M"), zone.name(), local.format("%:z"))
}

/// A suggested opening for the call, in the customer's language (Spanish or English; others fall back to
/// English until a template exists for them).
pub fn opening_line(customer_locale: &str, customer_name: &str, agent_name: &str, has_promise: bool) -> String {
    let customer = first_name(customer_name);
    let agent = first_name(agent_name);
    let spanish = customer_locale.to_ascii_lowercase().starts_with("es");
    match (spanish, has_promise) {
        (true, true) => format!("Hola {customer}, soy {agent}. Te llamo como quedamos."),
        (true, false) => format!("Hola {customer}, soy {agent}. ¿En qué te puedo ayudar?"),
        (false, true) => format!("Hi {customer}, this is {agent}, calling you back as we agreed."),
        (false, false) => format!("Hi {customer}, this is {agent}. How can I help?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_in_the_customers_language_by_first_name() {
        assert_eq!(
            opening_line("es-ES", "Víctor Lanuza", "Marta Gil", true),
            "Hola Víctor, soy Marta. Te llamo como quedamos."
        );
        assert!(opening_line("en-US", "Dana Whitfield", "Marta Gil", true).starts_with("Hi Dana, this is Marta"));
    }

    #[test]
    fn clock_sentence_shows_local_time_zone_and_offset() {
        let now = DateTime::parse_from_rfc3339("2026-03-17T10:05:00Z").unwrap().with_timezone(&Utc);
        let zone: Tz = "Europe/Madrid".parse().unwrap();
        assert_eq!(clock_sentence(now, zone), "11:05 in Europe/Madrid (UTC+01:00)");
    }
}

//! Text rendering with handlebars: the prompt card, its email subject, the hand-over note and the customer-facing
//! confirmation, per language. Templates are embedded in the binary (strict mode, so a misspelt field fails loudly) and any file of
//! the same name in the configured directory overrides its embedded twin.

use std::path::Path;

use chrono::{DateTime, Datelike, Utc};
use handlebars::Handlebars;
use serde_json::Value;

use crate::domain::time::Tz;

/// The embedded templates: (name, text).
const EMBEDDED: &[(&str, &str)] = &[
    ("prompts/es/card", include_str!("../../templates/prompts/es/card.hbs")),
    ("prompts/en/card", include_str!("../../templates/prompts/en/card.hbs")),
    ("prompts/es/confirmation", include_str!("../../templates/prompts/es/confirmation.hbs")),
    ("prompts/en/confirmation", include_str!("../../templates/prompts/en/confirmation.hbs")),
    ("prompts/es/subject", include_str!("../../templates/prompts/es/subject.hbs")),
    ("prompts/en/subject", include_str!("../../templates/prompts/en/subject.hbs")),
    ("prompts/es/handover", include_str!("../../templates/prompts/es/handover.hbs")),
    ("prompts/en/handover", include_str!("../../templates/prompts/en/handover.hbs")),
];

/// The languages with templates; others fall back to English.
pub const LANGUAGES: &[&str] = &["es", "en"];

/// The template registry.
pub struct Views {
    registry: Handlebars<'static>,
}

impl Views {
    /// Registers the embedded templates, then the overrides found in `override_dir` (e.g. `prompts/es/card.hbs`).
    pub fn new(override_dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        // These are plain-text renderings (inbox, email, webhook payloads); HTML pages escape on their own.
        registry.register_escape_fn(handlebars::no_escape);
        for (name, text) in EMBEDDED {
            registry.register_template_string(name, *text)?;
        }
        if let Some(dir) = override_dir {
            for (name, _) in EMBEDDED {
                let path = dir.join(format!("{name}.hbs"));
                if path.exists() {
                    registry
                        .register_template_file(name, &path)
                        .map_err(|e| anyhow::anyhow!("template {}: {e}", path.display()))?;
                }
            }
        }
        Ok(Self { registry })
    }

    /// Renders `prompts/<lang>/<template>` for a locale such as `es-ES`.
    pub fn render(&self, locale: &str, template: &str, context: &Value) -> anyhow::Result<String> {
        let name = format!("prompts/{}/{template}", language(locale));
        self.registry.render(&name, context).map_err(|e| anyhow::anyhow!("rendering {name}: {e}"))
    }

    /// Renders several templates of a locale against one context and hands the context back: `render` copies
    /// its context before rendering, which for a prompt card is a deep copy per template.
    pub fn render_all(&self, locale: &str, templates: &[&str], context: Value) -> anyhow::Result<(Vec<String>, Value)> {
        let mut context = handlebars::Context::from(context);
        let mut texts = Vec::with_capacity(templates.len());
        for template in templates {
            let name = format!("prompts/{}/{template}", language(locale));
            texts.push(
                self.registry
                    .render_with_context(&name, &context)
                    .map_err(|e| anyhow::anyhow!("rendering {name}: {e}"))?,
            );
        }
        Ok((texts, std::mem::take(context.data_mut())))
    }
}

/// The template language for a BCP 47 locale.
pub fn language(locale: &str) -> &'static str {
    let primary = locale.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    LANGUAGES.iter().find(|l| **l == primary).copied().unwrap_or("en")
}

const ES_DAYS: [&str; 7] = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"];
const EN_DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const ES_MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A wall-clock instant as people say it, in the locale's language: "martes 17 de marzo a las 11:00" or
/// "Tuesday 17 March at 11:00".
pub fn spoken_datetime(at: DateTime<Utc>, zone: Tz, locale: &str) -> String {
    let local = at.with_timezone(&zone);
    let day = local.weekday().num_days_from_monday() as usize;
    let month = local.month0() as usize;
    let time = local.format("%H:%M");
    if language(locale) == "es" {
        format!("{} {} de {} a las {time}", ES_DAYS[day], local.day(), ES_MONTHS[month])
    } else {
        format!("{} {} {} at {time}", EN_DAYS[day], local.day(), EN_MONTHS[month])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spoken_times_in_spanish_and_english() {
        let at = DateTime::parse_from_rfc3339("2026-03-17T10:00:00Z").unwrap().with_timezone(&Utc);
        let madrid: Tz = "Europe/Madrid".parse().unwrap();
        assert_eq!(spoken_datetime(at, madrid, "es-ES"), "martes 17 de marzo a las 11:00");
        assert_eq!(spoken_datetime(at, madrid, "en-US"), "Tuesday 17 March at 11:00");
        assert_eq!(language("pt-BR"), "en");
    }

    #[test]
    fn confirmation_is_rendered_in_the_customers_language() {
        let views = Views::new(None).unwrap();
        let context = json!({ "is_deadline": false, "due_text": "martes 17 de marzo a las 11:00" });
        assert_eq!(
            views.render("es-ES", "confirmation", &context).unwrap().trim(),
            "Te llamaremos el martes 17 de marzo a las 11:00, tu hora."
        );
    }

    #[test]
    fn strict_mode_refuses_a_missing_field() {
        let views = Views::new(None).unwrap();
        assert!(views.render("en", "confirmation", &json!({ "is_deadline": false })).is_err());
    }

    #[test]
    fn a_file_in_the_override_directory_replaces_the_embedded_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("prompts/en")).unwrap();
        std::fs::write(dir.path().join("prompts/en/confirmation.hbs"), "Call on {{due_text}}").unwrap();
        let views = Views::new(Some(dir.path())).unwrap();
        let text = views.render("en", "confirmation", &json!({ "is_deadline": false, "due_text": "Monday" })).unwrap();
        assert_eq!(text, "Call on Monday");
    }
}

//! Planning a promise's due time (DESIGN.md section 4): from what the agent typed (a customer wall-clock time,
//! or "within 15 days", or "within 10 business days") to a UTC instant, with the checks that protect the
//! customer (contact window, do-not-call, not in the past) and the warnings that help the agent (DST
//! adjustments, owner off shift or away).

use chrono::{DateTime, NaiveDateTime, Utc};

use super::time::{
    format_offset, parse_local, parse_zone, resolve_local, within_business_days, within_days_iso, Disambiguation,
    HolidayCalendar, NearestSlots, TimeError, Tz, WeeklyWindow,
};
use super::vocab::PromiseKind;

/// The due-time fields of a create or reschedule request, as received.
#[derive(Clone, Debug, Default)]
pub struct DueInput {
    /// Customer wall-clock time, e.g. `2026-03-29T02:30`.
    pub due_local: Option<String>,
    /// IANA zone; defaults to the customer's.
    pub time_zone: Option<String>,
    /// `compatible` (default), `earlier`, `later`, `reject`.
    pub disambiguation: Option<String>,
    /// ISO 8601 days, e.g. `P15D`.
    pub within: Option<String>,
    /// Business days.
    pub within_business_days: Option<u32>,
    /// The customer asked for this time, so it may fall outside their contact window.
    pub customer_requested: bool,
}

/// What the planner needs to know about the customer.
#[derive(Clone)]
pub struct CustomerTime<'a> {
    /// The customer's zone.
    pub zone: Tz,
    /// When contact is welcome.
    pub window: &'a WeeklyWindow,
    /// Hard block on calls.
    pub do_not_call: bool,
    /// Holiday calendar, when the region is known.
    pub holidays: Option<&'static HolidayCalendar>,
}

/// An absence of the owner, as the planner sees it.
#[derive(Clone, Debug)]
pub struct AwayPeriod {
    /// From.
    pub starts_at: DateTime<Utc>,
    /// Until (exclusive).
    pub ends_at: DateTime<Utc>,
    /// The stand-in's name, when one is recorded.
    pub stand_in: Option<String>,
}

/// What the planner needs to know about the owner.
#[derive(Clone, Debug)]
pub struct OwnerTime<'a> {
    /// The owner's zone.
    pub zone: Tz,
    /// The owner's weekly shift.
    pub shift: &'a WeeklyWindow,
    /// The owner's absences that are not over.
    pub away: &'a [AwayPeriod],
}

/// A non-blocking remark returned with a write.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Warning {
    /// Stable code, e.g. `dst_gap_shifted`, `owner_off_shift`.
    pub code: String,
    /// A sentence for the agent.
    pub message: String,
}

impl Warning {
    fn new(code: &str, message: String) -> Self {
        Self { code: code.into(), message }
    }
}

/// A resolved due time.
#[derive(Clone, Debug)]
pub struct DuePlan {
    /// The UTC instant.
    pub due_at: DateTime<Utc>,
    /// The wall-clock time in `zone` (after any DST adjustment).
    pub due_local: NaiveDateTime,
    /// The zone.
    pub zone: Tz,
    /// The UTC offset at due, seconds.
    pub offset_seconds: i32,
    /// The disambiguation used.
    pub disambiguation: Disambiguation,
    /// Remarks for the agent.
    pub warnings: Vec<Warning>,
    /// The time lies outside the contact window and the customer asked for it.
    pub outside_window_by_request: bool,
    /// The customer is marked do-not-call and asked to be contacted all the same.
    pub do_not_call_by_request: bool,
}

/// Why a due time was refused: the field, a code, a message, and when useful the nearest allowed slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueRefusal {
    /// The request field at fault.
    pub field: &'static str,
    /// Stable code.
    pub code: String,
    /// A sentence naming the problem.
    pub message: String,
    /// Allowed instants around the refused one, for the error body.
    pub nearest: Option<NearestSlots>,
}

impl DueRefusal {
    fn new(field: &'static str, code: &str, message: String) -> Self {
        Self { field, code: code.into(), message, nearest: None }
    }

    fn from_time(field: &'static str, error: TimeError) -> Self {
        Self::new(field, error.code(), error.to_string())
    }
}

/// Renders an instant as the customer's wall clock with zone, e.g. `2026-03-17 11:00 Europe/Madrid`.
pub fn describe_local(at: DateTime<Utc>, zone: Tz) -> String {
    format!("{} {}", at.with_timezone(&zone).format("%Y-%m-%d %H:%M"), zone.name())
}

/// Resolves and checks a due time. `now` is the request's instant.
pub fn plan_due(
    input: &DueInput,
    kind: PromiseKind,
    customer: &CustomerTime<'_>,
    owner: &OwnerTime<'_>,
    now: DateTime<Utc>,
) -> Result<DuePlan, DueRefusal> {
    let zone = match &input.time_zone {
        Some(name) => parse_zone(name).map_err(|e| DueRefusal::from_time("time_zone", e))?,
        None => customer.zone,
    };
    let disambiguation = match &input.disambiguation {
        Some(text) => text.parse::<Disambiguation>().map_err(|e| DueRefusal::from_time("disambiguation", e))?,
        None => Disambiguation::Compatible,
    };
    let given = [input.due_local.is_some(), input.within.is_some(), input.within_business_days.is_some()];
    match given.iter().filter(|g| **g).count() {
        0 => {
            return Err(DueRefusal::new(
                "due_local",
                "missing_due",
                "give the due time as due_local, within or within_business_days".into(),
            ))
        }
        1 => {}
        _ => {
            return Err(DueRefusal::new(
                "due_local",
                "conflicting_due",
                "give only one of due_local, within and within_business_days".into(),
            ))
        }
    }

    let mut warnings = Vec::new();
    let (due_at, due_local) = if let Some(text) = &input.due_local {
        let local = parse_local(text).map_err(|e| DueRefusal::from_time("due_local", e))?;
        let resolved = resolve_local(local, zone, disambiguation).map_err(|e| DueRefusal::from_time("due_local", e))?;
        if let Some(adjustment) = resolved.adjustment {
            warnings.push(Warning::new(adjustment.code(), adjustment.message(local, zone)));
        }
        (resolved.instant, resolved.local)
    } else {
        if kind != PromiseKind::Deadline {
            let field = if input.within.is_some() { "within" } else { "within_business_days" };
            return Err(DueRefusal::new(
                field,
                "relative_due_needs_deadline",
                format!("{field} makes a deadline; a {kind} needs an exact due_local"),
            ));
        }
        let at = if let Some(spec) = &input.within {
            within_days_iso(now, zone, spec, customer.window).map_err(|e| DueRefusal::from_time("within", e))?
        } else {
            let days = input.within_business_days.unwrap_or_default();
            within_business_days(now, zone, days, customer.window, customer.holidays)
                .map_err(|e| DueRefusal::from_time("within_business_days", e))?
        };
        (at, at.with_timezone(&zone).naive_local())
    };

    if due_at <= now {
        let mut refusal = DueRefusal::new(
            if input.due_local.is_some() { "due_local" } else { "within" },
            "in_the_past",
            format!("{} is in the past (now it is {})", describe_local(due_at, zone), describe_local(now, zone)),
        );
        refusal.nearest = Some(NearestSlots { before: None, after: customer.window.next_open(now, customer.zone) });
        return Err(refusal);
    }

    let mut outside_window_by_request = false;
    let mut do_not_call_by_request = false;
    if kind.contacts_customer() {
        // DESIGN.md section 4: do-not-call is a hard block on calls the company starts; a customer who asks to
        // be called back lifts it for this promise, and the ledger records that they asked.
        if customer.do_not_call {
            if !input.customer_requested {
                return Err(DueRefusal::new(
                    "customer_id",
                    "do_not_call",
                    "the customer is marked do-not-call; a callback or update needs customer_requested: true \
                     (the customer asked to be contacted)"
                        .into(),
                ));
            }
            do_not_call_by_request = true;
            warnings.push(Warning::new(
                "do_not_call_overridden",
                "the customer is marked do-not-call; scheduled because the customer asked to be contacted".into(),
            ));
        }
        if !customer.window.contains(due_at, customer.zone) {
            if input.customer_requested {
                outside_window_by_request = true;
                warnings.push(Warning::new(
                    "outside_contact_window_requested",
                    format!(
                        "{} is outside the customer's contact window ({}); kept because the customer asked for it",
                        describe_local(due_at, customer.zone),
                        customer.window.to_text()
                    ),
                ));
            } else {
                let nearest = customer.window.nearest_slots(due_at, customer.zone);
                let mut refusal = DueRefusal::new(
                    "due_local",
                    "outside_contact_window",
                    format!(
                        "{} is outside the customer's contact window ({}){}; set customer_requested to true if the \
                         customer asked for this time",
                        describe_local(due_at, customer.zone),
                        customer.window.to_text(),
                        slots_sentence(&nearest, customer.zone)
                    ),
                );
                refusal.nearest = Some(nearest);
                return Err(refusal);
            }
        }
    }

    if let Some(away) = owner.away.iter().find(|a| a.starts_at <= due_at && due_at < a.ends_at) {
        let stand_in = match &away.stand_in {
            Some(name) => format!("; {name} stands in and will be prompted"),
            None => "; no stand-in is recorded, so the team's managers will be prompted".into(),
        };
        warnings.push(Warning::new(
            "owner_absent",
            format!("the owner is away until {}{stand_in}", describe_local(away.ends_at, owner.zone)),
        ));
    } else if kind.contacts_customer() && !owner.shift.contains(due_at, owner.zone) {
        let nearest = owner.shift.nearest_slots(due_at, owner.zone);
        warnings.push(Warning::new(
            "owner_off_shift",
            format!(
                "the owner is off shift at {} ({}){}",
                describe_local(due_at, owner.zone),
                owner.shift.to_text(),
                slots_sentence(&nearest, owner.zone)
            ),
        ));
    }

    Ok(DuePlan {
        due_at,
        due_local,
        zone,
        offset_seconds: super::time::local_offset_at(due_at, zone),
        disambiguation,
        warnings,
        outside_window_by_request,
        do_not_call_by_request,
    })
}

fn slots_sentence(nearest: &NearestSlots, zone: Tz) -> String {
    match (nearest.before, nearest.after) {
        (Some(b), Some(a)) => format!("; nearest allowed: {} or {}", describe_local(b, zone), describe_local(a, zone)),
        (None, Some(a)) => format!("; next allowed: {}", describe_local(a, zone)),
        (Some(b), None) => format!("; last allowed: {}", describe_local(b, zone)),
        (None, None) => String::new(),
    }
}

/// The `due_local_offset` rendering of a plan, e.g. `+01:00`.
pub fn offset_text(plan: &DuePlan) -> String {
    format_offset(plan.offset_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn madrid() -> Tz {
        parse_zone("Europe/Madrid").unwrap()
    }

    fn plan(input: DueInput, kind: PromiseKind, now: DateTime<Utc>) -> Result<DuePlan, DueRefusal> {
        let window = WeeklyWindow::parse("mon-sat 09:00-21:00").unwrap();
        let shift = WeeklyWindow::parse("mon-fri 09:00-17:00").unwrap();
        let customer = CustomerTime { zone: madrid(), window: &window, do_not_call: false, holidays: None };
        let owner = OwnerTime { zone: madrid(), shift: &shift, away: &[] };
        plan_due(&input, kind, &customer, &owner, now)
    }

    fn local(text: &str) -> DueInput {
        DueInput { due_local: Some(text.into()), ..Default::default() }
    }

    #[test]
    fn callback_at_eleven_in_zaragoza_is_ten_utc_in_winter() {
        let now = Utc.with_ymd_and_hms(2026, 3, 16, 9, 0, 0).unwrap();
        let plan = plan(local("2026-03-17T11:00"), PromiseKind::Callback, now).unwrap();
        assert_eq!(plan.due_at, Utc.with_ymd_and_hms(2026, 3, 17, 10, 0, 0).unwrap());
        assert_eq!(plan.offset_seconds, 3600);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }

    #[test]
    fn sunday_callback_is_refused_with_the_nearest_slots() {
        let now = Utc.with_ymd_and_hms(2026, 3, 16, 9, 0, 0).unwrap();
        let refusal = plan(local("2026-03-22T11:00"), PromiseKind::Callback, now).unwrap_err();
        assert_eq!(refusal.code, "outside_contact_window");
        let nearest = refusal.nearest.unwrap();
        assert_eq!(nearest.after, Some(Utc.with_ymd_and_hms(2026, 3, 23, 8, 0, 0).unwrap()));
        assert!(nearest.before.is_some());
    }

    #[test]
    fn customer_requested_sunday_is_kept_with_a_warning_and_owner_off_shift() {
        let now = Utc.with_ymd_and_hms(2026, 3, 16, 9, 0, 0).unwrap();
        let input = DueInput { customer_requested: true, ..local("2026-03-22T11:00") };
        let plan = plan(input, PromiseKind::Callback, now).unwrap();
        assert!(plan.outside_window_by_request);
        let codes: Vec<_> = plan.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(codes, ["outside_contact_window_requested", "owner_off_shift"]);
    }

    #[test]
    fn past_and_missing_and_conflicting_due_times_are_refused() {
        let now = Utc.with_ymd_and_hms(2026, 3, 18, 9, 0, 0).unwrap();
        assert_eq!(plan(local("2026-03-17T11:00"), PromiseKind::Callback, now).unwrap_err().code, "in_the_past");
        assert_eq!(plan(DueInput::default(), PromiseKind::Callback, now).unwrap_err().code, "missing_due");
        let both = DueInput { within: Some("P15D".into()), ..local("2026-03-19T11:00") };
        assert_eq!(plan(both, PromiseKind::Deadline, now).unwrap_err().code, "conflicting_due");
    }

    #[test]
    fn within_is_only_for_deadlines() {
        let now = Utc.with_ymd_and_hms(2026, 3, 18, 9, 0, 0).unwrap();
        let input = DueInput { within: Some("P15D".into()), ..Default::default() };
        assert_eq!(plan(input.clone(), PromiseKind::Callback, now).unwrap_err().code, "relative_due_needs_deadline");
        let deadline = plan(input, PromiseKind::Deadline, now).unwrap();
        assert_eq!(deadline.due_local.date(), chrono::NaiveDate::from_ymd_opt(2026, 4, 2).unwrap());
    }

    #[test]
    fn spring_forward_half_past_two_moves_to_half_past_three_with_a_warning() {
        let now = Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap();
        let input = DueInput { customer_requested: true, ..local("2026-03-29T02:30") };
        let shifted = plan(input, PromiseKind::Callback, now).unwrap();
        assert_eq!(shifted.due_at, Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap());
        assert_eq!(shifted.warnings[0].code, "dst_gap_shifted");
        let reject =
            DueInput { disambiguation: Some("reject".into()), customer_requested: true, ..local("2026-03-29T02:30") };
        assert_eq!(plan(reject, PromiseKind::Callback, now).unwrap_err().field, "due_local");
    }
}

//! The five seed stories as demo data: the customers, their interactions and the promises made to them,
//! with times relative to now.

use super::*;

pub(super) fn seed_stories(
    s: &mut Seeder<'_, '_>,
    marta: &Agent,
    jorge: &Agent,
    ayoze: &Agent,
) -> Result<(), AppError> {
    let h = Duration::hours;
    let d = Duration::days;
    let m = Duration::minutes;

    // 003: the salesman who asks "when shall I call you back?" and calls at exactly that time, twice.
    let victor = s.customer(
        "Víctor Lanuza",
        "Europe/Madrid",
        "es-ES",
        "+34 976 555 014",
        jorge,
        &["Does not want TV: do not offer the TV pack", "Works mornings; prefers calls at 11:00"],
        "Asked about fibre for his flat in Zaragoza. Honest advice: the basic fibre plan is enough.",
        Some("ES"),
        "phone",
    )?;
    let first = s.interaction(
        &victor,
        Some(jorge),
        "phone",
        "inbound",
        "reached",
        "Asked about fibre. Agreed to call back tomorrow at 11:00 with the offer.",
        d(1) + h(2),
        None,
    )?;
    let earlier_due = s.now - d(1) + h(1);
    let kept_once = s.promise(
        &victor,
        jorge,
        "callback",
        "Te llamo mañana a las 11:00 con la oferta de fibra",
        earlier_due,
        d(1) + h(2),
        None,
        Some(&first),
    )?;
    let attempt = s.interaction(
        &victor,
        Some(jorge),
        "phone",
        "outbound",
        "no_answer",
        "Called at the agreed time; Víctor was out. Will try again at the new time he asked for by SMS.",
        d(1) - h(1),
        Some(&kept_once.id),
    )?;
    s.kept(kept_once, &attempt, jorge)?;
    let due = s.slot(&victor, 0, 13, 0);
    s.promise(
        &victor,
        jorge,
        "callback",
        "Te vuelvo a llamar hoy a las 13:00",
        due,
        d(1) - h(1),
        None,
        Some(&attempt),
    )?;

    // 001: a business loses its work number while porting; short callbacks and a daily update.
    let talleres = s.customer(
        "Rosa Aznar (Talleres Cuarte S.L.)",
        "Europe/Madrid",
        "es-ES",
        "+34 976 555 201",
        marta,
        &["Two lines; the second depends on the first", "The work number is how customers order: every hour counts"],
        "Porting to us; the work number has been down since the porting window opened.",
        Some("ES"),
        "phone",
    )?;
    s.interaction(
        &talleres,
        None,
        "social",
        "inbound",
        "other",
        "Public message: our work number has been dead for two days after porting.",
        h(30),
        None,
    )?;
    let call = s.interaction(
        &talleres,
        Some(marta),
        "phone",
        "outbound",
        "reached",
        "Explained the porting status; promised to call back in 20 minutes after checking with provisioning.",
        h(26),
        None,
    )?;
    let twenty = s.promise(
        &talleres,
        marta,
        "callback",
        "Te llamo en 20 minutos con lo que me digan en provisión",
        s.now - h(26) + m(20),
        h(26),
        None,
        Some(&call),
    )?;
    let back = s.interaction(
        &talleres,
        Some(marta),
        "phone",
        "outbound",
        "reached",
        "Called back as promised: provisioning needs 24 h more. Same agent, whole story known.",
        h(26) - m(20),
        Some(&twenty.id),
    )?;
    s.kept(twenty, &back, marta)?;
    s.interaction(
        &talleres,
        None,
        "email",
        "inbound",
        "other",
        "Email from Rosa: another reply said the porting was complete; it is not.",
        h(20),
        None,
    )?;
    // A promise from this morning that nobody has attempted yet: the agenda shows it first, as overdue.
    let overdue = s.interaction(
        &talleres,
        Some(marta),
        "phone",
        "inbound",
        "reached",
        "Rosa asked for a call to confirm the second line once the first works.",
        h(5),
        None,
    )?;
    s.promise(
        &talleres,
        marta,
        "callback",
        "Te llamo en dos horas para confirmar la segunda línea",
        s.now - h(3),
        h(5),
        None,
        Some(&overdue),
    )?;
    let due = s.slot(&talleres, 1, 10, 0);
    s.promise(
        &talleres,
        marta,
        "update",
        "Te informo cada mañana a las 10:00 hasta que funcione el número",
        due,
        h(26) - m(20),
        Some("0 10 * * mon-sat"),
        Some(&back),
    )?;

    // 004: three wrong bills, a debt registry, and the "corrected within 15 days" promise kept on day 14.
    let pilar = s.customer(
        "Pilar Ortega",
        "Europe/Madrid",
        "es-ES",
        "+34 976 555 478",
        marta,
        &["Three wrong bills of 250 EUR", "Wrongly reported to a debt registry: handle with care"],
        "Every call to the general line got a new operator; she had to retell the story each time.",
        Some("ES"),
        "social",
    )?;
    s.interaction(&pilar, None, "social", "inbound", "other", "Tweeted about the third wrong bill.", d(3), None)?;
    let call = s.interaction(
        &pilar,
        Some(marta),
        "phone",
        "outbound",
        "reached",
        "Called within half an hour of the tweet. Promised the bill corrected within 15 days.",
        d(3) - m(30),
        None,
    )?;
    // "Within 15 days" of the call three days ago: the close of the contact window on day 15.
    let pilar_zone = parse_zone(&pilar.time_zone).unwrap_or(chrono_tz::UTC);
    let due = within_days(s.now - d(3) + m(30), pilar_zone, 15, &window_of(&pilar)).unwrap_or(s.now + d(12));
    s.promise(
        &pilar,
        marta,
        "deadline",
        "Tu factura estará corregida en 15 días",
        due,
        d(3) - m(30),
        None,
        Some(&call),
    )?;

    // The Canaries: one hour behind Madrid.
    let carmen = s.customer(
        "Carmen Déniz",
        "Atlantic/Canary",
        "es-ES",
        "+34 928 555 310",
        ayoze,
        &["Lives in Las Palmas: one hour behind the peninsula"],
        "Router replacement pending.",
        Some("ES-CN"),
        "phone",
    )?;
    let call = s.interaction(
        &carmen,
        Some(ayoze),
        "phone",
        "inbound",
        "reached",
        "Router keeps rebooting; a technician visit is being arranged.",
        h(5),
        None,
    )?;
    let due = s.slot(&carmen, 1, 9, 30);
    s.promise(
        &carmen,
        ayoze,
        "callback",
        "Te llamo mañana a las 9:30, hora canaria, con la cita del técnico",
        due,
        h(5),
        None,
        Some(&call),
    )?;

    // 002: a customer in the USA won over on social media within minutes.
    let dana = s.customer(
        "Dana Whitfield",
        "America/New_York",
        "en-US",
        "+1 212 555 0142",
        jorge,
        &["Reached us on social media", "Travels to Spain often: roaming matters"],
        "Comparing carriers before a move.",
        Some("US"),
        "social",
    )?;
    let call = s.interaction(
        &dana,
        Some(jorge),
        "social",
        "inbound",
        "reached",
        "Asked about roaming plans; answered within minutes.",
        h(3),
        None,
    )?;
    let due = s.slot(&dana, 1, 10, 0);
    s.promise(
        &dana,
        jorge,
        "callback",
        "I'll call you tomorrow at 10:00 your time with the roaming options",
        due,
        h(3),
        None,
        Some(&call),
    )?;
    Ok(())
}

pub(super) fn window_of(customer: &Customer) -> WeeklyWindow {
    WeeklyWindow::parse(&customer.contact_window).unwrap_or_else(|_| WeeklyWindow::always())
}
